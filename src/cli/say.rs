//! `ganglion say`: plan an instruction with the SayCan or the code planner
//! and execute it on the simulated tabletop (the planner service is `lang::service`), then
//! print the plan, its scores and the final state.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use ganglion_sim::SceneSpec;

use super::repo_path;
use ganglion::lang::guard;
use ganglion::lang::service::{
    PlannerOptions, PlannerParts, plan_and_execute, plan_json, plan_symbolic, plan_symbolic_in,
};
use ganglion::skills::SkillRunner;
use ganglion::skills::executor::REACH_MODEL;

#[derive(Args, Debug)]
pub struct SayArgs {
    /// The instruction, e.g. "put the red block in the green bowl".
    pub instruction: String,
    /// The scene: "blocks=red,green,blue; bowls=green,yellow" (+ stacked=,
    /// in=, holding=); default: a random scene from the seed.
    #[arg(long)]
    pub scene: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Plan with the skills' symbolic effects; do not execute.
    #[arg(long)]
    pub plan_only: bool,
    #[command(flatten)]
    pub lm: LmArgs,
    #[arg(long)]
    pub json: bool,
}

/// Language-model and planner options shared by `say` and `eval-lang`.
#[derive(Args, Debug, Clone)]
pub struct LmArgs {
    /// Language model: default (SmolLM2 in models/lm/, see `ganglion models
    /// fetch`), gguf:PATH (any llama-family GGUF), openai:URL[#MODEL] (an
    /// OpenAI-compatible completion server with logprobs).
    #[arg(long, default_value = "default")]
    pub lm: String,
    /// Match words outside the lexicon (colour shades, object names) with
    /// MiniLM embeddings; `false` refuses every such word.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub minilm: bool,
    /// Switch one planner factor off to measure it: none, uniform-lm,
    /// no-affordance, no-detector.
    #[arg(long, default_value = "none")]
    pub ablate: String,
    /// Largest number of skills in a plan.
    #[arg(long, default_value_t = 10)]
    pub max_steps: usize,
    /// Stop (or refuse) when no skill's combined score reaches this.
    #[arg(long, default_value_t = 0.01)]
    pub threshold: f32,
    #[arg(long, default_value = REACH_MODEL)]
    pub reach: PathBuf,
    #[arg(long, default_value = "models")]
    pub affordances: PathBuf,
    /// Which planner: saycan (one skill at a time, LM × affordance), code
    /// (the taught coder writes a program over the robot API, run in the
    /// sandbox), auto (saycan when its goal reader understands the
    /// instruction, code when it needs spatial reasoning).
    #[arg(long, default_value = "saycan")]
    pub planner: String,
    /// The code planner's adapters (their card beside them).
    #[arg(long, default_value = ganglion::lang::service::CODER_ADAPTER)]
    pub coder: PathBuf,
    /// How the code planner's model is asked: taught (the adapters, the
    /// bare instruction) or few-shot (the base model without adapters,
    /// seven worked examples in the prompt). With `--lm openai:URL` the
    /// server always gets the few-shot prompt.
    #[arg(long, default_value = "taught")]
    pub coder_prompt: String,
    #[command(flatten)]
    pub sight: super::perception::SightArgs,
}

impl LmArgs {
    /// The planner options these arguments name (paths resolved from the
    /// repository when not found here).
    pub fn planner_options(&self) -> PlannerOptions {
        PlannerOptions {
            lm: self.lm.clone(),
            minilm: self.minilm,
            ablate: self.ablate.clone(),
            max_steps: self.max_steps,
            threshold: self.threshold,
            affordances: repo_path(&self.affordances.to_string_lossy()),
            planner: self.planner.clone(),
            coder: repo_path(&self.coder.to_string_lossy()),
            coder_prompt: self.coder_prompt.clone(),
            ..PlannerOptions::default()
        }
    }
}

/// The `--scene` a command was given, or the random scene of `seed`.
pub fn scene_arg(scene: Option<&str>, seed: u64) -> Result<SceneSpec> {
    Ok(match scene {
        Some(s) => {
            SceneSpec::parse(s).with_context(|| format!("--scene \"{}\"", guard::escape(s)))?
        }
        None => SceneSpec::random(seed),
    })
}

pub fn run(a: SayArgs) -> Result<()> {
    let scene = scene_arg(a.scene.as_deref(), a.seed)?;
    let mut parts = PlannerParts::open(&a.lm.planner_options())?;
    if !a.json {
        // The program is shown before it runs.
        parts.code.on_program = Some(Box::new(|p: &str| {
            print_program("program (written by the coder; checked, then run):", p)
        }));
    }
    let camera = a.lm.sight.camera_model()?;
    let plan = if a.plan_only && camera.is_none() {
        plan_symbolic(&mut parts, &a.instruction, &scene, a.seed)?
    } else {
        let reach = repo_path(&a.lm.reach.to_string_lossy());
        let mut runner = SkillRunner::new(&scene, a.seed, &reach)?;
        if let Some(model) = &camera {
            runner.use_camera(model, a.seed)?;
        }
        if a.plan_only {
            let start = runner.state()?;
            let seen = runner.scene().clone();
            plan_symbolic_in(&mut parts, &a.instruction, &seen, start)?
        } else {
            plan_and_execute(&mut parts, &a.instruction, &mut runner)?
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&plan_json(&plan))?);
    } else {
        print_plan(&plan, a.plan_only);
    }
    Ok(())
}

/// The plan as a table: grounding, goals, each step's scores, the outcome
/// and the final state.
fn print_plan(plan: &ganglion::lang::saycan::Plan, plan_only: bool) {
    // `plan.instruction` is already escaped: no control or bidi character
    // reaches the terminal.
    println!("instruction  {}", plan.instruction);
    println!("planner      {}", plan.planner);
    if !plan.grounded.is_empty() && plan.grounded != plan.instruction.to_lowercase() {
        println!("grounded     {}", guard::escape(&plan.grounded));
    }
    for m in &plan.matched {
        println!("matched      {m}");
    }
    if !plan.goals.is_empty() {
        let g: Vec<String> = plan
            .goals
            .iter()
            .map(|(o, p)| format!("{o} → {p}"))
            .collect();
        println!("goals        {}", g.join(", "));
    }
    if !plan.keep.is_empty() {
        println!("must stay    {}", plan.keep.join(", "));
    }
    if plan.refused
        && let Some(p) = &plan.program
    {
        print_program("program (refused, not run):", p);
    }
    if plan.planner == "code" {
        // A program chose the skills: there are no scores to show.
        for (i, s) in plan.steps.iter().enumerate() {
            let result = match (plan_only, s.success) {
                (true, _) => "",
                (false, true) => "succeeded",
                (false, false) => "FAILED",
            };
            println!("  {:<3} {:<36} {result}", i + 1, s.skill);
        }
    } else {
        print_steps(plan, plan_only);
    }
    print_outcome(plan);
}

/// A program under `title`, each line escaped (no control or bidi
/// character reaches the terminal).
fn print_program(title: &str, program: &str) {
    println!("{title}");
    for line in program.lines() {
        println!("  | {}", guard::escape(line));
    }
}

/// SayCan's steps with their scores.
fn print_steps(plan: &ganglion::lang::saycan::Plan, plan_only: bool) {
    println!(
        "  {:<3} {:<28} {:>7} {:>10} {:>8} {:>7}  {}",
        "#",
        "skill",
        "LM",
        "affordance",
        "progress",
        "score",
        if plan_only { "" } else { "result" }
    );
    for (i, s) in plan.steps.iter().enumerate() {
        let result = match (plan_only, s.success) {
            (true, _) => "",
            (false, true) => "succeeded",
            (false, false) => "FAILED",
        };
        println!(
            "  {:<3} {:<28} {:>7.3} {:>10.3} {:>8.2} {:>7.3}  {result}",
            i + 1,
            s.skill,
            s.lm,
            s.affordance,
            s.progress,
            s.score
        );
    }
}

fn print_outcome(plan: &ganglion::lang::saycan::Plan) {
    let verdict = match plan.outcome {
        ganglion::lang::saycan::Outcome::Refused => "REFUSED (nothing moved)",
        ganglion::lang::saycan::Outcome::Stopped => "stopped as asked (nothing moved)",
        _ if plan.success => "succeeded",
        _ => "FAILED",
    };
    println!("outcome      {verdict}");
    println!("stopped      {}", guard::escape(&plan.stopped_because));
    println!("final state");
    if let Some(m) = plan.final_state.as_object() {
        for (o, p) in m {
            println!("  {o:<14} {}", p.as_str().unwrap_or(""));
        }
    }
}
