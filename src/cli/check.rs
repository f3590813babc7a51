//! `ganglion check`: validates robot config files and prints either a one-line
//! summary or every problem (file:line: field: message) for each.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use ganglion::config::{self, ConfigErrors, PlantConfig, RobotConfig};

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
}

/// One line saying what a valid config runs.
fn summary(file: &Path, cfg: &RobotConfig) -> String {
    let plant = match &cfg.plant {
        PlantConfig::Sim { kind, .. } => kind.as_str(),
        PlantConfig::Link { .. } => "link:udp",
        PlantConfig::Zenoh { .. } => "zenoh",
        PlantConfig::Servo(_) => "servo:dynamixel",
    };
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

fn json_line(file: &Path, result: &Result<RobotConfig, ConfigErrors>) -> serde_json::Value {
    let problems: Vec<serde_json::Value> = match result {
        Ok(_) => Vec::new(),
        Err(errs) => errs
            .problems
            .iter()
            .map(|p| json!({"line": p.line, "field": p.field, "message": p.message}))
            .collect(),
    };
    json!({
        "file": file.display().to_string(),
        "ok": result.is_ok(),
        "problems": problems,
    })
}

pub fn run(args: CheckArgs) -> Result<()> {
    let mut failed = Vec::new();
    for file in &args.files {
        let result = config::load_with_overrides(file, config::Integrity::Verify, &args.set);
        if args.json {
            println!("{}", json_line(file, &result));
        } else {
            match &result {
                Ok(cfg) => println!("{}", summary(file, cfg)),
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
