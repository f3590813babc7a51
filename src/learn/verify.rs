//! Re-measures what shipped model cards claim, so a number on a card is a
//! measurement something re-checks rather than a one-off: every card's sha256
//! against its model; an MLP's or a Decision Transformer's evaluation
//! (`[eval]`, and a DT's `achieved_returns` per target) re-run with the card's
//! episodes and seed; an affordance model's held-out Brier score and ROC AUC
//! on fresh labelled executions. `ganglion models verify` prints the table.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use super::evaluate;
use crate::policy::card::FormattedCard;
use crate::policy::{DtPolicy, ModelCard, OnnxPolicy, Policy};
use crate::sim::{derive_seed, make_env};

/// One claim on one card and what it measures now.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub model: String,
    pub claim: String,
    pub card: f64,
    pub measured: f64,
    /// The largest difference accepted (evaluations are deterministic for
    /// a seed; the slack covers floating-point differences across CPUs).
    pub tolerance: f64,
    pub ok: bool,
    /// What was run to measure it.
    pub how: String,
}

/// How much re-measuring to do.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Skip the re-runs that take minutes (DT targets, affordances).
    pub quick: bool,
    /// Fresh labelled executions per affordance family.
    pub affordance_executions: usize,
    /// Seed of the fresh executions (never the training seed).
    pub seed: u64,
    pub threads: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            quick: false,
            affordance_executions: 200,
            seed: 20_261_202,
            threads: 2,
        }
    }
}

/// Every `*.card.toml` in `dir`, sorted.
pub fn cards_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".card.toml"))
        .map(|p| {
            let name = p.to_string_lossy().replace(".card.toml", ".onnx");
            PathBuf::from(name)
        })
        .collect();
    out.sort();
    Ok(out)
}

fn close(model: &Path, claim: String, card: f64, measured: f64, tol: f64, how: String) -> Check {
    Check {
        model: model.display().to_string(),
        claim,
        card,
        measured,
        tolerance: tol,
        ok: (card - measured).abs() <= tol || (card.is_nan() && measured.is_nan()),
        how,
    }
}

/// Checks every card in `dir`; `progress` hears each model as it starts.
pub fn verify_dir(
    dir: &Path,
    opts: &VerifyOptions,
    mut progress: impl FnMut(&Path),
) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    for model in cards_in(dir)? {
        progress(&model);
        checks.extend(verify_model(&model, opts)?);
    }
    Ok(checks)
}

/// The checks of one model's card.
pub fn verify_model(model: &Path, opts: &VerifyOptions) -> Result<Vec<Check>> {
    if crate::perception::card::PerceptionCard::is_beside(model) {
        return verify_perception(model);
    }
    if crate::vla::card::VlaCard::is_beside(model) {
        return verify_vla(model);
    }
    if let Some(checks) = verify_coder(model)? {
        return Ok(checks);
    }
    let card = ModelCard::load_for(model)?;
    let mut checks = Vec::new();
    let sha_ok = card.verify_sha256(model).is_ok();
    checks.push(Check {
        model: model.display().to_string(),
        claim: "sha256".into(),
        card: 1.0,
        measured: f64::from(u8::from(sha_ok)),
        tolerance: 0.0,
        ok: sha_ok,
        how: "sha256 of the model file".into(),
    });
    if !sha_ok {
        return Ok(checks);
    }
    let is_dt = card.dt.is_some();
    if let Some(eval) = &card.eval
        && (!is_dt || !opts.quick)
    {
        let target = card.dt.as_ref().map(|d| d.default_target);
        let measured = eval_mean(model, &card, target, eval.episodes, eval.seed)?;
        let tol = (0.01 * eval.mean_return.abs()).max(0.5);
        let how = format!(
            "ganglion eval {} --policy {} --episodes {} --seed {}",
            card.env,
            model.display(),
            eval.episodes,
            eval.seed
        );
        checks.push(close(
            model,
            "eval.mean_return".into(),
            eval.mean_return,
            measured,
            tol,
            how,
        ));
    }
    if let (Some(dt), Some(eval), false) = (&card.dt, &card.eval, opts.quick) {
        for (t, want) in dt.target_returns.iter().zip(&dt.achieved_returns) {
            let got = eval_mean(model, &card, Some(*t), eval.episodes, eval.seed)?;
            let how = format!(
                "ganglion eval {} --policy {} --target-returns {t} --episodes {} --seed {}",
                card.env,
                model.display(),
                eval.episodes,
                eval.seed
            );
            let tol = (0.01 * want.abs()).max(0.5);
            checks.push(close(
                model,
                format!("dt.achieved_return(target {t})"),
                *want,
                got,
                tol,
                how,
            ));
        }
    }
    if !opts.quick
        && let Some(family) = affordance_family(model)
    {
        checks.extend(verify_affordance(model, &card, family, opts)?);
    }
    Ok(checks)
}

fn eval_mean(
    model: &Path,
    card: &ModelCard,
    target: Option<f32>,
    episodes: usize,
    seed: u64,
) -> Result<f64> {
    let mut policy: Box<dyn Policy> = match &card.dt {
        Some(_) => Box::new(DtPolicy::load(model, card, target)?),
        None => Box::new(OnnxPolicy::load(model, card.obs_dim, card.action.clone())?),
    };
    let mut env = make_env(&card.env)?;
    let r = evaluate(policy.as_mut(), env.as_mut(), episodes, seed)
        .with_context(|| format!("evaluating {}", model.display()))?;
    Ok(r.mean_return)
}

fn affordance_family(model: &Path) -> Option<crate::skills::Family> {
    let stem = model.file_stem()?.to_string_lossy().into_owned();
    let name = stem.strip_prefix("affordance-")?;
    crate::skills::affordance::LEARNED
        .into_iter()
        .find(|f| f.name() == name)
}

/// Brier score and ROC AUC of an affordance model on fresh executions,
/// against the card's held-out numbers (looser: a new sample of scenes).
fn verify_affordance(
    model: &Path,
    card: &ModelCard,
    family: crate::skills::Family,
    opts: &VerifyOptions,
) -> Result<Vec<Check>> {
    use crate::skills::affordance::{calibration, random_case, sigmoid};
    use crate::skills::report::{parallel, run_case};
    let reach_path = model
        .parent()
        .unwrap_or(Path::new("."))
        .join("arm-reach.onnx");
    let reach = Arc::new(crate::input::read_file(
        &reach_path,
        crate::input::FileKind::Model,
    )?);
    let n = opts.affordance_executions;
    let runs = parallel(n, opts.threads, |i| {
        let s = derive_seed(opts.seed, 100_000 * family as u64 + i as u64);
        let (scene, skill) = random_case(family, s);
        run_case(&reach, &reach_path, &scene, s, &skill)
            .map(|(r, x)| (x, r.outcome.success() as u8 as f32))
    });
    let mut net = OnnxPolicy::load(model, card.obs_dim, card.action.clone())?;
    let (mut p, mut y) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut out = [0.0f32];
    for r in runs {
        let (x, label) = r?;
        net.act(&x, &mut out)
            .map_err(|e| anyhow!("{}: {e}", model.display()))?;
        p.push(sigmoid(out[0]));
        y.push(label);
    }
    let c = calibration(&p, &y);
    let number = |key: &str| card.training.get(key).and_then(|v| v.as_float());
    let how = format!(
        "{n} fresh executions of `{}` skills (seed {})",
        family.name(),
        opts.seed
    );
    let mut checks = Vec::new();
    if let Some(brier) = number("held_out_brier") {
        // A fresh sample of 200 scenes moves the Brier score by about ±0.01.
        let mut ch = close(
            model,
            "held_out_brier".into(),
            brier,
            c.brier,
            0.02,
            how.clone(),
        );
        ch.ok = c.brier <= brier + 0.02;
        checks.push(ch);
    }
    if let Some(auc) = number("held_out_roc_auc")
        && auc.is_finite()
        && c.auc.is_finite()
    {
        let mut ch = close(model, "held_out_roc_auc".into(), auc, c.auc, 0.03, how);
        ch.ok = c.auc >= auc - 0.03;
        checks.push(ch);
    }
    Ok(checks)
}

/// A perception card's claims: its sha256, and its held-out evaluation
/// re-run on the same views (deterministic, so only engine rounding may
/// differ).
/// A VLA card: its file's and its frozen encoder's sha256 (its success
/// rate is re-measured by `ganglion eval tabletop … --record` and the
/// ignored test `the_shipped_vla_succeeds_on_held_out_scenes`: minutes of
/// simulated episodes).
/// The coder's adapters (`X.lora` beside `X.card.toml`, format
/// `ganglion-coder-card/1`): the sha256 of the adapters and of the base
/// model they were trained on. `None` when the card is not a coder card.
fn verify_coder(model: &Path) -> Result<Option<Vec<Check>>> {
    let card_path = model.with_extension("card.toml");
    let Ok(text) = std::fs::read_to_string(&card_path) else {
        return Ok(None);
    };
    let Ok(card) = toml::from_str::<toml::Table>(&text) else {
        return Ok(None);
    };
    if card.get("format").and_then(|v| v.as_str()) != Some("ganglion-coder-card/1") {
        return Ok(None);
    }
    let field = |k: &str| {
        card.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let adapter = model.with_extension("lora");
    let base = crate::repo_path(&field("base_model"));
    let mut files = vec![("sha256", adapter.clone(), field("sha256"))];
    // The base model is fetched (`ganglion models fetch`), not shipped:
    // without it there is nothing to compare.
    if base.exists() {
        files.push(("base_sha256", base, field("base_sha256")));
    }
    Ok(Some(sha_checks(&adapter, &files)))
}

fn verify_vla(model: &Path) -> Result<Vec<Check>> {
    let card = crate::vla::card::VlaCard::load_for(model)?;
    let encoder = crate::repo_path(&card.encoder);
    Ok(sha_checks(
        model,
        &[
            ("sha256", model.to_path_buf(), card.sha256.clone()),
            ("encoder_sha256", encoder, card.encoder_sha256.clone()),
        ],
    ))
}

/// One check per (claim, file, sha256 the card gives): does the file hash
/// to it.
fn sha_checks(model: &Path, files: &[(&str, PathBuf, String)]) -> Vec<Check> {
    files
        .iter()
        .map(|(claim, file, want)| {
            let ok = crate::input::sha256_file(file, crate::input::FileKind::Model)
                .is_ok_and(|got| &got == want);
            Check {
                model: model.display().to_string(),
                claim: (*claim).into(),
                card: 1.0,
                measured: f64::from(u8::from(ok)),
                tolerance: 0.0,
                ok,
                how: format!("sha256 of {}", file.display()),
            }
        })
        .collect()
}

fn verify_perception(model: &Path) -> Result<Vec<Check>> {
    let card = crate::perception::card::PerceptionCard::load_for(model)?;
    let actual = crate::input::sha256_file(model, crate::input::FileKind::Model)?;
    let sha_ok = actual == card.sha256;
    let mut checks = vec![Check {
        model: model.display().to_string(),
        claim: "sha256".into(),
        card: 1.0,
        measured: f64::from(u8::from(sha_ok)),
        tolerance: 0.0,
        ok: sha_ok,
        how: "sha256 of the model file".into(),
    }];
    let Some(e) = card.eval.as_ref().filter(|_| sha_ok) else {
        return Ok(checks);
    };
    let r = crate::perception::eval::evaluate(model, e.scenes, e.seed, false, |_| {})?;
    let how = format!(
        "ganglion perception eval --model {} --scenes {} --seed {}",
        model.display(),
        e.scenes,
        e.seed
    );
    for (claim, want, got, tol) in [
        (
            "eval.position_error_median_m",
            e.position_error_median_m,
            r.position_error_median_m,
            5e-4,
        ),
        (
            "eval.position_error_p95_m",
            e.position_error_p95_m,
            r.position_error_p95_m,
            2e-3,
        ),
        (
            "eval.color_accuracy",
            e.color_accuracy,
            r.color_accuracy,
            0.01,
        ),
        (
            "eval.relation_accuracy",
            e.relation_accuracy,
            r.relation_accuracy,
            0.01,
        ),
    ] {
        checks.push(close(model, claim.into(), want, got, tol, how.clone()));
    }
    Ok(checks)
}
