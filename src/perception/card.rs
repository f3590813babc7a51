//! The perception model's card: how it was made (the command, seed, steps),
//! its sha256, and what its held-out evaluation measured, so
//! `ganglion models verify` can re-measure the claim.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::eval::EvalReport;
use super::net::PerceptionNet;
use super::train::TrainOptions;
use crate::input::FileKind;
pub use crate::policy::card::FormattedCard;

pub const FORMAT: &str = "ganglion-perception-card/1";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PerceptionCard {
    pub format: String,
    pub name: String,
    pub kind: String,
    pub ganglion_version: String,
    pub command: String,
    pub sha256: String,
    pub seed: u64,
    pub steps: usize,
    pub batch: usize,
    pub lr: f32,
    pub threads: usize,
    pub parameters: usize,
    pub camera: String,
    pub width: usize,
    pub height: usize,
    pub input: String,
    pub output: String,
    pub randomization: String,
    pub final_class_loss: f64,
    pub final_vote_loss: f64,
    /// The seed of the held-out views the card's evaluation used.
    pub eval_seed: u64,
    pub eval: Option<CardEval>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CardEval {
    pub scenes: usize,
    pub seed: u64,
    pub position_error_median_m: f64,
    pub position_error_p95_m: f64,
    pub color_accuracy: f64,
    pub relation_accuracy: f64,
}

impl PerceptionCard {
    /// Exports the model to `out`, and writes its card and loss curve
    /// beside it.
    pub fn write(
        net: &PerceptionNet,
        params: &[f32],
        opts: &TrainOptions,
        curve: &[(f64, f64)],
        out: &Path,
        command: &str,
    ) -> Result<PerceptionCard> {
        let cam = super::camera();
        net.export(
            params,
            (cam.height, cam.width),
            &[("ganglion.kind", "perception".into())],
            out,
        )?;
        let (class, vote) = curve.last().copied().unwrap_or((f64::NAN, f64::NAN));
        let card = PerceptionCard {
            format: FORMAT.into(),
            name: out.file_stem().map_or("perception".into(), |s| s.to_string_lossy().into_owned()),
            kind: "perception".into(),
            ganglion_version: env!("CARGO_PKG_VERSION").into(),
            command: command.into(),
            sha256: crate::input::sha256_file(out, FileKind::Model)?,
            seed: opts.seed,
            steps: opts.steps,
            batch: opts.batch,
            lr: opts.lr,
            threads: opts.threads,
            parameters: net.num_params(),
            camera: "overhead".into(),
            width: cam.width,
            height: cam.height,
            input: "image [1, 7, h, w]: r, g, b (centred), chroma r, chroma g, height above the table (dm), depth valid".into(),
            output: "maps [1, 19, h, w]: 13 class logits (nothing, block × 6 colours, bowl × 6 colours), vote offsets x y z (dm), their log-scales".into(),
            randomization: "camera ±1 cm / ±1°, light direction, ambient 0.25–0.5, intensity 0.75–1.15, colour ±8 %, pixel σ 3, depth σ 1 mm".into(),
            final_class_loss: class,
            final_vote_loss: vote,
            eval_seed: 1000 + opts.seed,
            eval: None,
        };
        card.save_for(out)?;
        let csv: String = std::iter::once("step,class_loss,vote_loss\n".to_string())
            .chain(
                curve
                    .iter()
                    .enumerate()
                    .map(|(i, (c, v))| format!("{i},{c},{v}\n")),
            )
            .collect();
        let csv_path = out.with_extension("loss.csv");
        std::fs::write(&csv_path, csv)
            .with_context(|| format!("writing {}", csv_path.display()))?;
        Ok(card)
    }

    /// Records a held-out evaluation on the card beside `model`.
    pub fn record_eval(model: &Path, r: &EvalReport) -> Result<()> {
        let mut card = Self::load_for(model)?;
        card.eval = Some(CardEval {
            scenes: r.scenes,
            seed: r.seed,
            position_error_median_m: r.position_error_median_m,
            position_error_p95_m: r.position_error_p95_m,
            color_accuracy: r.color_accuracy,
            relation_accuracy: r.relation_accuracy,
        });
        card.save_for(model)
    }
}

impl FormattedCard for PerceptionCard {
    const FORMAT: &'static str = FORMAT;
    const WHAT: &'static str = "perception";
    fn format(&self) -> &str {
        &self.format
    }
}
