//! The code planner (Code as Policies, Liang et al. 2022): the taught coder
//! (`coder`) writes a program over the robot API for the instruction in the
//! scene's words, the sandbox (`crate::program`) checks it against the scene,
//! `consistency` against the instruction's words, a dry run on symbolic
//! effects against the task, and only then does it run; the skills it ran
//! become the plan's steps.
//!
//! Both planners share the front: the guard, grounding (unknown words and
//! absent objects are refused) and the goal reader. `route` decides from
//! them: a request for no motion, a refusal with no spatial word in it (an
//! ambiguity, a contradiction, an impossible goal) and, under `auto`, any
//! instruction the goal reader understands go to SayCan; an instruction with
//! spatial words (closest, left of, between, 10 cm, corner) that the reader
//! refuses goes to the coder, and under `code` so does everything the reader
//! understands.

use std::path::PathBuf;

use anyhow::{Result, bail};
use ganglion_sim::{SceneSpec, TabletopState};

use super::clearing::clearing_prologue;
use super::coder::generate::{Coder, Constraint, Generated};
use super::coder::grammar::ProgramGrammar;
use super::consistency;
use super::goals::Goals;
use super::ground::{Embedder, Grounded, MatchThresholds, Token, ground};
use super::guard;
use super::lexicon::{CODER_RELATIONS, Class};
use super::openai::OpenAiScorer;
use super::parse::{Reading, read};
use super::saycan::{Outcome, Plan, PlanStep, SymbolicWorld, World, block_xy};
use crate::program::{self, Limits};
use crate::skills::Places;

/// Which planner turns instructions into skills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlannerKind {
    /// One skill at a time, LM relevance × learned affordance.
    SayCan,
    /// A program written by the taught coder, run in the sandbox.
    Code,
    /// SayCan when its goal reader understands the instruction, else code.
    Auto,
}

impl PlannerKind {
    pub fn parse(s: &str) -> Result<PlannerKind> {
        Ok(match s {
            "saycan" => PlannerKind::SayCan,
            "code" => PlannerKind::Code,
            "auto" => PlannerKind::Auto,
            other => bail!("--planner `{other}`: expected saycan, code or auto"),
        })
    }
}

/// The most tokens the coder may write for one program.
pub const MAX_PROGRAM_TOKENS: usize = 256;

/// How many rewrites of a refused program are tried (`CodeParts::plan`).
pub const RETRIES: usize = 4;

/// Sees a checked program before it runs.
pub type ProgramHook = Box<dyn FnMut(&str) + Send>;

/// Who writes the programs.
#[derive(Clone, Debug, PartialEq)]
pub enum WriterKind {
    /// The taught coder: the base model with the adapters merged.
    Taught,
    /// The base model alone with the few-shot prompt (`coder::fewshot`).
    FewShot,
    /// A completion server (`--lm openai:URL[#MODEL]`) with the few-shot
    /// prompt; its programs face the same checks, without the grammar.
    Server { url: String, model: Option<String> },
}

impl WriterKind {
    /// `taught` or `few-shot` (`--coder-prompt`), for the language model
    /// `lm` names (a server always gets the few-shot prompt).
    pub fn parse(prompt: &str, lm: &super::LmSpec) -> Result<WriterKind> {
        Ok(match (prompt, lm) {
            (_, super::LmSpec::OpenAi { url, model }) => WriterKind::Server {
                url: url.clone(),
                model: model.clone(),
            },
            ("taught", _) => WriterKind::Taught,
            ("few-shot", _) => WriterKind::FewShot,
            (other, _) => bail!("--coder-prompt `{other}`: expected taught or few-shot"),
        })
    }
}

/// A loaded writer.
enum Writer {
    Local(Box<Coder>),
    Server(OpenAiScorer),
}

/// The coder (opened on first use: refusals never pay for it) and the
/// sandbox limits its programs run under.
pub struct CodeParts {
    pub base: PathBuf,
    pub adapter: PathBuf,
    pub limits: Limits,
    pub writer_kind: WriterKind,
    /// Sees each program after its check, before it runs (`say` prints it).
    pub on_program: Option<ProgramHook>,
    writer: Option<Writer>,
}

impl CodeParts {
    pub fn new(base: PathBuf, adapter: PathBuf, limits: Limits) -> CodeParts {
        CodeParts {
            base,
            adapter,
            limits,
            writer_kind: WriterKind::Taught,
            on_program: None,
            writer: None,
        }
    }

    /// Loads the writer unless it is.
    fn load(&mut self) -> Result<()> {
        if self.writer.is_none() {
            self.writer = Some(match &self.writer_kind {
                WriterKind::Taught => {
                    Writer::Local(Box::new(Coder::load(&self.base, &self.adapter)?))
                }
                WriterKind::FewShot => Writer::Local(Box::new(Coder::load_few_shot(&self.base)?)),
                WriterKind::Server { url, model } => {
                    Writer::Server(OpenAiScorer::new(url, model.clone())?)
                }
            });
        }
        Ok(())
    }

    /// Writes the program for a routed instruction, checks it (it parses,
    /// names only the API and the scene's objects, and uses every object the
    /// instruction names) and runs it in `world`; a program that fails the
    /// check is refused before anything moves.
    ///
    /// A program the checks refuse is not the last word: the decoder's
    /// `RETRIES` closest choices are each taken the other way in turn (the
    /// program rewritten from there), and the first rewrite that passes
    /// every check runs. Each rewrite faces the same checks, so none runs
    /// that the first program could not have; the time is charged to the
    /// plan.
    pub fn plan<W: World + 'static>(
        &mut self,
        task: &Task,
        input: &str,
        mut world: W,
    ) -> Result<Plan> {
        self.load()?;
        let coder = match self.writer.as_ref() {
            Some(Writer::Local(c)) => c,
            Some(Writer::Server(server)) => {
                let t0 = std::time::Instant::now();
                let prompt = super::coder::fewshot::text(input)?;
                let program = server.complete(&prompt, MAX_PROGRAM_TOKENS, &["\n#", "\n\n\n"])?;
                let written = Generated {
                    program,
                    tokens: 0,
                    seconds: t0.elapsed().as_secs_f64(),
                    ids: Vec::new(),
                    forks: Vec::new(),
                };
                let hook = self.on_program.as_mut().map(|h| h as &mut dyn FnMut(&str));
                return plan_program(&written, &self.limits, hook, task, world);
            }
            None => bail!("the coder did not load"),
        };
        let now = (world.state()?, world.places()?);
        // Decoded under the scene's grammar; the end only where the
        // program passes the sandbox's check.
        let grammar = ProgramGrammar::for_scene(world.scene());
        let limits = &self.limits;
        let checks = |p: &str| program::check_source(p, &world, limits).is_ok();
        let constraint = Constraint {
            grammar: &grammar,
            checks: &checks,
        };
        let first = coder.generate_with(input, MAX_PROGRAM_TOKENS, Some(&constraint))?;
        let vetted = |g: &Generated| vet(&g.program, limits, task, &world, (&now.0, &now.1));
        let mut verdict = vetted(&first)?;
        let mut seconds = first.seconds;
        if matches!(verdict, Vetted::Refused { .. }) {
            for fork in first.closest_forks(RETRIES) {
                let g = coder.alternative(
                    input,
                    &first,
                    fork,
                    MAX_PROGRAM_TOKENS,
                    Some(&constraint),
                )?;
                seconds += g.seconds;
                let again = vetted(&g)?;
                if matches!(again, Vetted::Run(_)) {
                    verdict = again;
                    break;
                }
            }
        }
        let hook = self.on_program.as_mut().map(|h| h as &mut dyn FnMut(&str));
        run_vetted(verdict, seconds, &self.limits, hook, task, world)
    }
}

/// Where `route` sends an instruction.
#[derive(Debug)]
pub enum Route {
    /// SayCan plans it (or refuses it, or stops, with the shared front's
    /// reason).
    SayCan,
    /// The coder writes a program for `input` (the instruction with every
    /// named object in the scene's words); `named` are the scene objects the
    /// instruction names, which the program must use.
    Program {
        grounded: Grounded,
        input: String,
        named: Vec<String>,
        /// What the goal reader read, when it could: the program's result
        /// must meet it.
        goals: Option<Goals>,
    },
}

/// Whether the grounded instruction has a word only a program can serve.
fn spatial(g: &Grounded) -> bool {
    let words = || {
        g.tokens.iter().filter_map(|t| match t {
            Token::Word(w, c) => Some((w.as_str(), *c)),
            _ => None,
        })
    };
    let untaught =
        words().any(|(w, c)| c == Class::UnsupportedRel && !CODER_RELATIONS.contains(&w));
    !untaught
        && words().any(|(_, c)| matches!(c, Class::Spatial | Class::UnsupportedRel | Class::Middle))
}

/// Decides which planner serves `instruction` under `kind` (see the module
/// doc). `kind` must not be `SayCan`: that needs no routing.
pub fn route(
    kind: PlannerKind,
    instruction: &str,
    scene: &SceneSpec,
    places: &Places,
    emb: Option<&mut dyn Embedder>,
    t: &MatchThresholds,
) -> Result<Route> {
    if guard::check(instruction).is_some() {
        return Ok(Route::SayCan);
    }
    let grounded = match ground(instruction, scene, emb, t)? {
        Ok(g) => g,
        Err(_) => return Ok(Route::SayCan),
    };
    let (to_code, goals) = match read(&grounded.tokens, scene, places) {
        Reading::Stop(_) => (false, None),
        Reading::Act(g) => (kind == PlannerKind::Code, Some(g)),
        Reading::Refuse(_) => (spatial(&grounded), None),
    };
    if !to_code {
        return Ok(Route::SayCan);
    }
    let (input, named) = coder_input(instruction, &grounded);
    Ok(Route::Program {
        grounded,
        input,
        named,
        goals,
    })
}

/// The instruction as the coder was taught to read it: lower case, one
/// space between words, each object mention in the scene's words ("the
/// crimson cube" → "the red block"). Also the scene objects it names.
pub fn coder_input(instruction: &str, g: &Grounded) -> (String, Vec<String>) {
    let mut text = instruction
        .to_lowercase()
        .replace(['\u{2019}', '`'], "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut named = Vec::new();
    let mut cursor = 0;
    for t in &g.tokens {
        let Token::Obj(m) = t else { continue };
        let Some(object) = m.object.as_ref().filter(|o| *o != "table" && !m.plural) else {
            continue;
        };
        if !named.contains(object) {
            named.push(object.clone());
        }
        if let Some(at) = text[cursor..].find(&m.text).map(|k| k + cursor) {
            text.replace_range(at..at + m.text.len(), object);
            cursor = at + object.len();
        }
    }
    (text, named)
}

/// A plan that refused before any motion.
fn refusal(
    shown: &str,
    grounded: &Grounded,
    program: Option<String>,
    why: String,
    world: &mut dyn World,
) -> Result<Plan> {
    Plan::refusal(
        world,
        "code",
        shown,
        grounded.text.clone(),
        grounded.matched.clone(),
        why,
        program,
    )
}

/// What a program is written for: the instruction, its grounding, the
/// scene objects it names and, when the goal reader could read it, its
/// goals.
pub struct Task<'a> {
    pub instruction: &'a str,
    pub grounded: &'a Grounded,
    pub named: &'a [String],
    pub goals: Option<&'a Goals>,
}

/// Where the dry run's end `end` (from `start`) breaks what the goal
/// reader read: a goal not reached or a kept block moved.
fn unmet(goals: &Goals, start: &Places, end: &Places) -> Option<String> {
    for (o, p) in &goals.goals {
        let got = end.get(o).unwrap_or("nowhere");
        if got != p {
            return Some(format!("the {o} would end in/on {got}, not {p}"));
        }
    }
    goals
        .keep
        .iter()
        .find(|k| start.get(k) != end.get(k))
        .map(|k| format!("it moves the {k}, which the instruction keeps still"))
}

/// Checks a written program against the scene, the instruction and a dry
/// run (see `CodeParts::plan`): the program to run (with any clearing
/// moves prepended), or why it is refused. Nothing moves: `start` and
/// `places` are the world's state now.
pub fn vet<W: World>(
    source: &str,
    limits: &Limits,
    task: &Task,
    world: &W,
    (start, places): (&TabletopState, &Places),
) -> Result<Vetted> {
    let Task {
        instruction,
        named,
        goals,
        ..
    } = *task;
    let source = source.trim().to_string();
    let refuse = |why: String| {
        Ok(Vetted::Refused {
            source: source.clone(),
            why,
        })
    };
    if let Err(stop) = program::check_source(&source, world, limits) {
        return refuse(format!("the program written for it does not check: {stop}"));
    }
    let names = program::check::Names::of(world.scene());
    let objects: Vec<String> = names.blocks.into_iter().chain(names.bowls).collect();
    if let Some(why) = consistency::mismatch(instruction, &source, named, &objects) {
        return refuse(format!(
            "the program written for it does not answer it ({why}): not run"
        ));
    }
    // A dry run on the skills' symbolic effects: a program that would stop
    // part-way (a spot out of reach, a limit, a failed precondition) is
    // refused before the arm moves instead of leaving the task half done.
    // A program that stops because the gripper holds a block, or a block it
    // picks by name is under another, gets those cleared to free table
    // spots first (as SayCan does with its affordances); the clearing is
    // part of the program, printed and run with it.
    let dry_run = |src: &str| {
        program::run(
            src,
            SymbolicWorld::new(world.scene().clone(), start.clone()),
            limits,
        )
        .0
    };
    let mut dry = dry_run(&source);
    let mut run = source.clone();
    if dry.stop.is_some() {
        let prologue = clearing_prologue(world.scene(), start, &source);
        if !prologue.is_empty() {
            let cleared = format!("{prologue}{source}");
            let again = dry_run(&cleared);
            if again.stop.is_none() {
                (run, dry) = (cleared, again);
            }
        }
    }
    if let Some(stop) = dry.stop {
        return Ok(Vetted::Refused {
            source: run,
            why: format!("a dry run of the program written for it stops: {stop}; not run"),
        });
    }
    // What the goal reader read, the program's result must meet (a tower
    // built upside down, a block the instruction keeps still moved).
    if let Some(why) = goals.and_then(|g| unmet(g, places, &dry.final_state)) {
        return Ok(Vetted::Refused {
            source: run,
            why: format!(
                "a dry run of the program written for it misses the goals: {why}; not run"
            ),
        });
    }
    // A block the instruction keeps still is named but not used; so is
    // where a block the program moves is now ("take the green block out of
    // the green bowl and put it in the blue bowl").
    let kept = |n: &String| goals.is_some_and(|g| g.keep.contains(n));
    let holds_a_mover = |n: &String| {
        places.0.iter().any(|(block, place)| {
            (place == n || place.strip_prefix("on ") == Some(n.as_str()))
                && run.contains(&format!("pick(\"{block}\")"))
        })
    };
    if let Some(missing) = named
        .iter()
        .find(|n| !kept(n) && !holds_a_mover(n) && !run.contains(&format!("\"{n}\"")))
    {
        return Ok(Vetted::Refused {
            source: run,
            why: format!(
                "the program written for it never uses the {missing}, which the instruction names: not run"
            ),
        });
    }
    Ok(Vetted::Run(run))
}

/// What `vet` made of a program.
#[derive(Clone, Debug, PartialEq)]
pub enum Vetted {
    /// Run this (the program, with any clearing moves first).
    Run(String),
    /// Refused, and why.
    Refused { source: String, why: String },
}

/// Checks a written program, dry-runs it and runs it in `world` (see
/// `CodeParts::plan`); public so a test can hand it any program as if the
/// coder wrote it.
pub fn plan_program<W: World + 'static>(
    generated: &Generated,
    limits: &Limits,
    on_program: Option<&mut dyn FnMut(&str)>,
    task: &Task,
    mut world: W,
) -> Result<Plan> {
    let now = (world.state()?, world.places()?);
    let verdict = vet(&generated.program, limits, task, &world, (&now.0, &now.1))?;
    run_vetted(verdict, generated.seconds, limits, on_program, task, world)
}

/// Runs a program `vet` passed in `world` (or returns the refusal it
/// gave); `seconds` is the writing time, charged to the first step.
fn run_vetted<W: World + 'static>(
    verdict: Vetted,
    seconds: f64,
    limits: &Limits,
    on_program: Option<&mut dyn FnMut(&str)>,
    task: &Task,
    mut world: W,
) -> Result<Plan> {
    let Task {
        instruction,
        grounded,
        goals,
        ..
    } = *task;
    let shown = guard::quote(instruction, 200);
    let source = match verdict {
        Vetted::Run(source) => source,
        Vetted::Refused { source, why } => {
            return refusal(&shown, grounded, Some(source), why, &mut world);
        }
    };
    if let Some(show) = on_program {
        show(&source);
    }
    let (report, mut world) = program::run(&source, world, limits);
    let steps: Vec<PlanStep> = report
        .skills
        .iter()
        .enumerate()
        .map(|(i, s)| PlanStep {
            skill: s.skill.clone(),
            // The program chose the skill: no LM or affordance scoring.
            lm_logprob: 0.0,
            lm: 1.0,
            affordance: 1.0,
            progress: 1.0,
            score: 1.0,
            success: s.success,
            // Writing the program is the planning; it is charged to the
            // first step.
            plan_seconds: if i == 0 { seconds } else { 0.0 },
        })
        .collect();
    let (outcome, why) = match &report.stop {
        None => (Outcome::Done, "the program ran to its end".to_string()),
        Some(stop) if steps.is_empty() => {
            (Outcome::Refused, format!("the program stopped: {stop}"))
        }
        Some(stop) => (Outcome::Failed, format!("the program stopped: {stop}")),
    };
    Ok(Plan {
        instruction: shown,
        grounded: grounded.text.clone(),
        goals: goals.map(|g| g.goals.clone()).unwrap_or_default(),
        keep: goals.map(|g| g.keep.clone()).unwrap_or_default(),
        matched: grounded.matched.clone(),
        steps,
        final_state: report.final_state.to_json(),
        final_xy: block_xy(&mut world)?,
        stopped_because: why,
        outcome,
        refused: outcome == Outcome::Refused,
        success: outcome == Outcome::Done,
        planner: "code",
        program: Some(source),
    })
}
