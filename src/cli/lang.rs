//! `ganglion lang …`: the code planner's model. `train-coder` teaches the
//! on-device LM to write programs over the robot API (LoRA adapters on
//! SmolLM2, trained on synthetic examples; `lang::coder`).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use ganglion::lang::coder::lora::LoraConfig;
use ganglion::lang::coder::train::{CoderTraining, train_coder};

#[derive(Args, Debug)]
pub struct LangArgs {
    #[command(subcommand)]
    pub command: LangCommand,
}

#[derive(Subcommand, Debug)]
pub enum LangCommand {
    /// Teach the on-device LM to write programs: LoRA adapters on the top
    /// layers, trained on synthetic (instruction, program) examples.
    TrainCoder(TrainCoderArgs),
    /// Score the taught coder on synthetic examples: does its program pass
    /// the check and do what the reference program does (per kind)?
    EvalCoder(EvalCoderArgs),
}

#[derive(Args, Debug)]
pub struct EvalCoderArgs {
    #[arg(long, default_value = "models/coder.lora")]
    pub adapter: PathBuf,
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// `dev` (training phrasings, another seed) or `test` (held-out
    /// phrasings and words).
    #[arg(long, default_value = "test")]
    pub split: String,
    #[arg(long, default_value_t = 55)]
    pub examples: usize,
    #[arg(long, default_value_t = 1_000_003)]
    pub seed: u64,
    /// Print every example.
    #[arg(long)]
    pub verbose: bool,
    /// Decode freely, without the scene's grammar and the sandbox's check
    /// (to measure what the constraint adds).
    #[arg(long)]
    pub no_grammar: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct TrainCoderArgs {
    /// Where the adapters go (their card and loss curve beside them).
    #[arg(long, default_value = "models/coder.lora")]
    pub out: PathBuf,
    /// The base model (GGUF); default: the fetched SmolLM2 in models/lm/.
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Training examples (cycling through the program kinds).
    #[arg(long, default_value_t = 3000)]
    pub examples: usize,
    /// Validation examples (another seed).
    #[arg(long, default_value_t = 110)]
    pub val_examples: usize,
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    #[arg(long, default_value_t = 16.0)]
    pub alpha: f32,
    /// Layers from this one up get adapters (SmolLM2-135M has 30).
    #[arg(long, default_value_t = 22)]
    pub first_layer: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: LangArgs) -> Result<()> {
    match a.command {
        LangCommand::TrainCoder(t) => train(t),
        LangCommand::EvalCoder(e) => eval(e),
    }
}

fn base_model(base: &Option<PathBuf>) -> Result<PathBuf> {
    Ok(match base {
        Some(p) => p.clone(),
        None => {
            let dir = ganglion::lang::fetch::default_dir();
            ganglion::lang::fetch::require(&dir, &[ganglion::lang::fetch::SMOLLM2_GGUF])?;
            dir.join(ganglion::lang::fetch::SMOLLM2_GGUF)
        }
    })
}

fn eval(a: EvalCoderArgs) -> Result<()> {
    use ganglion::lang::coder::{data, eval::evaluate, generate::Coder};
    let coder = Coder::load(
        &base_model(&a.base)?,
        &super::repo_path(&a.adapter.to_string_lossy()),
    )?;
    let ph = data::phrasings()?;
    let split = match a.split.as_str() {
        "dev" => &ph.dev,
        "test" => &ph.test,
        other => anyhow::bail!("--split `{other}`: expected dev or test"),
    };
    let bar = super::progress_bar(a.examples as u64, "examples", a.json || a.verbose);
    let (by_kind, all) = evaluate(
        &coder,
        split,
        a.examples,
        a.seed,
        !a.no_grammar,
        &mut |i, s| {
            bar.set_position(i as u64 + 1);
            if a.verbose {
                println!(
                    "{} [{}] {}\n--- generated ({} tokens, {:.2} s){}\n{}",
                    if s.same_effect { "ok  " } else { "FAIL" },
                    s.kind,
                    s.instruction,
                    s.generated.tokens,
                    s.generated.seconds,
                    s.stop
                        .as_ref()
                        .map_or(String::new(), |x| format!(" stopped: {x}")),
                    s.generated.program
                );
            }
        },
    )?;
    bar.finish_and_clear();
    let mut secs: Vec<f64> = all.iter().map(|s| s.generated.seconds).collect();
    secs.sort_by(f64::total_cmp);
    let q = |f: f64| ganglion::runtime::stats::quantile_sorted(&secs, f);
    if a.json {
        let out = serde_json::json!({
            "split": a.split, "seed": a.seed, "grammar": !a.no_grammar, "by_kind": by_kind,
            "generation_s": {"median": q(0.5), "p95": q(0.95)},
            "examples": all,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{:<14} {:>4} {:>8} {:>8} {:>12}",
        "kind", "n", "exact", "checked", "same effect"
    );
    let mut tot = (0, 0, 0, 0);
    for (k, t) in &by_kind {
        println!(
            "{k:<14} {:>4} {:>8} {:>8} {:>12}",
            t.n, t.exact, t.checked, t.same_effect
        );
        tot = (
            tot.0 + t.n,
            tot.1 + t.exact,
            tot.2 + t.checked,
            tot.3 + t.same_effect,
        );
    }
    println!(
        "{:<14} {:>4} {:>8} {:>8} {:>12}",
        "all", tot.0, tot.1, tot.2, tot.3
    );
    println!(
        "generation: median {:.2} s, p95 {:.2} s per instruction",
        q(0.5),
        q(0.95)
    );
    Ok(())
}

fn train(a: TrainCoderArgs) -> Result<()> {
    let base = base_model(&a.base)?;
    let t = CoderTraining {
        base,
        lora: LoraConfig {
            rank: a.rank,
            alpha: a.alpha,
            first_layer: a.first_layer,
        },
        examples: a.examples,
        val_examples: a.val_examples,
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr,
        seed: a.seed,
        threads: a.threads,
        out: a.out.clone(),
        command: format!(
            "ganglion lang train-coder --out {} --examples {} --epochs {} --batch {} --lr {} --rank {} --alpha {} --first-layer {} --seed {}",
            a.out.display(),
            a.examples,
            a.epochs,
            a.batch,
            a.lr,
            a.rank,
            a.alpha,
            a.first_layer,
            a.seed
        ),
    };
    let prep = super::progress_bar(
        (a.examples + a.val_examples) as u64,
        "examples run through the frozen layers",
        a.json,
    );
    let bar = super::progress_bar(1, "steps", a.json);
    let r = train_coder(&t, &|phase, done, total, loss| {
        if phase == "prepare" {
            prep.set_position(done as u64);
        } else {
            prep.finish_and_clear();
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(format!("loss {loss:.3}"));
        }
    })?;
    bar.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let first = r.val_loss.first().map_or(f32::NAN, |v| v.1);
    let last = r.val_loss.last().map_or(f32::NAN, |v| v.1);
    println!(
        "coder adapters: {} steps in {:.0} s (+{:.0} s through the frozen layers)",
        r.steps, r.train_s, r.prepare_s
    );
    println!("validation loss per program token: {first:.3} -> {last:.3}");
    println!(
        "wrote {} (card and loss curve beside it)",
        r.adapter.display()
    );
    Ok(())
}
