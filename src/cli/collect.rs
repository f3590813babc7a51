//! `ganglion collect`: datasets are recordings (`learn::collect`); this
//! parses the flags, draws progress and prints what was collected.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::{command_line, progress_bar};
use ganglion::learn::collect::{CollectOptions, collect};

#[derive(Args, Debug)]
pub struct CollectArgs {
    /// Environment name (cartpole, reacher): its robot config is robots/ENV.toml.
    pub env: String,
    /// Behaviour policies (ONNX with cards), comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub policy: Vec<PathBuf>,
    /// Episodes per (policy, noise) pair.
    #[arg(long, default_value_t = 20)]
    pub episodes: usize,
    /// Noise levels, comma-separated: Gaussian σ for continuous actions,
    /// ε-greedy probability for discrete ones.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub noise: Vec<f32>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory (a dataset is a directory of recordings).
    #[arg(long)]
    pub out: PathBuf,
    /// Robot config to run (default robots/ENV.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// Replace earlier recordings of the same episodes in --out.
    #[arg(long)]
    pub overwrite: bool,
}

pub fn run(args: CollectArgs) -> Result<()> {
    let config = args
        .config
        .clone()
        .unwrap_or_else(|| super::repo_path(&format!("robots/{}.toml", args.env)));
    let options = CollectOptions {
        env: args.env.clone(),
        config: super::run::load_config(&config)?,
        policies: args.policy.clone(),
        episodes: args.episodes,
        noise: args.noise.clone(),
        seed: args.seed,
        out: args.out.clone(),
        overwrite: args.overwrite,
        command: command_line(),
    };
    let total = args.policy.len() * args.noise.len() * args.episodes;
    let bar = progress_bar(total as u64, "episodes", args.json);
    let report = collect(&options, &mut |ret| {
        bar.inc(1);
        bar.set_message(format!("last return {ret:.1}"));
    })?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!("collected {} episodes into {}", report.episodes, report.out);
    for g in &report.groups {
        println!(
            "  {} σ={}: {} episodes, return mean {:.1} (min {:.1}, max {:.1})",
            g.policy, g.noise, g.episodes, g.mean_return, g.min_return, g.max_return
        );
    }
    Ok(())
}
