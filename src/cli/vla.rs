//! `ganglion vla train`: learn the vision-language-action policy from a
//! demonstration dataset (`ganglion collect tabletop`), export it to ONNX
//! with its card and loss curve.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use ganglion::vla::make::{MakeOptions, make_vla};
use ganglion::vla::train::VlaTrainOptions;

#[derive(Args, Debug)]
pub struct VlaArgs {
    #[command(subcommand)]
    pub command: VlaCommand,
}

#[derive(Subcommand, Debug)]
pub enum VlaCommand {
    /// Behaviour cloning from `collect tabletop` demonstrations (successful
    /// episodes only): encode every frame with the frozen perception
    /// encoder, train the head, export the whole policy as one ONNX file,
    /// and write its model card and loss curve beside it. Score it with
    /// `ganglion eval tabletop --policy FILE`.
    Train(TrainArgs),
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset directories (`collect tabletop --out`), comma-separated or
    /// repeated.
    #[arg(long, required = true, value_delimiter = ',')]
    pub data: Vec<PathBuf>,
    /// The ONNX file to write (default: models/vla.onnx of the repository).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Adam steps.
    #[arg(long, default_value_t = 6000)]
    pub steps: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Actions per predicted chunk (H).
    #[arg(long, default_value_t = 10)]
    pub horizon: usize,
    /// Instruction queries (keypoints) over the image.
    #[arg(long, default_value_t = 8)]
    pub keypoints: usize,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// One episode in this many is held out for the validation loss.
    #[arg(long, default_value_t = 10)]
    pub validation_every: usize,
    /// The frozen image encoder (a perception model).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
}

pub fn run(a: VlaArgs) -> Result<()> {
    match a.command {
        VlaCommand::Train(t) => run_train(t),
    }
}

fn run_train(a: TrainArgs) -> Result<()> {
    let out = a
        .out
        .unwrap_or_else(|| super::repo_path(ganglion::vla::MODEL));
    let train = VlaTrainOptions {
        steps: a.steps.max(1),
        batch: a.batch.max(1),
        lr: a.lr,
        seed: a.seed,
        horizon: a.horizon.max(1),
        keypoints: a.keypoints.max(1),
        threads: a.threads.max(1),
        ..VlaTrainOptions::default()
    };
    let o = MakeOptions {
        data: a.data,
        out: out.clone(),
        encoder: a
            .encoder
            .unwrap_or_else(|| super::repo_path(ganglion::perception::MODEL)),
        lm_dir: ganglion::lang::fetch::default_dir(),
        train,
        validation_every: a.validation_every,
        command: super::command_line(),
    };
    eprintln!("encoding the dataset's frames…");
    let bar = super::progress_bar(o.train.steps as u64, "steps", false);
    let report = make_vla(&o, &mut |phase, done, _total, losses| {
        if phase == "encode" {
            eprintln!("encoded {done} frames");
        } else {
            bar.set_position(done as u64);
            if let Some((t, v)) = losses {
                bar.set_message(format!("L1 train {t:.4}  validation {v:.4}"));
            }
        }
    })?;
    bar.finish();
    let c = &report.card;
    println!(
        "wrote {} ({} parameters, {} trainable): {} episodes, {} ticks, {} frames, {} samples; encode {:.0} s, train {:.0} s; L1 train {:.4}, validation {:.4}",
        out.display(),
        c.parameters,
        c.trainable_parameters,
        c.episodes,
        c.ticks,
        c.frames,
        c.train_samples,
        c.encode_seconds,
        c.train_seconds,
        c.final_train_loss,
        c.final_validation_loss
    );
    Ok(())
}
