//! Programs over perception and skills (Code as Policies): a short rhai
//! program, written by a person (`ganglion program`) or by the code planner,
//! runs in a sandbox (`sandbox`: only the robot API, hard limits) after a
//! name check (`check`: every call and every named object exists) against
//! the robot API (`api`). Nothing moves before the whole program has parsed
//! and passed the check; a program stopped later (a limit, a failed skill,
//! a runtime error) has run only the skills listed in its report, and the
//! robot is left as the last skill left it: the arm still, the gripper as
//! it was (a held block is not dropped).

pub mod api;
pub mod check;
pub mod sandbox;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use rhai::{Dynamic, EvalAltResult};

use crate::lang::saycan::World;
use crate::runtime::alloc_count;
use crate::skills::Places;
pub use sandbox::Limits;

/// Why a program stopped before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopKind {
    /// It did not parse (or was too large, or used a disabled keyword).
    Parse,
    /// It names an object that is not in the scene, or of the wrong kind.
    Refused,
    /// It calls a function that is neither the API nor allowed.
    UnknownFunction,
    /// Too many interpreter operations.
    OperationLimit,
    /// Script functions nested too deep.
    CallDepthLimit,
    /// A string, array or map grew past its limit.
    DataLimit,
    /// Too many variables or functions.
    SizeLimit,
    /// Interpreter time past its limit.
    TimeLimit,
    /// Heap memory past its limit.
    MemoryLimit,
    /// More skills than allowed.
    SkillLimit,
    /// A skill did not succeed.
    SkillFailed,
    /// Anything else at run time: a wrong argument, a type mismatch, an
    /// index out of bounds, a `throw`.
    Runtime,
}

impl StopKind {
    /// Whether the program was stopped before anything could move.
    pub fn before_motion(self) -> bool {
        matches!(
            self,
            StopKind::Parse | StopKind::Refused | StopKind::UnknownFunction
        )
    }
}

/// Why and where a program stopped.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProgramStop {
    pub kind: StopKind,
    pub message: String,
    /// 1-based line and column, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl ProgramStop {
    pub fn new(kind: StopKind, message: String, at: Option<(usize, usize)>) -> ProgramStop {
        ProgramStop {
            kind,
            message,
            line: at.map(|a| a.0),
            column: at.and_then(|a| (a.1 > 0).then_some(a.1)),
        }
    }
}

impl std::fmt::Display for ProgramStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

/// One skill a program ran.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SkillCall {
    pub skill: String,
    pub success: bool,
    /// The line of the call.
    pub line: Option<usize>,
}

/// What running a program did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProgramReport {
    pub skills: Vec<SkillCall>,
    /// What the program printed (at most `MAX_PRINTED` lines).
    pub printed: Vec<String>,
    /// `None`: it ran to its end.
    pub stop: Option<ProgramStop>,
    /// Interpreter time, skills excluded (s).
    pub interpreter_s: f64,
    /// Time in skills (s).
    pub skills_s: f64,
    /// Where every object is at the end.
    pub final_state: Places,
    /// The block held at the end, if any.
    pub holding: Option<String>,
    /// Whether the robot was brought to rest at the end (its safe state).
    pub at_rest: bool,
}

impl ProgramReport {
    /// Ran to its end with every skill succeeding.
    pub fn completed(&self) -> bool {
        self.stop.is_none()
    }
}

/// Lines of `print` output kept; each cut to `MAX_PRINT_LINE` characters.
pub const MAX_PRINTED: usize = 100;
pub const MAX_PRINT_LINE: usize = 200;

/// Parses and checks `source` against `world`'s scene without running it.
pub fn check_source(source: &str, world: &dyn World, limits: &Limits) -> Result<(), ProgramStop> {
    let engine = sandbox::engine(limits);
    let names = check::Names::of(world.scene());
    sandbox::compile(&engine, source, limits, &names).map(|_| ())
}

/// Runs `source` against `world` in the sandbox; the world comes back with
/// the report.
pub fn run<W: World + 'static>(source: &str, world: W, limits: &Limits) -> (ProgramReport, W) {
    let host = Rc::new(RefCell::new(api::Host::new(world, limits.max_skill_calls)));
    let printed = Rc::new(RefCell::new(Vec::<String>::new()));
    let skill_s = host.borrow().skill_s.clone();
    let t0 = Instant::now();
    let mut engine = sandbox::engine(limits);
    api::register(&mut engine, host.clone());
    {
        let printed = printed.clone();
        engine.on_print(move |s| {
            let mut p = printed.borrow_mut();
            if p.len() < MAX_PRINTED {
                p.push(crate::lang::guard::escape(
                    &s.chars().take(MAX_PRINT_LINE).collect::<String>(),
                ));
            }
        });
    }
    {
        let (skill_s, max_s) = (skill_s.clone(), limits.max_seconds);
        let max_heap = limits.max_heap_bytes as i64;
        engine.on_progress(move |_ops| {
            if alloc_count::program_heap_bytes() > max_heap {
                return Some(Dynamic::from("memory"));
            }
            let busy = t0.elapsed().as_secs_f64() - skill_s.get();
            (busy > max_s).then(|| Dynamic::from("time"))
        });
    }
    let names = host.borrow().names.clone();
    let result = match sandbox::compile(&engine, source, limits, &names) {
        Err(stop) => Err(stop),
        Ok(ast) => {
            alloc_count::program_heap_count(true, true);
            let r = engine.run_ast(&ast);
            alloc_count::program_heap_count(false, false);
            r.map_err(|e| classify(&e, host.borrow_mut().stop.take(), limits))
        }
    };
    let elapsed = t0.elapsed().as_secs_f64();
    drop(engine);
    let host = match Rc::try_unwrap(host) {
        Ok(h) => h.into_inner(),
        // The engine held the only other handles and is gone.
        Err(_) => unreachable!("the sandbox engine was dropped"),
    };
    let mut world = host.world;
    // Completed or stopped, the robot ends in its safe state.
    let at_rest = world.come_to_rest().is_ok();
    let (final_state, holding) = match world.places() {
        Ok(p) => {
            let h = p.holding();
            (p, h)
        }
        Err(_) => (Places::default(), None),
    };
    let skills_s = skill_s.get();
    let report = ProgramReport {
        skills: host.skills,
        printed: printed.borrow().clone(),
        stop: result.err(),
        interpreter_s: (elapsed - skills_s).max(0.0),
        skills_s,
        final_state,
        holding,
        at_rest,
    };
    (report, world)
}

/// The innermost error of a chain of script-function calls, and the
/// position of the outermost call that has one.
fn innermost(e: &EvalAltResult) -> &EvalAltResult {
    match e {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => innermost(inner),
        other => other,
    }
}

fn position_of(e: &EvalAltResult) -> Option<(usize, usize)> {
    let inner = innermost(e).position();
    let pos = if inner.is_none() { e.position() } else { inner };
    pos.line().map(|l| (l, pos.position().unwrap_or(0)))
}

/// A rhai error as a stop; `api_stop` is what the API itself recorded
/// (a failed skill, the skill limit), which wins.
fn classify(
    e: &EvalAltResult,
    api_stop: Option<(StopKind, String)>,
    limits: &Limits,
) -> ProgramStop {
    let at = position_of(e);
    if let Some((kind, message)) = api_stop {
        return ProgramStop::new(kind, message, at);
    }
    use EvalAltResult as E;
    let (kind, message) = match innermost(e) {
        E::ErrorTooManyOperations(_) => (
            StopKind::OperationLimit,
            format!(
                "more than {} operations (an endless loop?)",
                limits.max_operations
            ),
        ),
        E::ErrorStackOverflow(_) => (
            StopKind::CallDepthLimit,
            format!(
                "function calls nested deeper than {} (unbounded recursion?)",
                limits.max_call_depth
            ),
        ),
        E::ErrorDataTooLarge(what, _) => (
            StopKind::DataLimit,
            format!(
                "{what} past its limit (strings {} bytes, arrays {} items, maps {} entries)",
                limits.max_string_bytes, limits.max_array_len, limits.max_map_len
            ),
        ),
        E::ErrorTooManyVariables(_) => (
            StopKind::SizeLimit,
            format!("more than {} variables", limits.max_variables),
        ),
        E::ErrorTerminated(why, _) if why.to_string() == "memory" => (
            StopKind::MemoryLimit,
            format!(
                "held more than {} MiB of memory",
                limits.max_heap_bytes >> 20
            ),
        ),
        E::ErrorTerminated(..) => (
            StopKind::TimeLimit,
            format!(
                "ran past {} s of interpreter time (skills not counted)",
                limits.max_seconds
            ),
        ),
        // The check passed every name, so this is a call with arguments
        // of the wrong types.
        E::ErrorFunctionNotFound(sig, _) => (
            StopKind::Runtime,
            format!("no function {sig}: wrong argument types (see docs/programs.md)"),
        ),
        other => {
            // rhai's text without its own "(line …)" suffix.
            let text = other.to_string();
            let text = match text.rfind(" (line ") {
                Some(k) => text[..k].to_string(),
                None => text,
            };
            let text = match text.strip_prefix("Runtime error: ") {
                Some(t) => t.to_string(),
                None => text,
            };
            (StopKind::Runtime, text)
        }
    };
    ProgramStop::new(kind, message, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::saycan::SymbolicWorld;
    use ganglion_sim::{SceneSpec, TabletopWorld};

    fn world(scene: &str) -> SymbolicWorld {
        let scene = SceneSpec::parse(scene).unwrap();
        let start = TabletopWorld::new(&scene, 1).state();
        SymbolicWorld::new(scene, start)
    }

    #[test]
    fn the_docs_list_every_api_function() {
        let doc = include_str!("../../docs/programs.md");
        for f in api::API {
            assert!(
                doc.contains(&format!("`{}(", f.name)),
                "docs/programs.md lacks {}",
                f.name
            );
        }
    }

    #[test]
    fn names_are_checked_before_anything_runs() {
        let w = world("blocks=red,blue; bowls=green");
        let l = Limits::default();
        assert!(check_source("pick(\"red block\"); place_in(\"green bowl\");", &w, &l).is_ok());
        let e =
            check_source("pick(\"red block\");\nplace_in(\"yellow bowl\");", &w, &l).unwrap_err();
        assert_eq!((e.kind, e.line), (StopKind::Refused, Some(2)), "{e}");
        assert!(e.message.contains("no `yellow bowl`"), "{e}");
        let e = check_source(
            "fn take(b) { pick(b) }\ntake(\"red block\");\nlaunch();",
            &w,
            &l,
        )
        .unwrap_err();
        assert_eq!(
            (e.kind, e.line),
            (StopKind::UnknownFunction, Some(3)),
            "{e}"
        );
        // Calls inside the program's own functions and closures are checked.
        let e = check_source("fn f() { shell() }\nf();", &w, &l).unwrap_err();
        assert_eq!(e.kind, StopKind::UnknownFunction, "{e}");
        let e = check_source("[1].map(|x| open(x));", &w, &l).unwrap_err();
        assert_eq!(e.kind, StopKind::UnknownFunction, "{e}");
    }

    #[test]
    fn geometry_follows_the_table_frame() {
        let src = r#"
            let l = leftmost(blocks());
            let f = frontmost(blocks());
            print(l); print(f);
            print(left_of("red block", "blue block"));
            print(distance(point(0.3, 0.0), [0.3, 0.4]));
            print(offset([0.3, 0.1], 0.05, -0.1));
            print(sort_by_distance([0.45, 0.0], blocks())[0]);
        "#;
        let scene = "blocks=red@(0.30,0.20),blue@(0.45,-0.10); bowls=green";
        let (r, _) = run(src, world(scene), &Limits::default());
        assert!(r.completed(), "{:?}", r.stop);
        assert_eq!(r.printed[..3], ["red block", "blue block", "true"]);
        assert!(r.printed[3].starts_with("0.4"), "{:?}", r.printed);
        assert_eq!(r.printed[4], "[0.35, 0.0, 0.0]");
        assert_eq!(r.printed[5], "blue block");
    }

    #[test]
    fn symbolic_place_at_tracks_the_spot_and_refuses_a_taken_one() {
        let scene = "blocks=red@(0.30,0.20),blue@(0.45,-0.10); bowls=green@(0.40,0.0)";
        let src = "pick(\"red block\");\nplace_at(0.35, -0.25);\nprint(pos(\"red block\"));";
        let (r, _) = run(src, world(scene), &Limits::default());
        assert!(r.completed(), "{:?}", r.stop);
        assert!(r.printed[0].starts_with("[0.35"), "{:?}", r.printed);
        let src = "pick(\"red block\");\nplace_at(pos(\"blue block\"));";
        let (r, _) = run(src, world(scene), &Limits::default());
        let stop = r.stop.unwrap();
        assert_eq!((stop.kind, stop.line), (StopKind::SkillFailed, Some(2)));
        assert!(
            stop.message.contains("taken by the blue block"),
            "{}",
            stop.message
        );
        assert_eq!(r.holding.as_deref(), Some("red block"));
    }
}
