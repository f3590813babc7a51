//! `ganglion skill` (run one skill in the tabletop sim) and `ganglion skills
//! report | train-affordances` (measure the skills, learn their affordances).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use super::repo_path;
use ganglion::runtime::stats::{quantile_sorted, sorted};
use ganglion::sim::SceneSpec;
use ganglion::skills::affordance::{Affordances, LEARNED, Sample, calibration};
use ganglion::skills::affordance_train::{self, AffordanceTraining};
use ganglion::skills::executor::REACH_MODEL;
use ganglion::skills::report::{labelled_samples, reach_errors, success_table};
use ganglion::skills::{Family, Skill, SkillRunner};

#[derive(Args, Debug)]
pub struct SkillArgs {
    /// The skill, e.g. "pick up the red block", "place it in the green bowl",
    /// "place it on the blue block", "go to home", "done".
    pub skill: String,
    /// The scene: "blocks=red,green,blue; bowls=green,yellow" plus optional
    /// `stacked=a/b`, `in=a/b`, `holding=c` (default: a random scene from the seed).
    #[arg(long)]
    pub scene: Option<String>,
    /// Seed of the object positions (and of the scene when none is given).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Reaching policy (ONNX with card).
    #[arg(long, default_value = REACH_MODEL)]
    pub reach: PathBuf,
    /// Directory of the affordance models.
    #[arg(long, default_value = "models")]
    pub affordances: PathBuf,
    #[command(flatten)]
    pub sight: super::perception::SightArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SkillsArgs {
    #[command(subcommand)]
    pub command: SkillsCommand,
}

#[derive(Subcommand, Debug)]
pub enum SkillsCommand {
    /// Success rate of every skill over random feasible scenes, the reaching
    /// policy's final error, and the affordances' calibration on fresh cases.
    Report(ReportArgs),
    /// Execute random (feasible and infeasible) cases, label them, and fit
    /// one affordance model per skill family; writes ONNX + cards + a
    /// reliability plot.
    TrainAffordances(TrainAffordancesArgs),
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Feasible scenes per skill.
    #[arg(long, default_value_t = 100)]
    pub scenes: usize,
    /// Reach episodes for the final-error measurement.
    #[arg(long, default_value_t = 500)]
    pub reach_episodes: usize,
    /// Held-out cases per family for the affordance metrics (0: skip).
    #[arg(long, default_value_t = 200)]
    pub affordance_cases: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    #[arg(long, default_value = REACH_MODEL)]
    pub reach: PathBuf,
    #[arg(long, default_value = "models")]
    pub affordances: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct TrainAffordancesArgs {
    /// Output directory for affordance-<family>.onnx and their cards.
    #[arg(long, default_value = "models")]
    pub out: PathBuf,
    /// Training executions per family.
    #[arg(long, default_value_t = 2000)]
    pub cases: usize,
    /// Which families to train, comma-separated (pick, place-in, place-on,
    /// place-at, home); default all. The other families' files are kept.
    #[arg(long, value_delimiter = ',')]
    pub families: Vec<String>,
    /// Held-out executions per family (Brier score, ROC AUC, reliability).
    #[arg(long, default_value_t = 500)]
    pub held_out: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    #[arg(long, default_value = REACH_MODEL)]
    pub reach: PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub fn run_skill(a: SkillArgs) -> Result<()> {
    let skill = Skill::parse(&a.skill)?;
    let scene = match &a.scene {
        Some(s) => SceneSpec::parse(s).with_context(|| format!("--scene \"{s}\""))?,
        None => SceneSpec::random(a.seed),
    };
    let reach = repo_path(&a.reach.to_string_lossy());
    let mut runner = SkillRunner::new(&scene, a.seed, &reach)?;
    let camera = a.sight.camera_model()?;
    if let Some(model) = &camera {
        runner.use_camera(model, a.seed)?;
    }
    let start = runner.state()?;
    let seen = runner.scene().clone();
    // The skill runs without affordance models; it just cannot say how likely
    // it was to succeed.
    let affordance = match Affordances::load(&repo_path(&a.affordances.to_string_lossy())) {
        Ok(mut aff) => Some(aff.predict(&skill, &seen, &start)?),
        Err(e) => {
            eprintln!("note: no affordance: {e:#}");
            None
        }
    };
    let run = runner.run(&skill)?;
    let truth = runner.true_state()?;
    let true_places = ganglion::skills::Places::of(&truth, runner.true_scene());
    if a.json {
        let out = json!({
            "skill": skill.text(),
            "perception": a.sight.perception,
            "affordance": affordance,
            "success": run.outcome.success(),
            "outcome": run.outcome.label(),
            "steps": run.steps,
            "final_state": run.final_state.to_json(),
            "true_final_state": true_places.to_json(),
            "safety_events": run.safety_events.iter().map(|(n, c)| json!({"event": n, "ticks": c})).collect::<Vec<_>>(),
            "allocations": run.allocations,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("skill       {skill}");
        match affordance {
            Some(p) => println!("affordance  {p:.3}"),
            None => println!("affordance  (no model)"),
        }
        let why = match &run.outcome {
            ganglion::skills::SkillOutcome::Failed(w) => format!(" ({w})"),
            _ => String::new(),
        };
        println!("outcome     {}{why}", run.outcome.label());
        println!(
            "steps       {} ({:.2} s at 25 Hz)",
            run.steps,
            run.steps as f64 / 25.0
        );
        for (n, c) in &run.safety_events {
            println!("safety      {n} on {c} ticks");
        }
        if let Some(a) = run.allocations.as_ref().filter(|a| a.counted) {
            println!(
                "allocs      {:.2}/tick in the loop's code, {:.2}/tick inside the policy \
                 engine ({:.2}/tick served by its arena, {})",
                a.loop_per_tick, a.policy_per_tick, a.arena_per_tick, a.arena
            );
        }
        println!(
            "final state{}",
            if camera.is_some() { " (perceived)" } else { "" }
        );
        for (o, p) in &run.final_state.0 {
            println!("  {o:<14} {p}");
        }
        if camera.is_some() {
            println!("true final state");
            for (o, p) in &true_places.0 {
                println!("  {o:<14} {p}");
            }
        }
    }
    Ok(())
}

pub fn run_skills(a: SkillsArgs) -> Result<()> {
    match a.command {
        SkillsCommand::Report(r) => report(r),
        SkillsCommand::TrainAffordances(t) => train_affordances(t),
    }
}

fn read_reach(path: &Path) -> Result<(PathBuf, Arc<Vec<u8>>)> {
    let p = repo_path(&path.to_string_lossy());
    let bytes = ganglion::input::read_file(&p, ganglion::input::FileKind::Model).with_context(|| {
        format!(
            "reading the reaching policy {} (train it: `ganglion train arm-reach --out {REACH_MODEL}`)",
            p.display()
        )
    })?;
    Ok((p, Arc::new(bytes)))
}

fn report(a: ReportArgs) -> Result<()> {
    let (reach_path, reach) = read_reach(&a.reach)?;
    let t0 = std::time::Instant::now();
    let errs = sorted_errors(reach_errors(
        &reach_path,
        a.reach_episodes,
        a.seed,
        a.threads,
    )?);
    let q = |f: f64| quantile_sorted(&errs, f);
    let within = errs.iter().filter(|e| **e < 0.01).count() as f64 / errs.len().max(1) as f64;
    let rows = success_table(&reach, &reach_path, a.scenes, a.seed, a.threads)?;
    let aff = if a.affordance_cases > 0 {
        let mut aff = Affordances::load(&repo_path(&a.affordances.to_string_lossy()))?;
        let samples = labelled_samples(
            &reach,
            &reach_path,
            &LEARNED,
            a.affordance_cases,
            a.seed ^ 0xa11,
            a.threads,
            |_| {},
        )?;
        let (p, y) = predict_samples(&mut aff, &samples)?;
        Some(calibration(&p, &y))
    } else {
        None
    };
    if a.json {
        let out = json!({
            "reach": {"targets": errs.len(), "median_m": q(0.5), "p95_m": q(0.95), "max_m": q(1.0),
                      "within_1cm": within},
            "skills": rows,
            "affordances": aff,
            "seed": a.seed,
            "wall_s": t0.elapsed().as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "reaching policy {}: final cup error over {} targets: median {:.1} mm, p95 {:.1} mm, max {:.1} mm; < 1 cm on {:.1}%",
        reach_path.display(),
        errs.len(),
        q(0.5) * 1000.0,
        q(0.95) * 1000.0,
        q(1.0) * 1000.0,
        100.0 * within
    );
    print_success_table(&rows, a.scenes, a.seed);
    if let Some(c) = aff {
        println!(
            "\naffordances on {} fresh executions ({} succeeded): ROC AUC {:.3}, Brier {:.3}",
            c.n, c.positives, c.auc, c.brier
        );
    }
    Ok(())
}

fn sorted_errors(errs: Vec<f32>) -> Vec<f64> {
    sorted(errs.into_iter().map(f64::from).collect())
}

fn print_success_table(rows: &[ganglion::skills::report::SuccessRow], scenes: usize, seed: u64) {
    println!("\nskill success over {scenes} random feasible scenes each (seed {seed}):");
    println!(
        "  {:<28} {:>8} {:>9} {:>10}",
        "skill", "success", "timed out", "mean steps"
    );
    for r in rows {
        println!(
            "  {:<28} {:>7.1}% {:>9} {:>10.0}",
            r.skill,
            100.0 * r.successes as f64 / r.trials.max(1) as f64,
            r.timed_out,
            r.mean_steps
        );
    }
    for r in rows {
        for f in &r.failures {
            println!("  failed: {f}");
        }
    }
}

/// Predictions of the loaded models for labelled samples (their features
/// were computed at execution time).
fn predict_samples(aff: &mut Affordances, samples: &[Sample]) -> Result<(Vec<f32>, Vec<f32>)> {
    let mut p = Vec::with_capacity(samples.len());
    for s in samples {
        p.push(aff.predict_features(s.family, &s.x)?);
    }
    Ok((p, samples.iter().map(|s| s.y).collect()))
}

fn train_affordances(a: TrainAffordancesArgs) -> Result<()> {
    let (reach_path, reach) = read_reach(&a.reach)?;
    let families: Vec<Family> = if a.families.is_empty() {
        LEARNED.to_vec()
    } else {
        a.families
            .iter()
            .map(|n| {
                LEARNED
                    .iter()
                    .copied()
                    .find(|f| f.name() == n.trim())
                    .ok_or_else(|| {
                        let names: Vec<&str> = LEARNED.iter().map(|f| f.name()).collect();
                        anyhow::anyhow!(
                            "--families: unknown family `{n}` (families: {})",
                            names.join(", ")
                        )
                    })
            })
            .collect::<Result<_>>()?
    };
    let fam_arg = if a.families.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        format!(" --families {}", names.join(","))
    };
    let t0 = std::time::Instant::now();
    let training = AffordanceTraining {
        families: families.clone(),
        reach,
        reach_path,
        out: repo_path(&a.out.to_string_lossy()),
        cases: a.cases,
        held_out: a.held_out,
        seed: a.seed,
        threads: a.threads,
        command: format!(
            "ganglion skills train-affordances --out {} --cases {} --held-out {} --seed {}{fam_arg}",
            a.out.display(),
            a.cases,
            a.held_out,
            a.seed
        ),
    };
    let total = (a.cases + a.held_out) * families.len();
    let bar = super::progress_bar(total as u64, "executions", a.json);
    let r = affordance_train::train_affordances(&training, &mut |n| bar.set_position(n as u64))?;
    bar.finish_and_clear();
    let wall_s = t0.elapsed().as_secs_f64();
    if a.json {
        let fams: Vec<_> = r
            .families
            .iter()
            .map(|f| json!({"family": f.family.name(), "train": f.train, "train_successes": f.train_successes, "held_out": f.held_out}))
            .collect();
        let out = json!({"families": fams, "overall": r.overall, "plot": r.plot, "wall_s": wall_s});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "affordances trained on {} executions in {wall_s:.0} s; held-out metrics:",
        r.executions
    );
    for f in &r.families {
        let c = &f.held_out;
        let auc = if c.auc.is_nan() {
            "n/a (every execution succeeded)".to_string()
        } else {
            format!("{:.3}", c.auc)
        };
        println!(
            "  {:<9} train {:>4} ({:>4} succeeded)  held-out {:>4} ({:>4} succeeded): Brier {:.3}  ROC AUC {auc}",
            f.family.name(),
            f.train,
            f.train_successes,
            c.n,
            c.positives,
            c.brier
        );
    }
    println!(
        "  overall   held-out {}: Brier {:.3}  ROC AUC {:.3}\n  plot      {}",
        r.overall.n,
        r.overall.brier,
        r.overall.auc,
        r.plot.display()
    );
    Ok(())
}

/// The demo's tabletop part: a short pick-and-place, each skill with its
/// affordance, through the control loop.
pub fn demo_pick_and_place(seed: u64) -> Result<()> {
    let scene_text = "blocks=red,green,blue; bowls=green,yellow";
    let scene = SceneSpec::parse(scene_text)?;
    let reach = repo_path(REACH_MODEL);
    let mut runner = SkillRunner::new(&scene, seed, &reach)?;
    let mut aff = Affordances::load(&repo_path("models")).ok();
    println!("tabletop — \"{scene_text}\" (seed {seed}), skills through the control loop:");
    for text in [
        "pick up the red block",
        "place it in the green bowl",
        "go to home",
    ] {
        let skill = Skill::parse(text)?;
        let state = runner.state()?;
        let p = match aff.as_mut() {
            Some(a) => format!("{:.2}", a.predict(&skill, &scene, &state)?),
            None => "n/a".into(),
        };
        let run = runner.run(&skill)?;
        println!(
            "  {:<28} affordance {p:>4}  {:<9} in {:>3} ticks",
            skill.text(),
            run.outcome.label(),
            run.steps
        );
    }
    let places = runner.places()?;
    let line: Vec<String> = places.0.iter().map(|(o, p)| format!("{o}: {p}")).collect();
    println!("  final state: {}", line.join(", "));
    Ok(())
}
