//! From a demonstration dataset to a deployable model: load and encode the
//! data, train the head, export the whole policy as one ONNX file, write
//! its card and loss curve (CSV and PNG) beside it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use super::card::{FORMAT, FormattedCard, VlaCard};
use super::data::{CAMERA, load_dataset};
use super::encoder::{Encoder, load_perception};
use super::export::{VlaParts, export_vla};
use super::train::{VlaTrainOptions, train_head};
use crate::input::FileKind;

/// Where things come from and go.
pub struct MakeOptions {
    /// Dataset directories (`collect tabletop --out`), read in order.
    pub data: Vec<PathBuf>,
    pub out: PathBuf,
    pub encoder: PathBuf,
    pub lm_dir: PathBuf,
    pub train: VlaTrainOptions,
    /// Every this many episodes, one is held out for validation.
    pub validation_every: usize,
    pub command: String,
}

/// What happened, for the CLI to print.
pub struct MakeReport {
    pub card: VlaCard,
}

/// Progress: `("encode", done, total)` then `("train", step, steps)` with
/// the latest losses.
pub type Progress<'a> = dyn FnMut(&str, usize, usize, Option<(f32, f32)>) + 'a;

pub fn make_vla(o: &MakeOptions, progress: &mut Progress<'_>) -> Result<MakeReport> {
    let (net, enc_params) = load_perception(&o.encoder)?;
    let camera = crate::perception::camera();
    let threads = o.train.threads.clamp(1, 8);
    let mut encoders: Vec<Encoder> = (0..threads)
        .map(|_| Encoder::new(net.clone(), enc_params.clone(), camera.clone()))
        .collect();
    let mut lm = crate::lang::minilm::MiniLm::load_default(&o.lm_dir).with_context(|| {
        format!(
            "loading MiniLM from {} (run `ganglion models fetch`)",
            o.lm_dir.display()
        )
    })?;
    let started = Instant::now();
    // Called from the encoder threads with the running frame count.
    let data = load_dataset(
        &o.data,
        &mut encoders,
        &mut |text| lm.embed(text),
        o.validation_every,
        &|done| {
            if done % 2000 == 0 {
                eprintln!("encoded {done} frames");
            }
        },
    )?;
    let encode_seconds = started.elapsed().as_secs_f64();
    progress("encode", data.frames.len(), data.frames.len(), None);
    let started = Instant::now();
    let steps = o.train.steps;
    let trained = train_head(&data, &o.train, &mut |step, train, val| {
        progress("train", step, steps, Some((train, val)))
    })?;
    let train_seconds = started.elapsed().as_secs_f64();
    let parts = VlaParts {
        encoder: &net,
        encoder_params: &enc_params,
        head: &trained.head,
        head_params: &trained.params,
        proprio_mean: &trained.proprio_mean,
        proprio_inv_std: &trained.proprio_inv_std,
        action_scale: &trained.action_scale,
        width: camera.width,
        height: camera.height,
    };
    let cfg = &trained.head.cfg;
    export_vla(
        &parts,
        &[
            ("ganglion.kind", "vla".into()),
            ("vla_horizon", cfg.horizon.to_string()),
            ("vla_action", cfg.action.to_string()),
        ],
        &o.out,
    )?;
    write_curve(&trained.curve, &o.out)?;
    let (train_loss, val_loss) = trained
        .curve
        .last()
        .map_or((f32::NAN, f32::NAN), |c| (c.1, c.2));
    let card = VlaCard {
        format: FORMAT.into(),
        name: o
            .out
            .file_stem()
            .map_or("vla".into(), |s| s.to_string_lossy().into_owned()),
        kind: "vla".into(),
        ganglion_version: env!("CARGO_PKG_VERSION").into(),
        data_command: o
            .data
            .iter()
            .filter_map(|d| dataset_command(d))
            .collect::<Vec<_>>()
            .join(" && "),
        command: o.command.clone(),
        sha256: crate::input::sha256_file(&o.out, FileKind::Model)?,
        encoder: o.encoder.display().to_string(),
        encoder_sha256: crate::input::sha256_file(&o.encoder, FileKind::Model)?,
        camera: CAMERA.into(),
        width: camera.width,
        height: camera.height,
        horizon: cfg.horizon,
        action: cfg.action,
        parameters: net.num_params() + trained.head.num_params(),
        trainable_parameters: trained.head.num_params(),
        episodes: data.episodes.len(),
        ticks: data.ticks,
        frames: data.frames.len(),
        train_samples: data.train.len(),
        seed: o.train.seed,
        steps: o.train.steps,
        batch: o.train.batch,
        lr: o.train.lr,
        threads,
        train_seconds,
        encode_seconds,
        final_train_loss: train_loss,
        final_validation_loss: val_loss,
        eval: None,
    };
    card.save_for(&o.out)?;
    Ok(MakeReport { card })
}

/// The first line of the dataset's index: the command that collected it.
fn dataset_command(dir: &Path) -> Option<String> {
    let text =
        std::fs::read_to_string(dir.join(crate::learn::collect_tabletop::EPISODE_INDEX)).ok()?;
    let v: serde_json::Value = serde_json::from_str(text.lines().next()?).ok()?;
    v["command"].as_str().map(str::to_string)
}

/// `{out}.loss.csv` and `{out}.loss.png` (train and validation L1).
pub fn write_curve(curve: &[(usize, f32, f32)], out: &Path) -> Result<()> {
    let csv: String = std::iter::once("step,train_l1,validation_l1\n".to_string())
        .chain(curve.iter().map(|(s, t, v)| format!("{s},{t},{v}\n")))
        .collect();
    let csv_path = out.with_extension("loss.csv");
    std::fs::write(&csv_path, csv).with_context(|| format!("writing {}", csv_path.display()))?;
    let train: Vec<(usize, f32)> = curve.iter().map(|c| (c.0, c.1)).collect();
    let validation: Vec<(usize, f32)> = curve.iter().map(|c| (c.0, c.2)).collect();
    crate::learn::curve::write_losses_png(
        &[("train", &train), ("validation", &validation)],
        &out.with_extension("loss.png"),
        "VLA behaviour cloning: L1 on normalised actions",
    )
}
