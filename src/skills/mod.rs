//! The skill registry of the tabletop: `pick up the {block}`, `place it in the
//! {bowl}`, `place it on the {block}`, `place it at (x, y)` (a spot on the
//! table, metres in the table frame), `go to home`, `done`. Each skill has
//! its text, its parameters, an execution (waypoints for the learned reaching
//! policy plus the suction, run through the control loop and safety filter:
//! `executor`), a termination test (succeeded / failed / timed out) and a
//! time limit, and an affordance: a learned P(success | state, skill)
//! (`affordance`).

pub mod affordance;
pub mod affordance_train;
pub mod executor;
pub mod features;
pub mod motion;
pub mod report;
pub mod sight;

use std::fmt;

use ganglion_sim::tabletop::scene::COLORS;
use ganglion_sim::{SceneSpec, TabletopState};

pub use executor::{SkillOutcome, SkillRecording, SkillRun, SkillRunner};
pub use sight::PerceptionMode;

/// A grounded skill: a template with its parameters filled in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Skill {
    /// `pick up the {color} block`
    Pick(String),
    /// `place it in the {color} bowl`
    PlaceIn(String),
    /// `place it on the {color} block`
    PlaceOn(String),
    /// `place it at (x, y)`: the held block set down on the table with its
    /// centre at (x, y), in millimetres (table frame: x away from the robot,
    /// y to its left, origin under the base axis). Millimetres keep the
    /// skill `Eq + Hash` and its text exact.
    PlaceAt { x_mm: i32, y_mm: i32 },
    /// `go to home`
    Home,
    /// `done`
    Done,
}

/// The families of skills (one affordance model each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Pick,
    PlaceIn,
    PlaceOn,
    Home,
    Done,
    // Last, so the older families keep their discriminants (training
    // seeds are derived from them).
    PlaceAt,
}

impl Family {
    pub const ALL: [Family; 6] = [
        Family::Pick,
        Family::PlaceIn,
        Family::PlaceOn,
        Family::PlaceAt,
        Family::Home,
        Family::Done,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::Pick => "pick",
            Family::PlaceIn => "place-in",
            Family::PlaceOn => "place-on",
            Family::PlaceAt => "place-at",
            Family::Home => "home",
            Family::Done => "done",
        }
    }

    /// The skill text with `{}` where the colour (or, for `place-at`, the
    /// point) goes.
    pub fn template(self) -> &'static str {
        match self {
            Family::Pick => "pick up the {} block",
            Family::PlaceIn => "place it in the {} bowl",
            Family::PlaceOn => "place it on the {} block",
            Family::PlaceAt => "place it at {}",
            Family::Home => "go to home",
            Family::Done => "done",
        }
    }

    /// Control ticks (25 Hz) a skill of this family may take.
    pub fn time_limit_ticks(self) -> u64 {
        match self {
            Family::Pick | Family::PlaceIn | Family::PlaceOn | Family::PlaceAt => 300,
            Family::Home => 150,
            Family::Done => 0,
        }
    }
}

/// A skill text that is not in the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownSkill(pub String);

impl fmt::Display for UnknownSkill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a skill; skills are: `pick up the <colour> block`, `place it in the \
             <colour> bowl`, `place it on the <colour> block`, `place it at (x, y)`, \
             `go to home`, `done` (colours: {}; x, y in metres)",
            self.0,
            COLORS.join(", ")
        )
    }
}

impl std::error::Error for UnknownSkill {}

impl Skill {
    pub fn family(&self) -> Family {
        match self {
            Skill::Pick(_) => Family::Pick,
            Skill::PlaceIn(_) => Family::PlaceIn,
            Skill::PlaceOn(_) => Family::PlaceOn,
            Skill::PlaceAt { .. } => Family::PlaceAt,
            Skill::Home => Family::Home,
            Skill::Done => Family::Done,
        }
    }

    /// The colour parameter, if the skill has one.
    pub fn color(&self) -> Option<&str> {
        match self {
            Skill::Pick(c) | Skill::PlaceIn(c) | Skill::PlaceOn(c) => Some(c),
            Skill::PlaceAt { .. } | Skill::Home | Skill::Done => None,
        }
    }

    /// `place it at (x, y)` for a point in metres (rounded to the millimetre).
    pub fn place_at(x: f64, y: f64) -> Skill {
        let mm = |v: f64| (v * 1000.0).round().clamp(i32::MIN as f64, i32::MAX as f64) as i32;
        Skill::PlaceAt {
            x_mm: mm(x),
            y_mm: mm(y),
        }
    }

    /// The target point of a `place it at` skill, in metres.
    pub fn point(&self) -> Option<[f32; 2]> {
        match self {
            Skill::PlaceAt { x_mm, y_mm } => Some([*x_mm as f32 * 1e-3, *y_mm as f32 * 1e-3]),
            _ => None,
        }
    }

    pub fn text(&self) -> String {
        let t = self.family().template();
        if let Skill::PlaceAt { x_mm, y_mm } = self {
            return t.replace("{}", &format!("({}, {})", metres(*x_mm), metres(*y_mm)));
        }
        match self.color() {
            Some(c) => t.replace("{}", c),
            None => t.to_string(),
        }
    }

    /// Parses a skill text (case and surrounding space ignored).
    pub fn parse(text: &str) -> Result<Skill, UnknownSkill> {
        let norm = text.trim().to_lowercase();
        let words: Vec<&str> = norm.split_whitespace().collect();
        let joined = words.join(" ");
        if let Some(rest) = joined.strip_prefix("place it at")
            && let Some(skill) = parse_point(rest)
        {
            return Ok(skill);
        }
        for fam in Family::ALL {
            if fam == Family::PlaceAt {
                continue;
            }
            let t = fam.template();
            match t.split_once("{}") {
                None if joined == t => {
                    return Ok(match fam {
                        Family::Home => Skill::Home,
                        _ => Skill::Done,
                    });
                }
                Some((pre, post)) => {
                    if let Some(rest) = joined.strip_prefix(pre)
                        && let Some(color) = rest.strip_suffix(post)
                        && COLORS.contains(&color)
                    {
                        let c = color.to_string();
                        return Ok(match fam {
                            Family::Pick => Skill::Pick(c),
                            Family::PlaceIn => Skill::PlaceIn(c),
                            _ => Skill::PlaceOn(c),
                        });
                    }
                }
                None => {}
            }
        }
        Err(UnknownSkill(text.trim().to_string()))
    }

    /// Every skill grounded in `scene`: each template filled with each
    /// matching object, then `go to home` and `done`.
    pub fn candidates(scene: &SceneSpec) -> Vec<Skill> {
        let mut out = Vec::new();
        out.extend(scene.blocks.iter().map(|c| Skill::Pick(c.clone())));
        out.extend(scene.bowls.iter().map(|c| Skill::PlaceIn(c.clone())));
        out.extend(scene.blocks.iter().map(|c| Skill::PlaceOn(c.clone())));
        out.push(Skill::Home);
        out.push(Skill::Done);
        out
    }

    /// The skill's effect on the symbolic state, if its preconditions hold
    /// (`None`: it would fail). Used to plan without executing and as the
    /// ground truth of which cases are feasible.
    pub fn apply_symbolic(&self, scene: &SceneSpec, places: &mut Places) -> Option<()> {
        let block = |c: &str| {
            scene
                .blocks
                .iter()
                .any(|b| b == c)
                .then(|| format!("{c} block"))
        };
        let held = places.holding();
        match self {
            Skill::Pick(c) => {
                let name = block(c)?;
                if held.is_some() || places.has_on_top(&name) {
                    return None;
                }
                places.set(&name, "gripper");
            }
            Skill::PlaceIn(c) => {
                scene.bowls.iter().any(|b| b == c).then_some(())?;
                places.set(&held?, &format!("{c} bowl"));
            }
            Skill::PlaceOn(c) => {
                let name = block(c)?;
                let h = held?;
                if h == name || places.has_on_top(&name) {
                    return None;
                }
                places.set(&h, &format!("on {name}"));
            }
            Skill::PlaceAt { .. } => {
                places.set(&held?, "table");
            }
            Skill::Home | Skill::Done => {}
        }
        Some(())
    }
}

/// Millimetres as metres with three decimals, trailing zeros kept to two
/// (`400` → `0.40`, `125` → `0.125`, `-50` → `-0.05`).
fn metres(mm: i32) -> String {
    let s = format!("{:.3}", mm as f64 / 1000.0);
    match s.strip_suffix('0') {
        Some(t) => t.to_string(),
        None => s,
    }
}

/// `(x, y)` in metres after `place it at`.
fn parse_point(rest: &str) -> Option<Skill> {
    let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    let (x, y) = inner.split_once(',')?;
    let (x, y): (f64, f64) = (x.trim().parse().ok()?, y.trim().parse().ok()?);
    (x.is_finite() && y.is_finite() && x.abs() < 10.0 && y.abs() < 10.0)
        .then(|| Skill::place_at(x, y))
}

impl fmt::Display for Skill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// Where every object is, as (object, place) pairs: the `final_state` of
/// the CLI, and the symbolic state planning works on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Places(pub Vec<(String, String)>);

impl Places {
    pub fn of(state: &TabletopState, scene: &SceneSpec) -> Places {
        Places(state.places(scene))
    }

    pub fn get(&self, object: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(o, _)| o == object)
            .map(|(_, p)| p.as_str())
    }

    pub fn set(&mut self, object: &str, place: &str) {
        if let Some(slot) = self.0.iter_mut().find(|(o, _)| o == object) {
            slot.1 = place.to_string();
        }
    }

    /// The held block, if any.
    pub fn holding(&self) -> Option<String> {
        self.0
            .iter()
            .find(|(_, p)| p == "gripper")
            .map(|(o, _)| o.clone())
    }

    /// Whether a block rests on `block`.
    pub fn has_on_top(&self, block: &str) -> bool {
        let on = format!("on {block}");
        self.0.iter().any(|(_, p)| *p == on)
    }

    /// As a JSON object `{object: place}` (scene order).
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (o, p) in &self.0 {
            m.insert(o.clone(), serde_json::Value::String(p.clone()));
        }
        serde_json::Value::Object(m)
    }
}

/// Serialised as `to_json`: `{object: place}`.
impl serde::Serialize for Places {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_round_trip() {
        let scene = SceneSpec::parse("blocks=red,green; bowls=blue").unwrap();
        for s in Skill::candidates(&scene) {
            assert_eq!(Skill::parse(&s.text()).unwrap(), s);
        }
        assert_eq!(
            Skill::parse("  Pick up the  RED block ").unwrap(),
            Skill::Pick("red".into())
        );
        assert!(Skill::parse("pick up the crimson block").is_err());
        let at = Skill::place_at(0.4, -0.125);
        assert_eq!(at.text(), "place it at (0.40, -0.125)");
        assert_eq!(Skill::parse(&at.text()).unwrap(), at);
        assert_eq!(
            Skill::parse("place it at (0.4,0.2)").unwrap(),
            Skill::place_at(0.4, 0.2)
        );
        assert!(Skill::parse("place it at (nan, 0.2)").is_err());
        assert!(Skill::parse("place it at (0.4)").is_err());
        assert!(
            Skill::parse("fly away")
                .unwrap_err()
                .to_string()
                .contains("not a skill")
        );
    }

    #[test]
    fn symbolic_effects_follow_preconditions() {
        let scene = SceneSpec::parse("blocks=red,blue; bowls=green; stacked=red/blue").unwrap();
        let mut p = Places(vec![
            ("red block".into(), "on blue block".into()),
            ("blue block".into(), "table".into()),
            ("green bowl".into(), "table".into()),
        ]);
        let ok = |s: Skill, p: &mut Places| s.apply_symbolic(&scene, p).is_some();
        assert!(!ok(Skill::Pick("blue".into()), &mut p));
        assert!(!ok(Skill::PlaceIn("green".into()), &mut p));
        assert!(ok(Skill::Pick("red".into()), &mut p));
        assert_eq!(p.get("red block"), Some("gripper"));
        assert!(!ok(Skill::Pick("blue".into()), &mut p));
        assert!(ok(Skill::PlaceIn("green".into()), &mut p));
        assert_eq!(p.get("red block"), Some("green bowl"));
        assert!(!ok(Skill::Pick("yellow".into()), &mut p));
    }
}
