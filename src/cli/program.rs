//! `ganglion program FILE`: run a program a person wrote over the robot API
//! (docs/programs.md) in the sandbox, on the simulated tabletop (or its
//! symbolic effects with `--plan-only`), and report the skills it ran, what
//! it printed, the final state and, on a stop, why and where. Exit code 0:
//! the program ran to its end; 1: it was stopped (the report says why);
//! 2: the command itself failed (a missing file, a bad scene).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use ganglion::input::{FileKind, read_text};
use ganglion::lang::saycan::{SimWorld, SymbolicWorld, World};
use ganglion::program::{self, Limits, ProgramReport};
use ganglion::sim::TabletopWorld;
use ganglion::skills::SkillRunner;
use ganglion::skills::executor::REACH_MODEL;

use super::repo_path;

#[derive(Args, Debug)]
pub struct ProgramArgs {
    /// The program (rhai; the robot API is in docs/programs.md).
    pub file: PathBuf,
    /// The scene: "blocks=red,green; bowls=blue" (+ positions `red@(0.40,0.12)`,
    /// stacked=, in=, holding=); default: a random scene from the seed.
    #[arg(long)]
    pub scene: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run on the skills' symbolic effects; nothing is simulated.
    #[arg(long)]
    pub plan_only: bool,
    /// At most this many skills.
    #[arg(long, default_value_t = Limits::default().max_skill_calls)]
    pub max_skills: usize,
    /// At most this many interpreter operations.
    #[arg(long, default_value_t = Limits::default().max_operations)]
    pub max_operations: u64,
    /// At most this much interpreter time (s; the skills' motion not counted).
    #[arg(long, default_value_t = Limits::default().max_seconds)]
    pub max_seconds: f64,
    #[arg(long, default_value = REACH_MODEL)]
    pub reach: PathBuf,
    #[command(flatten)]
    pub sight: super::perception::SightArgs,
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: ProgramArgs) -> Result<()> {
    let source = read_text(&a.file, FileKind::Program)?;
    let scene = super::say::scene_arg(a.scene.as_deref(), a.seed)?;
    if !(a.max_seconds.is_finite() && a.max_seconds > 0.0) {
        anyhow::bail!("--max-seconds must be a positive number of seconds");
    }
    let limits = Limits {
        max_skill_calls: a.max_skills,
        max_operations: a.max_operations,
        max_seconds: a.max_seconds,
        ..Limits::default()
    };
    let camera = a.sight.camera_model()?;
    let world: Box<dyn World> = if a.plan_only && camera.is_none() {
        let start = TabletopWorld::new(&scene, a.seed).state();
        Box::new(SymbolicWorld::new(scene.clone(), start))
    } else {
        let reach = repo_path(&a.reach.to_string_lossy());
        let mut runner = SkillRunner::new(&scene, a.seed, &reach)?;
        if let Some(model) = &camera {
            runner.use_camera(model, a.seed)?;
        }
        if a.plan_only {
            let start = runner.state()?;
            Box::new(SymbolicWorld::new(runner.scene().clone(), start))
        } else {
            Box::new(SimWorld { runner })
        }
    };
    let (report, _world) = program::run(&source, world, &limits);
    if a.json {
        let out = serde_json::json!({
            "program": a.file,
            "scene": ganglion::skills::report::scene_text(&scene),
            "seed": a.seed,
            "perception": a.sight.perception,
            "plan_only": a.plan_only,
            "completed": report.completed(),
            "report": report,
            "limits": limits,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_report(&report, &a.file);
    }
    if !report.completed() {
        std::process::exit(1);
    }
    Ok(())
}

fn print_report(r: &ProgramReport, file: &std::path::Path) {
    for line in &r.printed {
        println!("print        {line}");
    }
    for (i, s) in r.skills.iter().enumerate() {
        let line = s.line.map_or(String::new(), |l| format!("line {l:<4}"));
        println!(
            "  {:<3} {line} {:<36} {}",
            i + 1,
            s.skill,
            if s.success { "succeeded" } else { "FAILED" }
        );
    }
    match &r.stop {
        None => println!("completed    {} skills", r.skills.len()),
        Some(stop) => {
            let at = match (stop.line, stop.column) {
                (Some(l), Some(c)) => format!("{}:{l}:{c}: ", file.display()),
                (Some(l), None) => format!("{}:{l}: ", file.display()),
                _ => format!("{}: ", file.display()),
            };
            println!("stopped      {at}{} ({:?})", stop.message, stop.kind);
            if stop.kind.before_motion() {
                println!("             nothing moved: the program was refused before it ran");
            } else {
                println!(
                    "             {} skills ran before the stop; the arm was left where the last one left it",
                    r.skills.len()
                );
            }
        }
    }
    let places: Vec<String> = r
        .final_state
        .0
        .iter()
        .map(|(o, p)| format!("{o}: {p}"))
        .collect();
    println!("final state  {}", places.join(", "));
    println!(
        "time         interpreter {:.3} s, skills {:.1} s",
        r.interpreter_s, r.skills_s
    );
}
