//! Teaching the coder (`ganglion lang train-coder`): synthetic examples from
//! the `dev` phrasings (`data`), each as a chat turn (instruction in,
//! program out) tokenized with the base model's tokenizer; the frozen
//! layers run once per example; LoRA adapters on the top layers trained
//! with Adam on the programs' tokens only (two threads, one example each
//! at a time); validation loss on examples from another seed. Writes the
//! adapters (raw little-endian f32), their card and the loss curve.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::data::{Example, examples, phrasings};
use super::lora::{Lora, LoraConfig, frozen_hidden, loss_and_grads};
use crate::lang::gguf_tok::GgufTokenizer;
use crate::lang::llama::Llama;
use crate::nn::{Adam, clip_grad_norm};

/// The chat turn that asks for a program.
pub fn prompt(instruction: &str) -> String {
    format!(
        "<|im_start|>user\nWrite a robot program for: {}<|im_end|>\n<|im_start|>assistant\n",
        instruction.trim()
    )
}

/// Where a program ends.
pub const END: &str = "<|im_end|>";

/// Training settings.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CoderTraining {
    pub base: PathBuf,
    pub lora: LoraConfig,
    pub examples: usize,
    pub val_examples: usize,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub seed: u64,
    pub threads: usize,
    pub out: PathBuf,
    /// The command, for the card.
    pub command: String,
}

/// One tokenized example: hidden states entering the first adapted layer
/// and the next-token targets (programs only).
struct Prepared {
    x0: Vec<f32>,
    targets: Vec<Option<u32>>,
    n_targets: usize,
}

/// Tokens of prompt + program + end, and the targets of the program part.
pub fn tokenize(tok: &GgufTokenizer, ex: &Example) -> Result<(Vec<u32>, Vec<Option<u32>>)> {
    let mut ids = Vec::new();
    if tok.add_bos
        && let Some(b) = tok.bos
    {
        ids.push(b);
    }
    ids.extend(tok.encode(&prompt(&ex.instruction))?);
    let start = ids.len();
    ids.extend(tok.encode(&ex.program)?);
    ids.extend(tok.encode(END)?);
    let targets = (0..ids.len())
        .map(|i| (i + 1 >= start && i + 1 < ids.len()).then(|| ids[i + 1]))
        .collect();
    Ok((ids, targets))
}

fn prepare(
    model: &Llama,
    tok: &GgufTokenizer,
    exs: &[Example],
    first: usize,
    threads: usize,
    done: &(dyn Fn(usize) + Sync),
) -> Result<Vec<Prepared>> {
    let tokenized: Vec<(Vec<u32>, Vec<Option<u32>>)> = exs
        .iter()
        .map(|e| tokenize(tok, e))
        .collect::<Result<_>>()?;
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let out = crate::skills::report::parallel(tokenized.len(), threads, |i| {
        let (ids, targets) = &tokenized[i];
        let x0 = frozen_hidden(model, ids, first);
        done(counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
        Prepared {
            x0,
            n_targets: targets.iter().filter(|t| t.is_some()).count(),
            targets: targets.clone(),
        }
    });
    Ok(out)
}

/// What training measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CoderReport {
    pub steps: usize,
    pub train_loss: Vec<(usize, f32)>,
    pub val_loss: Vec<(usize, f32)>,
    pub prepare_s: f64,
    pub train_s: f64,
    pub adapter: PathBuf,
}

/// Mean loss per target token over `set`.
fn mean_loss(model: &Llama, lora: &Lora, set: &[Prepared], threads: usize) -> f32 {
    let losses = crate::skills::report::parallel(set.len(), threads, |i| {
        loss_and_grads(model, lora, &set[i].x0, &set[i].targets, 1.0, None)
    });
    let n: usize = set.iter().map(|p| p.n_targets).sum();
    losses.iter().sum::<f32>() / n.max(1) as f32
}

/// Trains the adapters; `progress(phase, done, total)` reports the
/// preparation ("prepare") and the steps ("train", with the last loss).
pub fn train_coder(
    t: &CoderTraining,
    progress: &(dyn Fn(&str, usize, usize, f32) + Sync),
) -> Result<CoderReport> {
    if t.lora.rank == 0 || t.batch == 0 || t.examples == 0 {
        bail!("train-coder: rank, batch and examples must be at least 1");
    }
    let (model, content) = Llama::load(&t.base)?;
    if t.lora.first_layer >= model.cfg.n_layer {
        bail!(
            "--first-layer {} but the model has {} layers",
            t.lora.first_layer,
            model.cfg.n_layer
        );
    }
    let tok = GgufTokenizer::from_gguf(&content)?;
    let ph = phrasings()?;
    let train_ex = examples(&ph.dev, t.examples, t.seed)?;
    let val_ex = examples(&ph.dev, t.val_examples, t.seed ^ 0x7a1)?;
    let t0 = Instant::now();
    let total = train_ex.len() + val_ex.len();
    let train = prepare(
        &model,
        &tok,
        &train_ex,
        t.lora.first_layer,
        t.threads,
        &|n| progress("prepare", n, total, 0.0),
    )?;
    let val = prepare(&model, &tok, &val_ex, t.lora.first_layer, t.threads, &|n| {
        progress("prepare", train_ex.len() + n, total, 0.0)
    })?;
    let prepare_s = t0.elapsed().as_secs_f64();
    let mut lora = Lora::new(&model.cfg, t.lora, t.seed);
    let mut adam = Adam::new(lora.params.len());
    adam.weight_decay = 0.0;
    let steps_per_epoch = train.len().div_ceil(t.batch);
    let steps = steps_per_epoch * t.epochs;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = ganglion_sim::Rng::new(t.seed ^ 0x5bf);
    let (mut train_loss, mut val_loss) = (Vec::new(), Vec::new());
    val_loss.push((0, mean_loss(&model, &lora, &val, t.threads)));
    let t1 = Instant::now();
    let threads = t.threads.max(1);
    let mut step = 0;
    for _ in 0..t.epochs {
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        for chunk in order.chunks(t.batch) {
            let n_tok: usize = chunk.iter().map(|&i| train[i].n_targets).sum();
            let w = 1.0 / n_tok.max(1) as f32;
            // Each thread sums its share of the batch into its own buffer.
            let parts = crate::skills::report::parallel(threads, threads, |k| {
                let mut g = vec![0f32; lora.params.len()];
                let mut loss = 0.0;
                for &i in chunk.iter().skip(k).step_by(threads) {
                    let p = &train[i];
                    loss += loss_and_grads(&model, &lora, &p.x0, &p.targets, w, Some(&mut g));
                }
                (g, loss)
            });
            let mut grads = vec![0f32; lora.params.len()];
            let mut loss = 0.0;
            for (g, l) in parts {
                grads.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
                loss += l;
            }
            clip_grad_norm(&mut grads, 1.0);
            // Linear warm-up over 5 % of the steps, then linear decay.
            let p = step as f32 / steps.max(1) as f32;
            let lr = t.lr * (p / 0.05).min(1.0) * (1.0 - p).max(0.05);
            adam.update(&mut lora.params, &grads, lr);
            step += 1;
            let per_token = loss * w;
            train_loss.push((step, per_token));
            progress("train", step, steps, per_token);
            if step % (steps / 20).max(1) == 0 || step == steps {
                val_loss.push((step, mean_loss(&model, &lora, &val, t.threads)));
            }
        }
    }
    let train_s = t1.elapsed().as_secs_f64();
    save(&lora, &t.out)?;
    let report = CoderReport {
        steps,
        train_loss,
        val_loss,
        prepare_s,
        train_s,
        adapter: t.out.clone(),
    };
    write_card(t, &report)?;
    let png = t.out.with_extension("loss.png");
    crate::learn::curve::write_losses_png(
        &[
            ("train", &report.train_loss),
            ("validation", &report.val_loss),
        ],
        &png,
        "coder LoRA: loss per program token",
    )?;
    Ok(report)
}

/// Writes the adapters as little-endian f32.
pub fn save(lora: &Lora, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let bytes: Vec<u8> = lora.params.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Reads adapters saved by `save` for a model of shape `model` and `cfg`.
pub fn load(path: &Path, model: &crate::lang::llama::LlamaConfig, cfg: LoraConfig) -> Result<Lora> {
    let bytes = crate::input::read_file(path, crate::input::FileKind::Model)?;
    let mut lora = Lora::zeros(model, cfg);
    if bytes.len() != lora.params.len() * 4 {
        bail!(
            "{}: {} bytes, but rank {} from layer {} needs {}",
            path.display(),
            bytes.len(),
            cfg.rank,
            cfg.first_layer,
            lora.params.len() * 4
        );
    }
    for (p, c) in lora.params.iter_mut().zip(bytes.chunks_exact(4)) {
        *p = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        if !p.is_finite() {
            bail!("{}: a parameter is not finite", path.display());
        }
    }
    Ok(lora)
}

fn write_card(t: &CoderTraining, r: &CoderReport) -> Result<()> {
    use sha2::Digest;
    let adapter = std::fs::read(&t.out)?;
    let sha = format!("{:x}", sha2::Sha256::digest(&adapter));
    let base = crate::input::read_file(&t.base, crate::input::FileKind::Model)?;
    let base_sha = format!("{:x}", sha2::Sha256::digest(&base));
    let card = toml::toml! {
        format = "ganglion-coder-card/1"
        kind = "lora"
        command = (t.command.clone())
        sha256 = sha
        base_model = (t.base.display().to_string())
        base_sha256 = base_sha
        rank = (t.lora.rank as i64)
        alpha = (t.lora.alpha as f64)
        first_layer = (t.lora.first_layer as i64)
        examples = (t.examples as i64)
        epochs = (t.epochs as i64)
        batch = (t.batch as i64)
        lr = (t.lr as f64)
        seed = (t.seed as i64)
        steps = (r.steps as i64)
        prepare_s = (r.prepare_s)
        train_s = (r.train_s)
        final_val_loss = (r.val_loss.last().map_or(f64::NAN, |v| v.1 as f64))
        first_val_loss = (r.val_loss.first().map_or(f64::NAN, |v| v.1 as f64))
    };
    let path = t.out.with_extension("card.toml");
    std::fs::write(&path, toml::to_string(&card)?)
        .with_context(|| format!("writing {}", path.display()))
}
