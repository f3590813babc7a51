//! `ganglion perception train` / `perception eval`: learn the camera
//! perception model from random rendered views, and score it on views it
//! never saw.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use ganglion::perception::card::PerceptionCard;
use ganglion::perception::eval::evaluate;
use ganglion::perception::train::{TrainOptions, train};
use ganglion::skills::PerceptionMode;

#[derive(Args, Debug)]
pub struct PerceptionArgs {
    #[command(subcommand)]
    pub command: PerceptionCommand,
}

#[derive(Subcommand, Debug)]
pub enum PerceptionCommand {
    /// Train the perception network on random tabletop views (domain
    /// randomization on), export it to ONNX and write its model card with a
    /// held-out evaluation.
    Train(TrainArgs),
    /// Score a perception model on random views it never trained on, with
    /// the randomization on: position error, colour and relation accuracy.
    Eval(EvalArgs),
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Adam steps.
    #[arg(long, default_value_t = 2000)]
    pub steps: usize,
    /// Views per step.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads (the model depends on it only through summation order).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Held-out views scored for the card.
    #[arg(long, default_value_t = 200)]
    pub eval_scenes: usize,
    /// The ONNX file to write (default: models/perception.onnx of the
    /// repository); its card and loss curve go beside it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The model (default: models/perception.onnx of the repository).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Random views to score.
    #[arg(long, default_value_t = 500)]
    pub scenes: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also score with the nominal camera pose in place of the calibrated
    /// one (what an uncalibrated mount costs).
    #[arg(long)]
    pub uncalibrated: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: PerceptionArgs) -> Result<()> {
    match a.command {
        PerceptionCommand::Train(t) => run_train(t),
        PerceptionCommand::Eval(e) => run_eval(e),
    }
}

fn run_train(a: TrainArgs) -> Result<()> {
    let opts = TrainOptions {
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        seed: a.seed,
        threads: a.threads,
    };
    opts.check()?;
    let bar = super::progress_bar(a.steps as u64, "steps", false);
    let (net, params, curve) = train(&opts, |step, class, vote| {
        bar.set_position(step as u64 + 1);
        bar.set_message(format!("class {class:.4}  vote {vote:.3}"));
    })?;
    bar.finish();
    let out = a
        .out
        .unwrap_or_else(|| super::repo_path(ganglion::perception::MODEL));
    let card = PerceptionCard::write(&net, &params, &opts, &curve, &out, &super::command_line())?;
    println!("wrote {} ({} parameters)", out.display(), net.num_params());
    if a.eval_scenes > 0 {
        let bar = super::progress_bar(a.eval_scenes as u64, "views", false);
        let r = evaluate(&out, a.eval_scenes, card.eval_seed, false, |k| {
            bar.set_position(k as u64 + 1)
        })?;
        bar.finish();
        PerceptionCard::record_eval(&out, &r)?;
        print_report(&r);
    }
    Ok(())
}

fn run_eval(a: EvalArgs) -> Result<()> {
    let model = a
        .model
        .unwrap_or_else(|| super::repo_path(ganglion::perception::MODEL));
    let bar = super::progress_bar(a.scenes as u64, "views", a.json);
    let r = evaluate(&model, a.scenes, a.seed, a.uncalibrated, |k| {
        bar.set_position(k as u64 + 1)
    })?;
    bar.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_report(&r);
    }
    Ok(())
}

fn print_report(r: &ganglion::perception::eval::EvalReport) {
    println!(
        "perception on {} unseen views (seed {}), {} objects:",
        r.scenes, r.seed, r.objects
    );
    println!(
        "  position error  median {:.1} mm  p95 {:.1} mm  max {:.1} mm  (blocks {:.1} mm, bowls {:.1} mm)",
        r.position_error_median_m * 1e3,
        r.position_error_p95_m * 1e3,
        r.position_error_max_m * 1e3,
        r.block_error_median_m * 1e3,
        r.bowl_error_median_m * 1e3
    );
    println!(
        "  colour {:.4}  relation {:.4}  missed {}  spurious {}  inference {:.2} ms",
        r.color_accuracy, r.relation_accuracy, r.missed, r.spurious, r.inference_ms_median
    );
    if let Some(u) = r.uncalibrated_position_error_median_m {
        println!(
            "  uncalibrated (nominal pose) median error {:.1} mm",
            u * 1e3
        );
    }
}

/// `--perception state|camera` for the commands that run skills.
#[derive(Args, Debug, Clone)]
pub struct SightArgs {
    /// Where object positions come from: `state` (the simulator's exact
    /// state) or `camera` (the overhead camera and the perception model;
    /// nothing downstream reads simulator object positions, success is
    /// still judged on the simulator's true state).
    #[arg(long, default_value = "state")]
    pub perception: String,
    /// The perception model for `--perception camera`.
    #[arg(long)]
    pub perception_model: Option<PathBuf>,
}

impl SightArgs {
    /// The perception model to use, or `None` in state mode.
    pub fn camera_model(&self) -> Result<Option<PathBuf>> {
        Ok(match PerceptionMode::parse(&self.perception)? {
            PerceptionMode::State => None,
            PerceptionMode::Camera => Some(
                self.perception_model
                    .clone()
                    .unwrap_or_else(|| super::repo_path(ganglion::perception::MODEL)),
            ),
        })
    }
}
