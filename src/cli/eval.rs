//! `ganglion eval` and `ganglion demo`: run an ONNX policy through tract in the
//! rapier simulation for N seeded episodes. `ganglion eval tabletop` compares
//! the planner and learned policies on instructions (`eval_tabletop`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use ganglion::learn::eval::eval_policy_file;
use ganglion::policy::ModelCard;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Environment name (cartpole, cartpole-continuous, reacher, arm-reach,
    /// tabletop, or reach:FILE.urdf[#LINK]: the final tool error, its
    /// median, p95, max and the share under 1 cm).
    pub env: String,
    /// ONNX policy file; its model card (`.card.toml`) is used when present.
    /// tabletop: `planner`, `planner-camera` or a learned chunked policy
    /// (FILE.onnx).
    #[arg(long)]
    pub policy: PathBuf,
    /// Episodes (tabletop: per template; default 100, tabletop 10).
    #[arg(long)]
    pub episodes: Option<usize>,
    /// Seed of the episodes' initial states (default 0; tabletop 1000003,
    /// never the scenes `collect tabletop` draws).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Decision Transformer: returns to condition on, comma-separated
    /// (default: the targets in its card).
    #[arg(long, value_delimiter = ',')]
    pub target_returns: Option<Vec<f32>>,
    /// Decision Transformer: plot target vs achieved return (PNG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// tabletop: instruction templates, one a line ({block}, {block2},
    /// {bowl} filled from each scene).
    #[arg(long, help_heading = "tabletop")]
    pub instructions: Option<PathBuf>,
    /// tabletop: simulated seconds an episode may take.
    #[arg(long, default_value_t = 20.0, help_heading = "tabletop")]
    pub seconds: f64,
    /// tabletop: K more episodes per bowl template, drawn only from the
    /// held-out block/bowl colour combinations (reported apart, as
    /// `unseen`; the --episodes ones use only trained combinations).
    #[arg(long, default_value_t = 0, help_heading = "tabletop")]
    pub unseen: usize,
    /// tabletop: a learned policy's model latency in control ticks (its
    /// chunk asked for at tick t is used from t + this).
    #[arg(long, default_value_t = 2, help_heading = "tabletop")]
    pub latency_ticks: u32,
    /// tabletop: ticks between a learned policy's chunk requests (default:
    /// 2, at most the horizon minus the latency).
    #[arg(long, help_heading = "tabletop")]
    pub chunk_every: Option<u32>,
    /// tabletop: write this evaluation onto the learned model's card (a
    /// VLA card beside the .onnx).
    #[arg(long, help_heading = "tabletop")]
    pub record: bool,
    /// tabletop: exit with an error when the success rate on the trained
    /// colour combinations is below this (a check that can fail, for
    /// scripts and CI). reach:FILE: the same for the share of targets
    /// reached within 1 cm.
    #[arg(long, help_heading = "tabletop")]
    pub min_success: Option<f64>,
    /// tabletop: the same for the --unseen episodes.
    #[arg(long, help_heading = "tabletop")]
    pub min_unseen: Option<f64>,
    #[command(flatten, next_help_heading = "tabletop planner")]
    pub lm: super::say::LmArgs,
}

/// Episodes and seed when not given (cartpole and the other gym tasks).
pub const DEFAULT_EPISODES: usize = 100;
pub const DEFAULT_SEED: u64 = 0;

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 100)]
    pub episodes: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Policy to run (default: the shipped models/cartpole-ppo.onnx).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Where the control-loop part records (default runs/demo-cartpole.mcap).
    #[arg(long)]
    pub record: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EvalArgs) -> Result<()> {
    if args.env == "tabletop" {
        return super::eval_tabletop::run(&args);
    }
    if let Some(spec) = args.env.strip_prefix("reach:") {
        return eval_reach(&args, spec);
    }
    if args.instructions.is_some()
        || args.unseen > 0
        || args.chunk_every.is_some()
        || args.min_unseen.is_some()
    {
        anyhow::bail!(
            "--instructions, --unseen, --min-unseen and --chunk-every are for `eval tabletop`, not `{}`",
            args.env
        );
    }
    let card = ModelCard::load_for(&args.policy).ok();
    if card
        .as_ref()
        .is_some_and(|c| c.kind == "decision-transformer")
    {
        return super::eval_dt::run(&args, card.as_ref().expect("checked above"));
    }
    if args.target_returns.is_some() || args.plot.is_some() {
        anyhow::bail!(
            "{}: --target-returns and --plot are for Decision Transformer policies",
            args.policy.display()
        );
    }
    let episodes = args.episodes.unwrap_or(DEFAULT_EPISODES);
    let seed = args.seed.unwrap_or(DEFAULT_SEED);
    let out = eval_policy_file(&args.env, &args.policy, episodes, seed)?;
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        let r = &out.report;
        println!(
            "{} on {}: {} episodes (seed {}), mean return {:.1} ± {:.1}, min {:.0}, max {:.0}",
            out.policy,
            out.env,
            r.episodes,
            r.seed,
            r.mean_return,
            r.std_return,
            r.min_return,
            r.max_return
        );
    }
    Ok(())
}

pub const SHIPPED_CARTPOLE: &str = "models/cartpole-ppo.onnx";
pub const SOLVED_RETURN: f64 = 475.0;

pub fn demo(args: DemoArgs) -> Result<()> {
    let path = args
        .policy
        .clone()
        .unwrap_or_else(|| super::repo_path(SHIPPED_CARTPOLE));
    let card = ModelCard::load_for(&path).ok();
    let sha_note = match &card {
        Some(c) => match c.verify_sha256(&path) {
            Ok(()) => "sha256 matches its card".to_string(),
            Err(e) => format!("WARNING: {e}"),
        },
        None => "no model card".to_string(),
    };
    let started = std::time::Instant::now();
    let out = eval_policy_file("cartpole", &path, args.episodes, args.seed)?;
    let wall = started.elapsed().as_secs_f64();
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    print_demo_eval(&out.report, &path, card.as_ref(), &sha_note, wall);
    demo_control_loop(&args)?;
    super::skill::demo_pick_and_place(args.seed)
}

fn print_demo_eval(
    r: &ganglion::learn::EvalReport,
    path: &std::path::Path,
    card: Option<&ModelCard>,
    sha_note: &str,
    wall: f64,
) {
    println!("ganglion demo — CartPole on rapier3d, policy run by tract-onnx");
    println!("  policy   {} ({sha_note})", path.display());
    if let Some(c) = card {
        println!("  trained  `{}`", c.command);
    }
    println!(
        "  episodes {} (seed {}), {} control steps in {:.2} s",
        r.episodes,
        r.seed,
        (r.mean_length * r.episodes as f64).round(),
        wall
    );
    println!(
        "  return   mean {:.1} ± {:.1}, min {:.0}, max {:.0} (500 is the cap)",
        r.mean_return, r.std_return, r.min_return, r.max_return
    );
    let verdict = if r.mean_return >= SOLVED_RETURN {
        "SOLVED"
    } else {
        "not solved"
    };
    println!("  verdict  {verdict} (CartPole-v1 threshold: mean ≥ {SOLVED_RETURN})");
}

/// The same policy through the control loop, recorded; prints its report.
fn demo_control_loop(args: &DemoArgs) -> Result<()> {
    // The same policy through the real-time control loop and safety filter,
    // lockstep with the simulator, recorded to MCAP.
    let config = super::repo_path("robots/cartpole.toml");
    let record = args
        .record
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs/demo-cartpole.mcap"));
    let cfg = super::run::load_config(&config, &[])?;
    let opts = ganglion::assemble::RunOptions {
        limit: ganglion::runtime::RunLimit {
            ticks: None,
            seconds: Some(20.0),
            ..Default::default()
        },
        record: Some(record),
        // The demo's own recording is replaced on each run (anything that is
        // not a recording is still refused).
        overwrite: true,
        fast: true,
        seed: None,
    };
    println!();
    println!(
        "control loop — {} through the safety filter, 20 s of sim time:",
        config.display()
    );
    let report = ganglion::assemble::execute(cfg, &opts)?;
    super::run::print_report(&report);
    println!("  (open the recording in Foxglove, or check it: ganglion replay --resim <file>)");
    println!();
    Ok(())
}

/// `eval reach:FILE`: the final tool error over seeded episodes.
fn eval_reach(args: &EvalArgs, spec: &str) -> Result<()> {
    let episodes = args.episodes.unwrap_or(500);
    let seed = args.seed.unwrap_or(DEFAULT_SEED);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let r = ganglion::learn::eval_reach::evaluate(spec, &args.policy, episodes, seed, threads)?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{} on {}: final tool error over {} targets (seed {}): median {:.1} mm, p95 {:.1} mm, max {:.1} mm; < 1 cm on {:.1}%",
            r.policy,
            r.env,
            r.episodes,
            r.seed,
            r.median_m * 1000.0,
            r.p95_m * 1000.0,
            r.max_m * 1000.0,
            100.0 * r.within_1cm
        );
    }
    if let Some(min) = args.min_success
        && r.within_1cm < min
    {
        anyhow::bail!(
            "{:.1}% of targets within 1 cm, below --min-success {:.1}%",
            100.0 * r.within_1cm,
            100.0 * min
        );
    }
    Ok(())
}
