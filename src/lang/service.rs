//! The planner as a service: its models opened once (`PlannerParts`), and
//! the two ways a plan meets a world: with the skills' symbolic effects
//! (`plan_symbolic`), or in a planner thread that asks the thread owning the
//! robot to run each skill (`plan_and_execute`, the control thread keeps the
//! simulator or hardware; the planner only sends requests over a channel).

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use crossbeam::channel::{Receiver, Sender, bounded};
use ganglion_sim::{SceneSpec, TabletopState, TabletopWorld};

use super::code_plan::{CodeParts, PlannerKind, Route, Task, route};
use super::ground::{Embedder, THRESHOLDS};
use super::saycan::{Ablation, Plan, PlannerConfig, SymbolicWorld, World, plan};
use super::{LmSpec, MiniLm, Scorer};
use crate::skills::affordance::Affordances;
use crate::skills::{Places, Skill, SkillRunner};

/// What the planner is built from (the `say`/`eval-lang` options).
#[derive(Clone, Debug)]
pub struct PlannerOptions {
    /// `default`, `gguf:PATH` or `openai:URL[#MODEL]` (see `LmSpec`).
    pub lm: String,
    /// Match words outside the lexicon with MiniLM; `false` refuses them.
    pub minilm: bool,
    /// `none`, `uniform-lm`, `no-affordance` or `no-detector`.
    pub ablate: String,
    pub max_steps: usize,
    /// Stop (or refuse) when no skill's combined score reaches this.
    pub threshold: f32,
    /// The folder holding the affordance models.
    pub affordances: PathBuf,
    /// `saycan`, `code` or `auto` (see `PlannerKind`).
    pub planner: String,
    /// The coder's adapters (its card beside them).
    pub coder: PathBuf,
    /// The coder's base model (GGUF); default: the fetched SmolLM2.
    pub coder_base: Option<PathBuf>,
    /// `taught` or `few-shot` (see `WriterKind`).
    pub coder_prompt: String,
    /// The sandbox limits for generated programs.
    pub program_limits: crate::program::Limits,
}

impl Default for PlannerOptions {
    fn default() -> Self {
        PlannerOptions {
            lm: "default".into(),
            minilm: true,
            ablate: "none".into(),
            max_steps: 10,
            threshold: 0.01,
            affordances: "models".into(),
            planner: "saycan".into(),
            coder: crate::repo_path(CODER_ADAPTER),
            coder_base: None,
            coder_prompt: "taught".into(),
            program_limits: crate::program::Limits::default(),
        }
    }
}

/// The coder's adapters, in the repository.
pub const CODER_ADAPTER: &str = "models/coder.lora";

/// The planner's models, opened once.
pub struct PlannerParts {
    pub scorer: Box<dyn Scorer>,
    pub affordances: Affordances,
    pub matcher: Option<MiniLm>,
    pub config: PlannerConfig,
    pub kind: PlannerKind,
    /// The code planner's coder (loaded on first use) and limits.
    pub code: CodeParts,
}

impl PlannerParts {
    /// Opens the language model, the affordances and (unless
    /// `o.minilm` is false) MiniLM.
    pub fn open(o: &PlannerOptions) -> Result<PlannerParts> {
        let lm = LmSpec::parse(&o.lm)?;
        let writer_kind = super::code_plan::WriterKind::parse(&o.coder_prompt, &lm)?;
        let scorer = lm.open()?;
        let affordances = Affordances::load(&o.affordances)?;
        let matcher = if o.minilm {
            let dir = super::fetch::default_dir();
            Some(MiniLm::load_default(&dir).context(
                "loading MiniLM for word matching (run `ganglion models fetch`, or pass --minilm false)",
            )?)
        } else {
            None
        };
        let kind = PlannerKind::parse(&o.planner)?;
        let base = match &o.coder_base {
            Some(b) => b.clone(),
            None => super::fetch::default_dir().join(super::fetch::SMOLLM2_GGUF),
        };
        let mut code = CodeParts::new(base, o.coder.clone(), o.program_limits.clone());
        code.writer_kind = writer_kind;
        Ok(PlannerParts {
            kind,
            code,
            scorer,
            affordances,
            matcher,
            config: PlannerConfig {
                max_steps: o.max_steps,
                threshold: o.threshold,
                ablation: Ablation::parse(&o.ablate)?,
                match_thresholds: THRESHOLDS,
            },
        })
    }

    /// Plans (and executes, in `world`) `instruction` with the chosen
    /// planner.
    pub fn plan_in<W: World + 'static>(&mut self, instruction: &str, mut world: W) -> Result<Plan> {
        if self.kind == PlannerKind::SayCan {
            return self.plan(instruction, &mut world);
        }
        let scene = world.scene().clone();
        let places = world.places()?;
        let matcher = self.matcher.as_mut().map(|m| m as &mut dyn Embedder);
        let routed = route(
            self.kind,
            instruction,
            &scene,
            &places,
            matcher,
            &self.config.match_thresholds,
        )?;
        match routed {
            Route::SayCan => {
                let mut plan = self.plan(instruction, &mut world)?;
                // A refusal or stop by the shared front is the code
                // planner's own when it was asked for.
                if self.kind == PlannerKind::Code && plan.steps.is_empty() {
                    plan.planner = "code";
                }
                Ok(plan)
            }
            Route::Program {
                grounded,
                input,
                named,
                goals,
            } => {
                let task = Task {
                    instruction,
                    grounded: &grounded,
                    named: &named,
                    goals: goals.as_ref(),
                };
                self.code.plan(&task, &input, world)
            }
        }
    }

    /// Plans with SayCan, whatever `kind` says.
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
    Rest,
}

enum Reply {
    State(Result<TabletopState>),
    Places(Result<Places>),
    Executed(Result<std::result::Result<(), String>>),
    Rested(Result<()>),
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
        Ok(self.execute_why(skill)?.is_ok())
    }
    fn execute_why(&mut self, skill: &Skill) -> Result<std::result::Result<(), String>> {
        match self.ask(Request::Execute(skill.clone()))? {
            Reply::Executed(r) => r,
            _ => Err(anyhow!("the control thread answered out of turn")),
        }
    }
    fn come_to_rest(&mut self) -> Result<()> {
        match self.ask(Request::Rest)? {
            Reply::Rested(r) => r,
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
    let world = ChannelWorld {
        scene: runner.scene().clone(),
        to_control,
        from_control,
    };
    std::thread::scope(|s| {
        let planner = std::thread::Builder::new()
            .name("planner".into())
            .spawn_scoped(s, move || parts.plan_in(instruction, world))
            .context("starting the planner thread")?;
        for req in requests.iter() {
            let reply = match req {
                Request::State => Reply::State(runner.state()),
                Request::Places => Reply::Places(runner.places()),
                Request::Execute(skill) => {
                    Reply::Executed(runner.run(&skill).map(|r| r.outcome.why(&skill)))
                }
                Request::Rest => Reply::Rested(runner.come_to_rest()),
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
    plan_symbolic_in(parts, instruction, scene, start)
}

/// Plans `instruction` with the skills' symbolic effects from `start` (e.g.
/// a perceived state and the scene perception found).
pub fn plan_symbolic_in(
    parts: &mut PlannerParts,
    instruction: &str,
    scene: &SceneSpec,
    start: TabletopState,
) -> Result<Plan> {
    let world = SymbolicWorld::new(scene.clone(), start);
    parts.plan_in(instruction, world)
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
        "planner": plan.planner,
        "program": plan.program,
        "final_xy": plan.final_xy,
    })
}
