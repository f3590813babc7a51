//! `ganglion check`: validates robot config files and prints either a one-line
//! summary or every problem (file:line: field: message) for each. For a
//! valid file it also times the policy (`--timing-calls` calls on zero
//! observations) and warns, with the numbers, when its p99 is longer than
//! the control period.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use ganglion::config::{self, ConfigErrors, RobotConfig};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Robot config files (TOML) to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print one JSON object per file ({file, ok, problems}) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Check the files with these fields changed, as `run --set` would
    /// (repeatable; KEY=VALUE, the value TOML, a bare word a string).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Policy calls timed against the period (0: do not load or time the
    /// policy).
    #[arg(long, default_value_t = 50)]
    pub timing_calls: usize,
}

/// The policy's time per call, or why it could not be measured.
fn timing(
    cfg: &RobotConfig,
    calls: usize,
) -> Option<Result<ganglion::bench::worst_case::PolicyTiming>> {
    (calls > 0).then(|| ganglion::bench::worst_case::policy_timing(cfg, calls))
}

/// One line saying what a valid config runs.
fn summary(file: &Path, cfg: &RobotConfig) -> String {
    let plant = ganglion::assemble::plant_kind(&cfg.plant);
    // The policy as the file names it: relative to the config's directory.
    let base = file.parent().unwrap_or(Path::new(""));
    let policy = cfg
        .policy
        .path
        .strip_prefix(base)
        .unwrap_or(&cfg.policy.path);
    format!(
        "{}: ok (robot {}, plant {plant}, {} Hz, policy {})",
        file.display(),
        cfg.robot,
        cfg.rate_hz,
        policy.display()
    )
}

fn json_line(
    file: &Path,
    result: &Result<RobotConfig, ConfigErrors>,
    timed: &Option<Result<ganglion::bench::worst_case::PolicyTiming>>,
) -> serde_json::Value {
    let problems: Vec<serde_json::Value> = match result {
        Ok(_) => Vec::new(),
        Err(errs) => errs
            .problems
            .iter()
            .map(|p| json!({"line": p.line, "field": p.field, "message": p.message}))
            .collect(),
    };
    let timing = match timed {
        None => serde_json::Value::Null,
        Some(Ok(t)) => {
            let mut v = serde_json::to_value(t).unwrap_or_default();
            v["within_budget"] = t.within_budget().into();
            v
        }
        Some(Err(e)) => json!({"error": format!("{e:#}")}),
    };
    json!({
        "file": file.display().to_string(),
        "ok": result.is_ok(),
        "problems": problems,
        "policy_timing": timing,
    })
}

pub fn run(args: CheckArgs) -> Result<()> {
    let mut failed = Vec::new();
    for file in &args.files {
        let result = config::load_with_overrides(file, config::Integrity::Verify, &args.set);
        let timed = result
            .as_ref()
            .ok()
            .and_then(|cfg| timing(cfg, args.timing_calls));
        if args.json {
            println!("{}", json_line(file, &result, &timed));
        } else {
            match &result {
                Ok(cfg) => {
                    println!("{}", summary(file, cfg));
                    match &timed {
                        Some(Ok(t)) => {
                            if let Some(w) = t.warning(cfg.rate_hz) {
                                println!("  {w}");
                            }
                        }
                        Some(Err(e)) => println!("  warning: could not time the policy: {e:#}"),
                        None => {}
                    }
                }
                Err(errs) => println!("{errs}"),
            }
        }
        if let Err(errs) = result {
            failed.push((file, errs.problems.len()));
        }
    }
    match failed.as_slice() {
        [] => Ok(()),
        [(file, n)] => bail!("{n} problem(s) in {}", file.display()),
        many => {
            let n: usize = many.iter().map(|(_, n)| n).sum();
            bail!(
                "{n} problem(s) in {} of {} files",
                many.len(),
                args.files.len()
            )
        }
    }
}
