//! Affordances: for each skill family a small MLP that maps the features of
//! (state, skill) to the logit of P(success), trained with binary
//! cross-entropy on labelled executions (`cases` draws them: random scenes
//! and start relations, feasible and infeasible skills), exported to ONNX and
//! run with tract. `done` needs no model: it always succeeds.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ganglion_sim::{Rng, SceneSpec, TabletopState};

use super::features::{FEATURES, features};
use super::{Family, Skill};
use crate::nn::{Activation, Adam, Mlp};
use crate::policy::{ActionSpec, ModelCard, OnnxPolicy, Policy};

/// Families with a learned model.
pub const LEARNED: [Family; 5] = [
    Family::Pick,
    Family::PlaceIn,
    Family::PlaceOn,
    Family::PlaceAt,
    Family::Home,
];

/// `models/affordance-<family>.onnx`.
pub fn model_path(dir: &Path, family: Family) -> PathBuf {
    dir.join(format!("affordance-{}.onnx", family.name()))
}

/// The affordance models of all families.
pub struct Affordances {
    models: Vec<(Family, OnnxPolicy)>,
    out: [f32; 1],
}

impl Affordances {
    /// Loads `affordance-<family>.onnx` for every learned family from `dir`,
    /// checking each against its card (sha256, obs 11, one output).
    pub fn load(dir: &Path) -> Result<Affordances> {
        let mut models = Vec::new();
        for fam in LEARNED {
            let path = model_path(dir, fam);
            if !path.exists() {
                bail!(
                    "affordance model {} is missing (train it with `ganglion skills train-affordances --out {}`)",
                    path.display(),
                    dir.display()
                );
            }
            let card = ModelCard::load_for(&path)?;
            card.verify_sha256(&path)?;
            if card.obs_dim != FEATURES || card.action != (ActionSpec::Continuous { dim: 1 }) {
                bail!(
                    "{}: the card says obs {} and {:?}; an affordance model takes {FEATURES} features and gives one logit",
                    path.display(),
                    card.obs_dim,
                    card.action
                );
            }
            let model = OnnxPolicy::load(&path, FEATURES, ActionSpec::Continuous { dim: 1 })
                .with_context(|| format!("loading {}", path.display()))?;
            models.push((fam, model));
        }
        Ok(Affordances { models, out: [0.0] })
    }

    /// P(success) of `skill` in `state`.
    pub fn predict(
        &mut self,
        skill: &Skill,
        scene: &SceneSpec,
        state: &TabletopState,
    ) -> Result<f32> {
        let fam = skill.family();
        if fam == Family::Done {
            return Ok(1.0);
        }
        let x = features(skill, scene, state);
        let Some((_, model)) = self.models.iter_mut().find(|(f, _)| *f == fam) else {
            bail!("no affordance model for skill family {}", fam.name());
        };
        model.act(&x, &mut self.out)?;
        Ok(sigmoid(self.out[0]))
    }
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// A labelled execution: the features at the start and whether it succeeded.
#[derive(Clone, Debug)]
pub struct Sample {
    pub family: Family,
    pub x: [f32; FEATURES],
    pub y: f32,
}

/// A random start for an execution of a skill of `family`: a random scene
/// with random start relations (holding, stacks, blocks in bowls), and the
/// skill's parameter drawn from the scene's objects or, one time in six, a
/// colour that is not in the scene.
pub fn random_case(family: Family, seed: u64) -> (SceneSpec, Skill) {
    let mut rng = Rng::new(seed);
    let mut scene = SceneSpec::random(seed);
    let mut pool: Vec<String> = scene.blocks.clone();
    let pick = |rng: &mut Rng, v: &mut Vec<String>| -> Option<String> {
        (!v.is_empty()).then(|| v.remove((rng.next_u64() % v.len() as u64) as usize))
    };
    // Holding is likely for the place skills, possible for the others.
    let p_hold = match family {
        Family::PlaceIn | Family::PlaceOn | Family::PlaceAt => 0.75,
        _ => 0.3,
    };
    if rng.next_f32() < p_hold {
        scene.holding = pick(&mut rng, &mut pool);
    }
    use ganglion_sim::tabletop::Relation;
    if pool.len() >= 2 && rng.next_f32() < 0.4 {
        let (Some(a), Some(b)) = (pick(&mut rng, &mut pool), pick(&mut rng, &mut pool)) else {
            unreachable!("two blocks were in the pool");
        };
        scene.relations.push(Relation::Stacked(a, b.clone()));
        pool.push(b);
    }
    if !scene.bowls.is_empty() && !pool.is_empty() && rng.next_f32() < 0.3 {
        let bowl = scene.bowls[(rng.next_u64() % scene.bowls.len() as u64) as usize].clone();
        // Only a block with nothing on it goes in a bowl.
        if let Some(pos) = pool.iter().position(|b| {
            !scene
                .relations
                .iter()
                .any(|r| matches!(r, Relation::Stacked(_, under) if under == b))
        }) {
            let a = pool.remove(pos);
            scene.relations.push(Relation::In(a, bowl));
        }
    }
    let colors = ganglion_sim::tabletop::scene::COLORS;
    let absent = rng.next_f32() < 1.0 / 6.0;
    let choose = |rng: &mut Rng, present: &[String]| -> String {
        let absent_colors: Vec<&str> = colors
            .iter()
            .copied()
            .filter(|c| !present.iter().any(|p| p == c))
            .collect();
        if (absent || present.is_empty()) && !absent_colors.is_empty() {
            absent_colors[(rng.next_u64() % absent_colors.len() as u64) as usize].to_string()
        } else {
            present[(rng.next_u64() % present.len() as u64) as usize].clone()
        }
    };
    let skill = match family {
        Family::Pick => Skill::Pick(choose(&mut rng, &scene.blocks)),
        Family::PlaceIn => Skill::PlaceIn(choose(&mut rng, &scene.bowls)),
        Family::PlaceOn => Skill::PlaceOn(choose(&mut rng, &scene.blocks)),
        // Anywhere from inside to past the arm's reach: the model learns
        // where setting down works and that an occupied spot fails.
        Family::PlaceAt => {
            let r = rng.uniform(0.18, 0.62);
            let a = rng.uniform(-1.5, 1.5);
            Skill::place_at((r * a.cos()) as f64, (r * a.sin()) as f64)
        }
        Family::Home => Skill::Home,
        Family::Done => Skill::Done,
    };
    debug_assert!(scene.validate().is_ok());
    (scene, skill)
}

/// Training settings of an affordance model.
#[derive(Clone, Debug)]
pub struct FitConfig {
    pub hidden: usize,
    pub steps: usize,
    pub batch: usize,
    pub lr: f32,
    pub seed: u64,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            hidden: 32,
            steps: 4000,
            batch: 128,
            lr: 3e-3,
            seed: 1,
        }
    }
}

/// A trained model: the MLP and its flat parameters.
pub struct Fitted {
    pub mlp: Mlp,
    pub params: Vec<f32>,
    pub final_loss: f32,
}

impl Fitted {
    /// P(success) for each row of `xs`.
    pub fn predict(&self, xs: &[[f32; FEATURES]]) -> Vec<f32> {
        let mut cache = self.mlp.new_cache();
        let flat: Vec<f32> = xs.iter().flatten().copied().collect();
        self.mlp
            .forward(&self.params, &flat, xs.len(), &mut cache)
            .iter()
            .map(|z| sigmoid(*z))
            .collect()
    }
}

/// Fits an MLP to (x, y) by minibatch Adam on binary cross-entropy with
/// logits. The loss's gradient with respect to the logit is `σ(z) − y`.
pub fn fit(samples: &[Sample], cfg: &FitConfig) -> Fitted {
    let mlp = Mlp::new(&[FEATURES, cfg.hidden, cfg.hidden, 1], Activation::Tanh, 0);
    let mut params = vec![0.0f32; mlp.num_params()];
    let mut rng = Rng::new(cfg.seed);
    mlp.init(&mut params, 1.0, &mut rng);
    let mut grads = vec![0.0f32; params.len()];
    let mut adam = Adam::new(params.len());
    let mut cache = mlp.new_cache();
    let b = cfg.batch.min(samples.len()).max(1);
    let mut x = vec![0.0f32; b * FEATURES];
    let mut y = vec![0.0f32; b];
    let mut dz = vec![0.0f32; b];
    let mut final_loss = f32::NAN;
    for step in 0..cfg.steps {
        for r in 0..b {
            let s = &samples[(rng.next_u64() % samples.len() as u64) as usize];
            x[r * FEATURES..(r + 1) * FEATURES].copy_from_slice(&s.x);
            y[r] = s.y;
        }
        let z = mlp.forward(&params, &x, b, &mut cache);
        let mut loss = 0.0;
        for r in 0..b {
            // log(1 + e^z) − y·z, computed stably.
            loss += z[r].max(0.0) - z[r] * y[r] + (-z[r].abs()).exp().ln_1p();
            dz[r] = (sigmoid(z[r]) - y[r]) / b as f32;
        }
        final_loss = loss / b as f32;
        grads.fill(0.0);
        mlp.backward(&params, &dz, b, &mut cache, &mut grads);
        let lr = cfg.lr * (1.0 - step as f32 / cfg.steps as f32).max(0.05);
        adam.update(&mut params, &grads, lr);
    }
    Fitted {
        mlp,
        params,
        final_loss,
    }
}

/// Calibration and separation of predictions `p` against labels `y`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Calibration {
    pub n: usize,
    pub positives: usize,
    pub brier: f64,
    pub auc: f64,
    /// (mean predicted, observed rate, count) per probability decile.
    pub bins: Vec<(f64, f64, usize)>,
}

pub fn calibration(p: &[f32], y: &[f32]) -> Calibration {
    let n = p.len();
    let brier = p
        .iter()
        .zip(y)
        .map(|(p, y)| ((p - y) as f64).powi(2))
        .sum::<f64>()
        / n.max(1) as f64;
    // AUC = P(score of a positive > score of a negative), ties count half.
    let pos: Vec<f32> = p
        .iter()
        .zip(y)
        .filter(|(_, y)| **y > 0.5)
        .map(|(p, _)| *p)
        .collect();
    let neg: Vec<f32> = p
        .iter()
        .zip(y)
        .filter(|(_, y)| **y <= 0.5)
        .map(|(p, _)| *p)
        .collect();
    let mut wins = 0.0f64;
    for a in &pos {
        for b in &neg {
            wins += if a > b {
                1.0
            } else if a == b {
                0.5
            } else {
                0.0
            };
        }
    }
    let auc = if pos.is_empty() || neg.is_empty() {
        f64::NAN
    } else {
        wins / (pos.len() * neg.len()) as f64
    };
    let mut bins = Vec::new();
    for k in 0..10 {
        let (lo, hi) = (k as f32 / 10.0, (k + 1) as f32 / 10.0);
        let members: Vec<(f32, f32)> = p
            .iter()
            .zip(y)
            .filter(|(p, _)| **p >= lo && (**p < hi || (k == 9 && **p <= 1.0)))
            .map(|(p, y)| (*p, *y))
            .collect();
        if !members.is_empty() {
            let m = members.len() as f64;
            let mp = members.iter().map(|(p, _)| *p as f64).sum::<f64>() / m;
            let my = members.iter().map(|(_, y)| *y as f64).sum::<f64>() / m;
            bins.push((mp, my, members.len()));
        }
    }
    Calibration {
        n,
        positives: pos.len(),
        brier,
        auc,
        bins,
    }
}

impl Affordances {
    /// P(success) from precomputed features of a `family` skill.
    pub fn predict_features(&mut self, family: Family, x: &[f32; FEATURES]) -> Result<f32> {
        if family == Family::Done {
            return Ok(1.0);
        }
        let Some((_, model)) = self.models.iter_mut().find(|(f, _)| *f == family) else {
            bail!("no affordance model for skill family {}", family.name());
        };
        model.act(x, &mut self.out)?;
        Ok(sigmoid(self.out[0]))
    }
}

/// Writes the model as ONNX (input `obs`: the features, output `mean`: the
/// success logit) with its card (command, metrics, feature names).
pub fn export(
    fitted: &Fitted,
    family: Family,
    path: &Path,
    command: &str,
    held_out: &Calibration,
    train_n: usize,
) -> Result<()> {
    use crate::nn::onnx::{mlp_model, write_model};
    use crate::policy::card::CARD_FORMAT;
    let meta = [
        ("ganglion.kind", "affordance".to_string()),
        ("ganglion.skill", family.template().to_string()),
    ];
    let model = mlp_model(&fitted.mlp, &fitted.params, "obs", "mean", &meta);
    write_model(&model, path).with_context(|| format!("writing {}", path.display()))?;
    let mut training = toml::Table::new();
    training.insert("skill".into(), family.template().into());
    training.insert("output".into(), "logit of P(success); sigmoid it".into());
    training.insert(
        "features".into(),
        toml::Value::Array(
            super::features::FEATURE_NAMES
                .iter()
                .map(|n| toml::Value::String(n.to_string()))
                .collect(),
        ),
    );
    training.insert("train_executions".into(), (train_n as i64).into());
    training.insert("final_train_bce".into(), (fitted.final_loss as f64).into());
    training.insert("held_out_executions".into(), (held_out.n as i64).into());
    training.insert(
        "held_out_successes".into(),
        (held_out.positives as i64).into(),
    );
    training.insert("held_out_brier".into(), held_out.brier.into());
    training.insert("held_out_roc_auc".into(), held_out.auc.into());
    let card = ModelCard {
        format: CARD_FORMAT.into(),
        name: format!("affordance-{}", family.name()),
        kind: "mlp".into(),
        env: "tabletop".into(),
        algo: "bce".into(),
        seed: 0,
        ganglion_version: env!("CARGO_PKG_VERSION").into(),
        command: command.to_string(),
        sha256: crate::input::sha256_file(path, crate::input::FileKind::Model)?,
        obs_dim: FEATURES,
        action: ActionSpec::Continuous { dim: 1 },
        critic: None,
        training,
        eval: None,
        dt: None,
    };
    card.save_for(path)
}

/// Reliability diagram: observed success rate against predicted probability
/// per decile, one series per family and the overall one.
pub fn reliability_png(
    families: &[(Family, usize, usize, Calibration)],
    overall: &Calibration,
    path: &Path,
) -> Result<()> {
    use plotters::prelude::*;
    crate::plot::png(path, (760, 620), |root| {
        let title = format!(
            "Affordance reliability (held-out {}: AUC {:.3}, Brier {:.3})",
            overall.n, overall.auc, overall.brier
        );
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..1.0f64, 0.0..1.0f64)?;
        chart
            .configure_mesh()
            .x_desc("predicted P(success)")
            .y_desc("observed success rate")
            .label_style(("sans-serif", 14))
            .draw()?;
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4)))?
            .label("perfectly calibrated")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.4)));
        let colors = [RED, BLUE, GREEN, MAGENTA, BLACK];
        let mut series: Vec<(String, &Calibration)> = families
            .iter()
            .map(|(f, _, _, c)| (f.name().to_string(), c))
            .collect();
        series.push(("overall".into(), overall));
        for (k, (name, c)) in series.iter().enumerate() {
            let color = colors[k % colors.len()];
            let pts: Vec<(f64, f64)> = c.bins.iter().map(|(p, y, _)| (*p, *y)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
        }
        crate::plot::legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}
