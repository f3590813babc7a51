//! The SayCan planner. At each step every grounded candidate skill (each
//! template filled with the scene's objects, plus `done`) gets
//! `score = p_LM(skill | prompt, instruction, steps so far) × affordance(skill,
//! state)`; the best is executed and appended to the history, until `done`,
//! a step limit, or nothing scores above the threshold. p_LM is the softmax
//! over the candidates of the scorer's length-normalised log-likelihoods. The
//! planner can only emit skills from the registry (`Skill::candidates`).
//! Before any step the instruction is checked (`guard`), grounded (`ground`)
//! and parsed into goals (`parse`): anything unreadable, unknown, absent or
//! impossible stops the plan before anything moves, with the reason; "stop"
//! and "do nothing" end it at once, as a success. A success detector
//! (`goals`, after Inner Monologue's scene feedback) multiplies a third
//! factor in: `done` is unlikely until the goals hold, and moving anything
//! they do not ask to move is forbidden. The 135M model alone does not know
//! when to stop (it scores `done` below one more pick even right after the
//! task is complete); a plan that reaches the step limit is a failure.
//! `Ablation` switches one factor off to measure it (`docs/language.md`).

use std::time::Instant;

use anyhow::Result;
use ganglion_sim::{SceneSpec, TabletopState};

use super::Scorer;
use super::ground::{Embedder, MatchThresholds, THRESHOLDS, ground};
use super::guard;
use super::parse::{Reading, read};
use crate::skills::affordance::Affordances;
use crate::skills::{Places, Skill, SkillRunner};

/// Where the planner's skills take effect: the simulated robot, or the
/// symbolic effects of the skills (`--plan-only`).
pub trait World {
    fn scene(&self) -> &SceneSpec;
    /// The state affordances are computed on.
    fn state(&mut self) -> Result<TabletopState>;
    fn places(&mut self) -> Result<Places>;
    /// Carries the skill out; whether it succeeded.
    fn execute(&mut self, skill: &Skill) -> Result<bool>;
    /// Carries the skill out; `Err(why)` inside when it did not succeed.
    fn execute_why(&mut self, skill: &Skill) -> Result<std::result::Result<(), String>> {
        Ok(if self.execute(skill)? {
            Ok(())
        } else {
            Err("it did not succeed".into())
        })
    }
    /// Brings the robot to its safe state (the arm still, the gripper as
    /// it is) after a plan or program ends or stops.
    fn come_to_rest(&mut self) -> Result<()> {
        Ok(())
    }
}

impl<T: World + ?Sized> World for Box<T> {
    fn scene(&self) -> &SceneSpec {
        (**self).scene()
    }
    fn state(&mut self) -> Result<TabletopState> {
        (**self).state()
    }
    fn places(&mut self) -> Result<Places> {
        (**self).places()
    }
    fn execute(&mut self, skill: &Skill) -> Result<bool> {
        (**self).execute(skill)
    }
    fn execute_why(&mut self, skill: &Skill) -> Result<std::result::Result<(), String>> {
        (**self).execute_why(skill)
    }
    fn come_to_rest(&mut self) -> Result<()> {
        (**self).come_to_rest()
    }
}

/// The simulated tabletop: skills run through the control loop.
pub struct SimWorld {
    pub runner: SkillRunner,
}

impl World for SimWorld {
    fn scene(&self) -> &SceneSpec {
        self.runner.scene()
    }
    fn state(&mut self) -> Result<TabletopState> {
        self.runner.state()
    }
    fn places(&mut self) -> Result<Places> {
        self.runner.places()
    }
    fn execute(&mut self, skill: &Skill) -> Result<bool> {
        Ok(self.runner.run(skill)?.outcome.success())
    }
    fn execute_why(&mut self, skill: &Skill) -> Result<std::result::Result<(), String>> {
        Ok(self.runner.run(skill)?.outcome.why(skill))
    }
    fn come_to_rest(&mut self) -> Result<()> {
        self.runner.come_to_rest()
    }
}

/// Symbolic effects only: the places change as the skills say, and the
/// state the affordances see is the start state with the objects moved to
/// their symbolic places (held blocks under the cup at home, blocks in a bowl
/// on its floor, stacked blocks on their base).
pub struct SymbolicWorld {
    scene: SceneSpec,
    start: TabletopState,
    places: Places,
    /// Blocks set down with `place it at`, and where.
    spots: Vec<(String, [f32; 2])>,
}

impl SymbolicWorld {
    pub fn new(scene: SceneSpec, start: TabletopState) -> SymbolicWorld {
        let places = Places::of(&start, &scene);
        SymbolicWorld {
            scene,
            start,
            places,
            spots: Vec::new(),
        }
    }
}

impl World for SymbolicWorld {
    fn scene(&self) -> &SceneSpec {
        &self.scene
    }
    fn state(&mut self) -> Result<TabletopState> {
        let mut s = imagine(&self.scene, &self.start, &self.places);
        for (name, p) in &self.spots {
            if let Some(i) = self
                .scene
                .blocks
                .iter()
                .position(|b| format!("{b} block") == *name)
                && self.places.get(name) == Some("table")
            {
                s.blocks[i] = [p[0], p[1], ganglion_sim::tabletop::scene::BLOCK_SIZE * 0.5];
            }
        }
        Ok(s)
    }
    fn places(&mut self) -> Result<Places> {
        Ok(self.places.clone())
    }
    fn execute(&mut self, skill: &Skill) -> Result<bool> {
        Ok(self.execute_why(skill)?.is_ok())
    }
    fn execute_why(&mut self, skill: &Skill) -> Result<std::result::Result<(), String>> {
        let state = self.state()?;
        if let Some(p) = skill.point() {
            let Some(h) = state.held else {
                return Ok(Err("no block is held".into()));
            };
            if let Some(why) =
                crate::skills::motion::table_spot_problem(&self.scene, &state, p, Some(h))
            {
                return Ok(Err(why));
            }
        }
        let held = self.places.holding();
        if skill
            .apply_symbolic(&self.scene, &mut self.places)
            .is_none()
        {
            return Ok(Err(format!(
                "its preconditions do not hold (holding: {})",
                held.as_deref().unwrap_or("nothing")
            )));
        }
        if let (Some(p), Some(h)) = (skill.point(), held) {
            self.spots.retain(|(n, _)| *n != h);
            self.spots.push((h, p));
        }
        Ok(Ok(()))
    }
}

/// A state consistent with symbolic `places`, built from `start`.
pub fn imagine(scene: &SceneSpec, start: &TabletopState, places: &Places) -> TabletopState {
    use ganglion_sim::tabletop::scene::{BLOCK_SIZE, BOWL_FLOOR};
    let mut s = start.clone();
    s.held = None;
    s.suction = false;
    let idx = |name: &str| {
        scene
            .blocks
            .iter()
            .position(|b| format!("{b} block") == name)
    };
    // Resolve bowls and the gripper first, then stacks bottom-up.
    for _ in 0..=scene.blocks.len() {
        for (obj, place) in &places.0 {
            let Some(i) = idx(obj) else { continue };
            if place == "gripper" {
                s.held = Some(i);
                s.suction = true;
                s.blocks[i] = [s.cup[0], s.cup[1], s.cup[2] - BLOCK_SIZE * 0.5];
            } else if let Some(bowl) = place.strip_suffix(" bowl") {
                if let Some(k) = scene.bowls.iter().position(|b| b == bowl) {
                    let c = s.bowls[k];
                    s.blocks[i] = [c[0], c[1], BOWL_FLOOR + BLOCK_SIZE * 0.5];
                }
            } else if let Some(below) = place.strip_prefix("on ")
                && let Some(j) = idx(below)
            {
                let p = s.blocks[j];
                s.blocks[i] = [p[0], p[1], p[2] + BLOCK_SIZE];
            } else if place == "table" && s.blocks[i][2] > BLOCK_SIZE {
                // Moved to the table symbolically: back to its start spot
                // if that was on the table, else leave it where it is.
                s.blocks[i][2] = BLOCK_SIZE * 0.5;
            }
        }
    }
    s
}

/// A part of the planner switched off, to measure what it contributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ablation {
    /// The full planner.
    #[default]
    Full,
    /// Every candidate gets the same LM score (p_LM uniform).
    UniformLm,
    /// Every affordance is 1.
    NoAffordance,
    /// No success detector: progress is 1 and `done` is not forced when the
    /// goals hold (the goal reader still refuses what it cannot read).
    NoDetector,
}

impl Ablation {
    /// Parses `none`, `uniform-lm`, `no-affordance` or `no-detector`.
    pub fn parse(s: &str) -> Result<Ablation> {
        Ok(match s {
            "none" | "full" | "" => Ablation::Full,
            "uniform-lm" => Ablation::UniformLm,
            "no-affordance" => Ablation::NoAffordance,
            "no-detector" => Ablation::NoDetector,
            _ => anyhow::bail!(
                "--ablate `{s}`: expected none, uniform-lm, no-affordance or no-detector"
            ),
        })
    }
}

/// Planner settings.
#[derive(Clone, Debug)]
pub struct PlannerConfig {
    pub max_steps: usize,
    /// Stop when the best combined score is below this.
    pub threshold: f32,
    pub ablation: Ablation,
    /// How sure a MiniLM match of a word outside the lexicon must be.
    pub match_thresholds: MatchThresholds,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            max_steps: 10,
            threshold: 0.01,
            ablation: Ablation::Full,
            match_thresholds: THRESHOLDS,
        }
    }
}

/// One planned (and, in the sim, executed) step.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PlanStep {
    pub skill: String,
    /// Mean per-token log-likelihood of the skill text.
    pub lm_logprob: f32,
    /// Its softmax share among the candidates.
    pub lm: f32,
    pub affordance: f32,
    /// The success detector's factor: 1, or small for `done` before the
    /// instruction's goals hold, 0 for moving what must not move.
    pub progress: f32,
    pub score: f32,
    pub success: bool,
    /// Seconds spent choosing this step (scoring + affordances).
    pub plan_seconds: f64,
}

/// How a plan ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The goals hold and the plan said `done`.
    Done,
    /// The instruction asked for no motion; nothing moved.
    Stopped,
    /// Refused before any motion.
    Refused,
    /// `done` was chosen, or nothing scored above the threshold, with the
    /// goals not reached.
    Failed,
    /// The step limit came first.
    StepLimit,
}

/// A finished plan.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Plan {
    /// The instruction, escaped for printing (control and bidi characters
    /// as `\u{…}`), cut to 200 characters.
    pub instruction: String,
    /// The instruction in the scene's words (what the LM saw).
    pub grounded: String,
    /// The goals read from it, as (object, place).
    pub goals: Vec<(String, String)>,
    /// Blocks it says must not move.
    pub keep: Vec<String>,
    /// How words outside the lexicon were matched.
    pub matched: Vec<String>,
    pub steps: Vec<PlanStep>,
    pub final_state: serde_json::Value,
    /// Where each block ends on the table plane, `{object: [x, y]}` (m).
    pub final_xy: serde_json::Value,
    pub stopped_because: String,
    pub outcome: Outcome,
    /// True when the planner stopped before moving anything because it
    /// would not act on the instruction.
    pub refused: bool,
    /// The instruction was carried out: the goals hold (or no motion was
    /// asked for and none happened).
    pub success: bool,
    /// `saycan` or `code`: which planner made the plan.
    pub planner: &'static str,
    /// The program the code planner wrote (and ran, unless refused).
    pub program: Option<String>,
}

/// `{block: [x, y]}` for every block of `world`'s scene (metres, rounded
/// to the millimetre).
pub fn block_xy(world: &mut dyn World) -> Result<serde_json::Value> {
    let state = world.state()?;
    let scene = world.scene();
    let mut m = serde_json::Map::new();
    for (b, p) in scene.blocks.iter().zip(&state.blocks) {
        let r = |v: f32| ((v as f64) * 1000.0).round() / 1000.0;
        m.insert(format!("{b} block"), serde_json::json!([r(p[0]), r(p[1])]));
    }
    Ok(serde_json::Value::Object(m))
}

impl Plan {
    /// A plan that refused before any motion, by `planner`, with `why`
    /// (and the program it would not run, if any).
    pub fn refusal(
        world: &mut dyn World,
        planner: &'static str,
        shown: &str,
        grounded: String,
        matched: Vec<String>,
        why: String,
        program: Option<String>,
    ) -> Result<Plan> {
        Ok(Plan {
            instruction: shown.to_string(),
            grounded,
            goals: Vec::new(),
            keep: Vec::new(),
            matched,
            steps: Vec::new(),
            final_state: world.places()?.to_json(),
            final_xy: block_xy(world)?,
            stopped_because: why,
            outcome: Outcome::Refused,
            refused: true,
            success: false,
            planner,
            program,
        })
    }
}

/// Plans (and executes, in `world`) `instruction`.
pub fn plan(
    instruction: &str,
    world: &mut dyn World,
    scorer: &mut dyn Scorer,
    affordances: &mut Affordances,
    embedder: Option<&mut dyn Embedder>,
    cfg: &PlannerConfig,
) -> Result<Plan> {
    let scene = world.scene().clone();
    let shown = guard::quote(instruction, 200);
    let refusal = |world: &mut dyn World, why: String, grounded: String| -> Result<Plan> {
        Plan::refusal(world, "saycan", &shown, grounded, Vec::new(), why, None)
    };
    if let Some(why) = guard::check(instruction) {
        return refusal(world, why, String::new());
    }
    let grounded = match ground(instruction, &scene, embedder, &cfg.match_thresholds)? {
        Ok(g) => g,
        Err(why) => return refusal(world, why, String::new()),
    };
    let start = world.places()?;
    let goals = match read(&grounded.tokens, &scene, &start) {
        Reading::Act(g) => g,
        Reading::Refuse(why) => return refusal(world, why, grounded.text.clone()),
        Reading::Stop(why) => {
            let mut p = refusal(world, why, grounded.text.clone())?;
            p.outcome = Outcome::Stopped;
            p.refused = false;
            p.success = true;
            p.matched = grounded.matched;
            return Ok(p);
        }
    };
    let mut objects: Vec<String> = scene.blocks.iter().map(|b| format!("{b} block")).collect();
    objects.extend(scene.bowls.iter().map(|b| format!("{b} bowl")));
    scorer.set_scene(Some(objects.join(", ")));
    let finish = |world: &mut dyn World,
                  steps: Vec<PlanStep>,
                  why: String,
                  outcome: Outcome,
                  history: &[String]|
     -> Result<Plan> {
        let places = world.places()?;
        let success = outcome == Outcome::Done && goals.satisfied(&places, history);
        Ok(Plan {
            instruction: shown.clone(),
            grounded: grounded.text.clone(),
            goals: goals.goals.clone(),
            keep: goals.keep.clone(),
            matched: grounded.matched.clone(),
            steps,
            final_state: places.to_json(),
            final_xy: block_xy(world)?,
            stopped_because: why,
            outcome: if outcome == Outcome::Done && !success {
                Outcome::Failed
            } else {
                outcome
            },
            refused: outcome == Outcome::Refused,
            success,
            planner: "saycan",
            program: None,
        })
    };
    let detector = cfg.ablation != Ablation::NoDetector;
    let candidates = Skill::candidates(&scene);
    let texts: Vec<String> = candidates.iter().map(Skill::text).collect();
    let mut history: Vec<String> = Vec::new();
    let mut steps: Vec<PlanStep> = Vec::new();
    for _ in 0..cfg.max_steps {
        let t0 = Instant::now();
        let lm = if cfg.ablation == Ablation::UniformLm {
            vec![0.0; texts.len()]
        } else {
            scorer.score(&grounded.text, &history, &texts)?
        };
        let probs = softmax(&lm);
        let state = world.state()?;
        let places = world.places()?;
        let mut best: Option<(usize, f32, f32, f32)> = None;
        for (k, skill) in candidates.iter().enumerate() {
            let a = if cfg.ablation == Ablation::NoAffordance {
                1.0
            } else {
                affordances.predict(skill, &scene, &state)?
            };
            let f = if detector {
                goals.progress(skill, &places, &history)
            } else {
                1.0
            };
            // The same pick/place pair a third time is motion without
            // progress: never chosen.
            let r = if repeats_pair(&history, &texts[k]) {
                0.0
            } else {
                1.0
            };
            let score = probs[k] * a * f * r;
            if best.is_none_or(|(_, s, _, _)| score > s) {
                best = Some((k, score, a, f));
            }
        }
        // When the success detector sees every goal hold, the plan is done
        // (the small LM rarely puts `done` first on its own).
        if detector
            && goals.satisfied(&places, &history)
            && let Some(d) = candidates.iter().position(|c| *c == Skill::Done)
        {
            let a = affordances.predict(&Skill::Done, &scene, &state)?;
            best = Some((d, probs[d] * a, a, 1.0));
        }
        let plan_seconds = t0.elapsed().as_secs_f64();
        let Some((k, score, affordance, progress)) = best else {
            return finish(
                world,
                steps,
                "no candidate skills".into(),
                Outcome::Failed,
                &history,
            );
        };
        // `done` chosen by the success detector ends the plan whatever the
        // LM thinks of it; anything else must clear the threshold.
        if score < cfg.threshold && candidates[k] != Skill::Done {
            let why = format!(
                "no skill scores above the threshold {:.2} (best: `{}` at {score:.3})",
                cfg.threshold, texts[k]
            );
            let outcome = if steps.is_empty() {
                Outcome::Refused
            } else {
                Outcome::Failed
            };
            return finish(world, steps, why, outcome, &history);
        }
        let skill = &candidates[k];
        let success = if *skill == Skill::Done {
            true
        } else {
            world.execute(skill)?
        };
        steps.push(PlanStep {
            skill: texts[k].clone(),
            lm_logprob: lm[k],
            lm: probs[k],
            affordance,
            progress,
            score,
            success,
            plan_seconds,
        });
        if *skill == Skill::Done {
            return finish(world, steps, "done".into(), Outcome::Done, &history);
        }
        history.push(texts[k].clone());
    }
    finish(
        world,
        steps,
        format!(
            "step limit ({}) reached before the goals held: a failure",
            cfg.max_steps
        ),
        Outcome::StepLimit,
        &history,
    )
}

/// How often a plan may run the same pick/place pair.
pub const MAX_PAIR_REPEATS: usize = 2;

/// Whether `next` after `history` would run a pick/place pair (the last
/// step and `next`) for the `MAX_PAIR_REPEATS + 1`-th time.
pub fn repeats_pair(history: &[String], next: &str) -> bool {
    let Some(last) = history.last() else {
        return false;
    };
    let runs = history
        .windows(2)
        .filter(|w| w[0] == *last && w[1] == next)
        .count();
    runs >= MAX_PAIR_REPEATS
}

/// Softmax of log-likelihoods into a distribution over the candidates.
pub fn softmax(x: &[f32]) -> Vec<f32> {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !m.is_finite() {
        return vec![1.0 / x.len().max(1) as f32; x.len()];
    }
    let e: Vec<f32> = x.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}
