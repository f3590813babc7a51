//! `ganglion collect`: datasets are recordings (`learn::collect`, and for
//! the tabletop `learn::collect_tabletop`: planner + skills with the camera
//! on); this parses the flags, draws progress and prints what was collected.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::{command_line, progress_bar};
use ganglion::learn::collect::{CollectOptions, collect};

#[derive(Args, Debug)]
pub struct CollectArgs {
    /// Environment name: cartpole, reacher (robot config robots/ENV.toml,
    /// behaviour policies from --policy), or tabletop (demonstrations: the
    /// SayCan planner and the skills from exact state, the overhead camera
    /// recorded; needs --instructions).
    pub env: String,
    /// Behaviour policies (ONNX with cards), comma-separated (cartpole, reacher).
    #[arg(long, value_delimiter = ',')]
    pub policy: Vec<PathBuf>,
    /// tabletop: instruction templates, one per line; `{block}`, `{block2}`
    /// and `{bowl}` become colours of each random scene's objects.
    #[arg(long)]
    pub instructions: Option<PathBuf>,
    /// tabletop: a camera frame every this many ticks (25 Hz loop).
    #[arg(long, default_value_t = 1)]
    pub camera_every: u32,
    /// tabletop: leave the held-out block/bowl colour combinations (the bowl
    /// whose colour follows the block's: red/green, green/blue, …,
    /// orange/red) out of the dataset, so an evaluation can measure unseen
    /// combinations.
    #[arg(long)]
    pub exclude_held_out: bool,
    /// tabletop: the reaching policy the skills use.
    #[arg(long, default_value = "models/arm-reach.onnx")]
    pub reach: PathBuf,
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
    if args.env == "tabletop" {
        return run_tabletop(args);
    }
    if args.policy.is_empty() {
        anyhow::bail!(
            "collect {} needs --policy (behaviour policies, ONNX with cards)",
            args.env
        );
    }
    let config = args
        .config
        .clone()
        .unwrap_or_else(|| super::repo_path(&format!("robots/{}.toml", args.env)));
    let options = CollectOptions {
        env: args.env.clone(),
        config: super::run::load_config(&config, &[])?,
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

fn run_tabletop(args: CollectArgs) -> Result<()> {
    use ganglion::lang::service::{PlannerOptions, PlannerParts};
    use ganglion::learn::collect_tabletop::{
        TabletopCollectOptions, collect_tabletop, read_templates,
    };
    let Some(templates) = &args.instructions else {
        anyhow::bail!(
            "collect tabletop needs --instructions FILE (instruction templates, one per line)"
        );
    };
    let options = TabletopCollectOptions {
        templates: read_templates(templates)?,
        episodes: args.episodes,
        seed: args.seed,
        out: args.out.clone(),
        overwrite: args.overwrite,
        reach: super::repo_path(&args.reach.to_string_lossy()),
        camera_every: args.camera_every,
        exclude_held_out: args.exclude_held_out,
        command: command_line(),
    };
    let mut parts = PlannerParts::open(&PlannerOptions {
        affordances: super::repo_path("models"),
        ..PlannerOptions::default()
    })?;
    let bar = progress_bar(args.episodes as u64, "episodes", args.json);
    let report = collect_tabletop(&options, &mut parts, &mut |e| {
        bar.inc(1);
        bar.set_message(format!(
            "{} \"{}\"",
            if e.success { "ok" } else { "FAILED" },
            e.instruction
        ));
    })?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "collected {} episodes ({} succeeded, the rest kept and marked) into {}: {} recordings, {} ticks; index {}/{}",
        report.episodes,
        report.succeeded,
        report.out,
        report.recordings,
        report.ticks,
        report.out,
        ganglion::learn::collect_tabletop::EPISODE_INDEX
    );
    Ok(())
}
