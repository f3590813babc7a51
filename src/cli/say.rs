//! `ganglion say`: plan an instruction with the SayCan planner and execute it
//! on the simulated tabletop. The planner (language model, affordances)
//! runs in its own service thread; the skills run through the control loop
//! on the calling thread, which answers the planner's requests for the state
//! and for executions over channels. No planning happens inside a tick.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use crossbeam::channel::{Receiver, Sender, bounded};
use ganglion_sim::{SceneSpec, TabletopState, TabletopWorld};

use super::repo_path;
use crate::lang::ground::{Embedder, THRESHOLDS};
use crate::lang::guard;
use crate::lang::saycan::{Ablation, Plan, PlannerConfig, SymbolicWorld, World, plan};
use crate::lang::{LmSpec, MiniLm, Scorer};
use crate::skills::affordance::Affordances;
use crate::skills::executor::REACH_MODEL;
use crate::skills::{Places, Skill, SkillRunner};

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
}

/// The planner's models, opened once.
pub struct PlannerParts {
    pub scorer: Box<dyn Scorer>,
    pub affordances: Affordances,
    pub matcher: Option<MiniLm>,
    pub config: PlannerConfig,
}

impl PlannerParts {
    pub fn open(a: &LmArgs) -> Result<PlannerParts> {
        let scorer = LmSpec::parse(&a.lm)?.open()?;
        let affordances = Affordances::load(&repo_path(&a.affordances.to_string_lossy()))?;
        let matcher = if a.minilm {
            let dir = crate::lang::fetch::default_dir();
            Some(MiniLm::load_default(&dir).context(
                "loading MiniLM for word matching (run `ganglion models fetch`, or pass --minilm false)",
            )?)
        } else {
            None
        };
        Ok(PlannerParts {
            scorer,
            affordances,
            matcher,
            config: PlannerConfig {
                max_steps: a.max_steps,
                threshold: a.threshold,
                ablation: Ablation::parse(&a.ablate)?,
                match_thresholds: THRESHOLDS,
            },
        })
    }

    pub fn plan(&mut self, instruction: &str, world: &mut dyn World) -> Result<Plan> {
        let matcher = self.matcher.as_mut().map(|m| m as &mut dyn Embedder);
        plan(
            instruction,
            world,
            self.scorer.as_mut(),
            &mut self.affordances,
            matcher,
            &self.config,
        )
    }
}

/// What the control thread is asked by the planner thread.
enum Request {
    State,
    Places,
    Execute(Skill),
}

enum Reply {
    State(Result<TabletopState>),
    Places(Result<Places>),
    Executed(Result<bool>),
}

/// The planner's view of the robot: requests to the control thread.
struct ChannelWorld {
    scene: SceneSpec,
    to_control: Sender<Request>,
    from_control: Receiver<Reply>,
}

impl ChannelWorld {
    fn ask(&self, r: Request) -> Result<Reply> {
        self.to_control
            .send(r)
            .map_err(|_| anyhow!("the control thread has stopped"))?;
        self.from_control
            .recv()
            .map_err(|_| anyhow!("the control thread has stopped"))
    }
}

impl World for ChannelWorld {
    fn scene(&self) -> &SceneSpec {
        &self.scene
    }
    fn state(&mut self) -> Result<TabletopState> {
        match self.ask(Request::State)? {
            Reply::State(s) => s,
            _ => Err(anyhow!("the control thread answered out of turn")),
        }
    }
    fn places(&mut self) -> Result<Places> {
        match self.ask(Request::Places)? {
            Reply::Places(p) => p,
            _ => Err(anyhow!("the control thread answered out of turn")),
        }
    }
    fn execute(&mut self, skill: &Skill) -> Result<bool> {
        match self.ask(Request::Execute(skill.clone()))? {
            Reply::Executed(r) => r,
            _ => Err(anyhow!("the control thread answered out of turn")),
        }
    }
}

/// Plans `instruction` in a planner thread while this thread runs the
/// skills it asks for on `runner`.
pub fn plan_and_execute(
    parts: &mut PlannerParts,
    instruction: &str,
    runner: &mut SkillRunner,
) -> Result<Plan> {
    let (to_control, requests) = bounded::<Request>(1);
    let (replies, from_control) = bounded::<Reply>(1);
    let mut world = ChannelWorld {
        scene: runner.scene().clone(),
        to_control,
        from_control,
    };
    std::thread::scope(|s| {
        let planner = std::thread::Builder::new()
            .name("planner".into())
            .spawn_scoped(s, move || {
                let r = parts.plan(instruction, &mut world);
                drop(world);
                r
            })
            .context("starting the planner thread")?;
        for req in requests.iter() {
            let reply = match req {
                Request::State => Reply::State(runner.state()),
                Request::Places => Reply::Places(runner.places()),
                Request::Execute(skill) => {
                    Reply::Executed(runner.run(&skill).map(|r| r.outcome.success()))
                }
            };
            if replies.send(reply).is_err() {
                break;
            }
        }
        planner
            .join()
            .map_err(|_| anyhow!("the planner thread panicked"))?
    })
}

/// Plans `instruction` with the skills' symbolic effects only.
pub fn plan_symbolic(
    parts: &mut PlannerParts,
    instruction: &str,
    scene: &SceneSpec,
    seed: u64,
) -> Result<Plan> {
    let start = TabletopWorld::new(scene, seed).state();
    let mut world = SymbolicWorld::new(scene.clone(), start);
    parts.plan(instruction, &mut world)
}

pub fn run(a: SayArgs) -> Result<()> {
    let scene = match &a.scene {
        Some(s) => {
            SceneSpec::parse(s).with_context(|| format!("--scene \"{}\"", guard::escape(s)))?
        }
        None => SceneSpec::random(a.seed),
    };
    let mut parts = PlannerParts::open(&a.lm)?;
    let plan = if a.plan_only {
        plan_symbolic(&mut parts, &a.instruction, &scene, a.seed)?
    } else {
        let reach = repo_path(&a.lm.reach.to_string_lossy());
        let mut runner = SkillRunner::new(&scene, a.seed, &reach)?;
        plan_and_execute(&mut parts, &a.instruction, &mut runner)?
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&plan_json(&plan))?);
        return Ok(());
    }
    // `plan.instruction` is already escaped: no control or bidi character
    // reaches the terminal.
    println!("instruction  {}", plan.instruction);
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
    println!(
        "  {:<3} {:<28} {:>7} {:>10} {:>8} {:>7}  {}",
        "#",
        "skill",
        "LM",
        "affordance",
        "progress",
        "score",
        if a.plan_only { "" } else { "result" }
    );
    for (i, s) in plan.steps.iter().enumerate() {
        let result = match (a.plan_only, s.success) {
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
    let verdict = match plan.outcome {
        crate::lang::saycan::Outcome::Refused => "REFUSED (nothing moved)",
        crate::lang::saycan::Outcome::Stopped => "stopped as asked (nothing moved)",
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
    Ok(())
}

/// The `--json` shape: `{instruction, grounded, steps: [{skill, lm,
/// affordance, score, success}], final_state, stopped_because, refused,
/// outcome, success, goals, keep, matched}`; `instruction` is escaped.
pub fn plan_json(plan: &Plan) -> serde_json::Value {
    serde_json::json!({
        "instruction": plan.instruction,
        "grounded": plan.grounded,
        "steps": plan.steps.iter().map(|s| serde_json::json!({
            "skill": s.skill, "lm": s.lm, "lm_logprob": s.lm_logprob,
            "affordance": s.affordance, "progress": s.progress, "score": s.score, "success": s.success,
            "plan_seconds": s.plan_seconds,
        })).collect::<Vec<_>>(),
        "final_state": plan.final_state,
        "stopped_because": plan.stopped_because,
        "refused": plan.refused,
        "outcome": plan.outcome,
        "success": plan.success,
        "goals": plan.goals,
        "keep": plan.keep,
        "matched": plan.matched,
    })
}
