//! `ganglion eval tabletop`: the planner (exact state or camera) or a
//! learned chunked policy on instructions from a templates file, judged on
//! the simulator's true state (`learn::eval_tabletop` does the work; this
//! parses the arguments, shows progress and prints the table or JSON).

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::eval::EvalArgs;
use super::repo_path;
use ganglion::lang::service::PlannerParts;
use ganglion::learn::collect_tabletop::read_templates;
use ganglion::learn::eval_tabletop::{
    DEFAULT_SEED, TabletopEvalOptions, TabletopEvalReport, TabletopPolicy, episodes, eval_tabletop,
};
use ganglion::policy::card::FormattedCard;

/// Episodes per template when `--episodes` is not given.
const DEFAULT_EPISODES: usize = 10;

pub fn run(a: &EvalArgs) -> Result<()> {
    let Some(instructions) = &a.instructions else {
        bail!("eval tabletop needs --instructions FILE (instruction templates, one a line)");
    };
    if a.lm.sight.perception != "state" {
        bail!(
            "eval tabletop: --perception does not apply; use --policy planner-camera for the planner with camera perception"
        );
    }
    let templates = read_templates(&repo_path(&instructions.to_string_lossy()))?;
    let o = TabletopEvalOptions {
        templates,
        episodes: a.episodes.unwrap_or(DEFAULT_EPISODES),
        unseen: a.unseen,
        seed: a.seed.unwrap_or(DEFAULT_SEED),
        seconds: a.seconds,
        latency_ticks: a.latency_ticks,
        chunk_every: a.chunk_every,
        reach: repo_path(&a.lm.reach.to_string_lossy()),
        model_params: ganglion::vla::card::VlaCard::load_for(&a.policy)
            .ok()
            .map(|c| c.parameters as u64),
    };
    let path = a.policy.clone();
    let mut policy = match path.to_str() {
        Some("planner") => TabletopPolicy::Planner,
        Some("planner-camera") => TabletopPolicy::PlannerCamera {
            perception: a
                .lm
                .sight
                .perception_model
                .clone()
                .unwrap_or_else(|| repo_path(ganglion::perception::MODEL)),
        },
        _ if path.extension().is_some_and(|e| e == "onnx") => learned(path),
        _ => bail!(
            "--policy {}: use planner, planner-camera or a FILE.onnx (a learned chunked policy)",
            a.policy.display()
        ),
    };
    let mut parts = PlannerParts::open(&a.lm.planner_options())?;
    let total = episodes(&o)?.len() as u64;
    // On stderr, also with --json (stdout holds only the report).
    let bar = super::progress_bar(total, "episodes", false);
    let mut done = 0usize;
    let mut succeeded = 0usize;
    let report = eval_tabletop(&o, &mut policy, &mut parts, &mut |r| {
        done += 1;
        succeeded += r.success as usize;
        bar.set_message(format!("{succeeded}/{done} succeeded"));
        bar.inc(1);
    });
    bar.finish_and_clear();
    let report = report?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report, a.seconds);
    }
    if a.record {
        let mut v = serde_json::to_value(&report)?;
        if let Some(m) = v.as_object_mut() {
            m.remove("episodes_detail");
            m.insert("command".into(), super::command_line().into());
        }
        ganglion::vla::card::VlaCard::record_eval(&a.policy, v)?;
        eprintln!(
            "recorded on {}",
            ganglion::policy::card::card_path(&a.policy).display()
        );
    }
    if let Some(min) = a.min_success
        && report.success_rate < min
    {
        bail!(
            "success rate {:.3} (seen combinations) is below --min-success {min}",
            report.success_rate
        );
    }
    if let Some(min) = a.min_unseen
        && report.unseen.episodes > 0
        && report.unseen.success_rate < min
    {
        bail!(
            "success rate {:.3} on the unseen combinations is below --min-unseen {min}",
            report.unseen.success_rate
        );
    }
    Ok(())
}

/// A learned policy from `path`, its model built per instruction.
fn learned(path: PathBuf) -> TabletopPolicy<'static> {
    let name = path.display().to_string();
    let mut loader = ganglion::policy::vla::VlaLoader::new(&path);
    TabletopPolicy::Learned {
        name,
        factory: Box::new(move |instruction: &str| loader.load(instruction)),
    }
}

fn print_table(r: &TabletopEvalReport, seconds: f64) {
    let time = |t: Option<f64>| t.map_or("-".to_string(), |t| format!("{t:.1} s"));
    println!(
        "{} on the tabletop: {} episodes (seed {}, at most {seconds} s each)",
        r.policy, r.all.episodes, r.seed
    );
    let width = r
        .families
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "  {:<width$} {:>8} {:>8} {:>16}",
        "family", "episodes", "success", "time to success"
    );
    for (name, f) in &r.families {
        println!(
            "  {name:<width$} {:>8} {:>7.0}% {:>16}",
            f.episodes,
            100.0 * f.success_rate,
            time(f.mean_time_to_success_s)
        );
    }
    println!(
        "  {:<width$} {:>8} {:>7.1}% {:>16}",
        "seen combinations",
        r.episodes,
        100.0 * r.success_rate,
        time(r.mean_time_to_success_s)
    );
    if r.unseen.episodes > 0 {
        println!(
            "  {:<width$} {:>8} {:>7.1}% {:>16}",
            "all",
            r.all.episodes,
            100.0 * r.all.success_rate,
            time(r.all.mean_time_to_success_s)
        );
    }
    let c = &r.compute;
    println!(
        "policy compute: {:.1} ms per second of control ({:.1} s over {:.1} s simulated){}",
        c.policy_ms_per_s_of_control,
        c.policy_s,
        c.control_s,
        c.model_params
            .map_or(String::new(), |n| format!(", {n} parameters"))
    );
    for e in r.episodes_detail.iter().filter(|e| !e.success) {
        println!(
            "  failed: \"{}\" (seed {}): {}",
            ganglion::lang::guard::escape(&e.instruction),
            e.seed,
            e.failure.as_deref().unwrap_or("?")
        );
    }
}
