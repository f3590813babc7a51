//! Validation of `[action]` (actuators and how policy actions map onto them)
//! and `[safety]` (limits, rate limits, staleness, safe and e-stop actions),
//! which depend on each other: both are sized by the actuator list, and the
//! discrete table and poses must lie within the safety limits.

use super::reader::{Item, Reporter, Table};
use super::types::*;
use super::validate::{Signature, floats, names, or_default};
use crate::policy::card::{ActionSpec, ModelCard};
use crate::record::tick::MAX_ACT;

const PER_ACTUATOR: &str = "one per actuator";

/// Valid per-actuator limits, for range checks.
struct Limits<'n> {
    actuators: &'n [String],
    min: Vec<f32>,
    max: Vec<f32>,
}

impl Limits<'_> {
    /// Reports each value outside its actuator's `min..=max`; whether all fit.
    fn check(&self, rep: &mut Reporter, values: &[f32], items: &[Item<'_>]) -> bool {
        let mut ok = true;
        for (j, (v, item)) in values.iter().zip(items).enumerate() {
            let (Some(lo), Some(hi), Some(name)) =
                (self.min.get(j), self.max.get(j), self.actuators.get(j))
            else {
                continue;
            };
            if !(lo..=hi).contains(&v) {
                let msg = format!("{v} is outside the safety limits of `{name}` ({lo}..={hi})");
                item.report(rep, msg);
                ok = false;
            }
        }
        ok
    }
}

/// `[action]` and `[safety]`, each `None` when it (or what it depends on)
/// is invalid.
pub(crate) fn action_and_safety(
    rep: &mut Reporter,
    action: Option<&Table<'_>>,
    safety: Option<&Table<'_>>,
    sig: Option<&Signature>,
    card: Option<&ModelCard>,
    base: &std::path::Path,
) -> (Option<ActionConfig>, Option<SafetyConfig>) {
    let actuators = action.and_then(|t| {
        t.check_keys(rep, &["actuators", "discrete", "scale", "offset"]);
        let item = t.require(rep, "actuators")?;
        let known = sig.map(|s| (s.actuators, s.kind.as_str()));
        names(rep, &item, known, "actuator", MAX_ACT)
    });
    let (safety, limits) = match safety {
        Some(t) => safety_section(rep, t, actuators.as_deref(), card, base),
        None => (None, None),
    };
    let mapping = action.and_then(|t| {
        let n_act = actuators.as_ref().map(Vec::len);
        mapping(rep, t, n_act, card, limits.as_ref())
    });
    let action = match (actuators, mapping) {
        (Some(actuators), Some(mapping)) => Some(ActionConfig { actuators, mapping }),
        _ => None,
    };
    (action, safety)
}

fn mapping(
    rep: &mut Reporter,
    t: &Table<'_>,
    n_act: Option<usize>,
    card: Option<&ModelCard>,
    limits: Option<&Limits<'_>>,
) -> Option<ActionMapping> {
    let len = n_act.map(|n| (n, PER_ACTUATOR));
    match (t.get("discrete"), t.get("scale")) {
        (Some(_), Some(scale)) => {
            let msg = "`discrete` and `scale` are both given: give `discrete` for a \
                       discrete policy or `scale` (and optional `offset`) for a continuous one";
            scale.report(rep, msg);
            None
        }
        (None, None) => {
            let want = match card.map(|c| &c.action) {
                Some(ActionSpec::Discrete { n }) => {
                    format!("the model card's action is discrete (n = {n}): give `discrete`")
                }
                Some(ActionSpec::Continuous { dim }) => {
                    format!("the model card's action is continuous (dim {dim}): give `scale`")
                }
                None => "give `discrete` (discrete policy) or `scale` (continuous)".to_string(),
            };
            rep.report(t.field("discrete"), t.span(), format!("missing: {want}"));
            None
        }
        (Some(discrete), None) => {
            if let Some(offset) = t.get("offset") {
                offset.report(
                    rep,
                    "`offset` applies only with `scale` (a continuous policy)",
                );
            }
            if let Some(ActionSpec::Continuous { dim }) = card.map(|c| &c.action) {
                let msg = format!(
                    "the model card's action is continuous (dim {dim}): give `scale` \
                     (and optional `offset`) instead of `discrete`"
                );
                discrete.report(rep, msg);
                return None;
            }
            let rows = discrete.array(rep)?;
            let mut ok = !t.has("offset");
            match card.map(|c| &c.action) {
                Some(ActionSpec::Discrete { n }) if rows.len() != *n => {
                    let msg = format!(
                        "has {} rows, the model card says the policy has n = {n} actions",
                        rows.len()
                    );
                    discrete.report(rep, msg);
                    ok = false;
                }
                _ if rows.is_empty() => {
                    discrete.report(rep, "needs one row per action, found none");
                    ok = false;
                }
                _ => {}
            }
            let mut table = Vec::with_capacity(rows.len());
            for row in &rows {
                match floats(rep, row, len) {
                    Some(f) => {
                        ok &= limits.is_none_or(|l| l.check(rep, &f.values, &f.items));
                        table.push(f.values);
                    }
                    None => ok = false,
                }
            }
            ok.then_some(ActionMapping::Discrete { table })
        }
        (None, Some(scale_item)) => {
            if let Some(ActionSpec::Discrete { n }) = card.map(|c| &c.action) {
                let msg = format!(
                    "the model card's action is discrete (n = {n}): give a `discrete` table \
                     (one row of actuator values per action) instead of `scale`"
                );
                scale_item.report(rep, msg);
                return None;
            }
            let mut ok = true;
            if let (Some(ActionSpec::Continuous { dim }), Some(n)) =
                (card.map(|c| &c.action), n_act)
                && *dim != n
            {
                let msg = format!(
                    "the model card's action has dim {dim} but {n} actuators are listed; \
                     they must match"
                );
                scale_item.report(rep, msg);
                ok = false;
            }
            let scale = floats(rep, &scale_item, len).and_then(|f| {
                let mut nonzero = true;
                for (v, e) in f.values.iter().zip(&f.items) {
                    if *v == 0.0 {
                        e.report(rep, "must not be 0");
                        nonzero = false;
                    }
                }
                nonzero.then_some(f.values)
            });
            let offset = or_default(t.get("offset"), None, |i| {
                floats(rep, i, len).map(|f| Some(f.values))
            });
            let (scale, offset) = (scale?, offset?);
            let offset = offset.unwrap_or_else(|| vec![0.0; scale.len()]);
            ok.then_some(ActionMapping::Continuous { scale, offset })
        }
    }
}

/// One value per actuator, each > 0 (each bad one reported).
fn positive_floats(
    rep: &mut Reporter,
    item: &Item<'_>,
    len: Option<(usize, &str)>,
) -> Option<Vec<f32>> {
    let f = floats(rep, item, len)?;
    let mut ok = true;
    for (v, e) in f.values.iter().zip(&f.items) {
        // Finite already (`floats`), so not > 0 is <= 0.
        if *v <= 0.0 {
            e.report(rep, format!("must be > 0, got {v}"));
            ok = false;
        }
    }
    ok.then_some(f.values)
}

/// `[safety]`, and its limits when those are valid (for range checks).
fn safety_section<'n>(
    rep: &mut Reporter,
    t: &Table<'_>,
    actuators: Option<&'n [String]>,
    card: Option<&ModelCard>,
    base: &std::path::Path,
) -> (Option<SafetyConfig>, Option<Limits<'n>>) {
    const KEYS: &[&str] = &[
        "min",
        "max",
        "max_delta",
        "stale_after_ms",
        "safe_action",
        "estop",
        "poses",
        "max_missed_cycles",
        "max_accel",
        "max_jerk",
        "fallback",
        "joint_limits",
        "workspace",
    ];
    t.check_keys(rep, KEYS);
    let len = actuators.map(|a| (a.len(), PER_ACTUATOR));
    let min = t.require(rep, "min").and_then(|i| floats(rep, &i, len));
    let max = t.require(rep, "max").and_then(|i| floats(rep, &i, len));
    let max_delta = t
        .require(rep, "max_delta")
        .and_then(|i| positive_floats(rep, &i, len));
    // Optional per-actuator positive limits; `Some(empty)` when absent.
    let mut positive = |key: &str| match t.get(key) {
        None => Some(Vec::new()),
        Some(i) => positive_floats(rep, &i, len),
    };
    let max_accel = positive("max_accel");
    let mut max_jerk = positive("max_jerk");
    if max_accel.as_ref().is_some_and(Vec::is_empty)
        && max_jerk.as_ref().is_some_and(|j| !j.is_empty())
        && let Some(i) = t.get("max_jerk")
    {
        i.report(
            rep,
            "needs safety.max_accel (jerk limits act on a limited acceleration)",
        );
        max_jerk = None;
    }
    let fallback = t
        .get("fallback")
        .map(|i| super::policy::fallback(rep, &i, base, card));
    let mut limits = None;
    if let (Some(lo), Some(hi)) = (&min, &max) {
        let mut ok = true;
        let pairs = lo.values.iter().zip(&hi.values).zip(&lo.items);
        for (j, ((a, b), item)) in pairs.enumerate() {
            if a >= b {
                let msg = format!("must be < safety.max[{j}] ({b}), got {a}");
                item.report(rep, msg);
                ok = false;
            }
        }
        if let (true, Some(actuators)) = (ok, actuators) {
            limits = Some(Limits {
                actuators,
                min: lo.values.clone(),
                max: hi.values.clone(),
            });
        }
    }
    let stale_after_s = t.require(rep, "stale_after_ms").and_then(|i| {
        let ms = i.number(rep)?;
        if !(ms > 0.0 && ms.is_finite()) {
            i.report(rep, format!("must be > 0 (milliseconds), got {ms}"));
            return None;
        }
        Some(ms / 1000.0)
    });

    let max_missed_cycles = match t.get("max_missed_cycles") {
        None => Some(super::types::DEFAULT_MAX_MISSED_CYCLES),
        Some(i) => i.integer(rep).and_then(|n| match u32::try_from(n) {
            Ok(n) if n <= 1_000_000 => Some(n),
            _ => {
                i.report(
                    rep,
                    format!("must be 0..=1000000 cycles (0: never), got {n}"),
                );
                None
            }
        }),
    };

    // Poses: every one must be valid, used or not.
    let poses_table = t.section(rep, "poses", false);
    let mut poses: Vec<(String, Option<Vec<f32>>)> = Vec::new();
    let mut poses_ok = !t.has("poses") || poses_table.is_some();
    for (name, item) in poses_table.iter().flat_map(|p| p.entries()) {
        let values = floats(rep, &item, len).filter(|f| {
            limits
                .as_ref()
                .is_none_or(|l| l.check(rep, &f.values, &f.items))
        });
        if name == "hold" || name == "zero" {
            item.report(
                rep,
                format!("`{name}` is a built-in safe action, not a pose name"),
            );
            poses_ok = false;
        }
        poses_ok &= values.is_some();
        poses.push((name.to_string(), values.map(|f| f.values)));
    }
    let mut choice = |key: &str| {
        let item = t.require(rep, key)?;
        safe_action(rep, &item, &poses, limits.as_ref())
    };
    let safe = choice("safe_action");
    let estop = choice("estop");

    let config = match (min, max, max_delta, stale_after_s, safe, estop) {
        (Some(min), Some(max), Some(max_delta), Some(stale_after_s), Some(safe), Some(estop))
            if poses_ok && max_missed_cycles.is_some() =>
        {
            let (Some(max_accel), Some(max_jerk), true) = (
                max_accel,
                max_jerk,
                fallback.as_ref().is_none_or(Option::is_some),
            ) else {
                return (None, limits);
            };
            Some(SafetyConfig {
                min: min.values,
                max: max.values,
                max_delta,
                stale_after_s,
                safe_action: safe,
                estop_action: estop,
                joint_limits: Vec::new(),
                max_missed_cycles: max_missed_cycles.unwrap_or_default(),
                max_accel,
                max_jerk,
                fallback: fallback.flatten(),
                workspace: None,
            })
        }
        _ => None,
    };
    (config, limits)
}

/// `"hold"`, `"zero"` or a pose name.
fn safe_action(
    rep: &mut Reporter,
    item: &Item<'_>,
    poses: &[(String, Option<Vec<f32>>)],
    limits: Option<&Limits<'_>>,
) -> Option<SafeAction> {
    let name = item.str(rep)?;
    match name {
        "hold" => Some(SafeAction::HoldLast),
        "zero" => {
            if let Some(l) = limits {
                let zeros = vec![0.0; l.actuators.len()];
                let items = vec![item.clone(); l.actuators.len()];
                if !l.check(rep, &zeros, &items) {
                    return None;
                }
            }
            Some(SafeAction::Zero)
        }
        _ => match poses.iter().find(|(p, _)| p == name) {
            // An invalid pose was reported where it is defined.
            Some((_, values)) => values.clone().map(|values| SafeAction::Pose {
                name: name.to_string(),
                values,
            }),
            None => {
                let defined: Vec<&str> = poses.iter().map(|(p, _)| p.as_str()).collect();
                let defined = if defined.is_empty() {
                    "none defined".to_string()
                } else {
                    format!("defined: {}", defined.join(", "))
                };
                let msg = format!(
                    "unknown safe action `{name}`: expected \"hold\", \"zero\" or a pose \
                     from [safety.poses] ({defined})"
                );
                item.report(rep, msg);
                None
            }
        },
    }
}
