//! Programs over the robot API (issue 24): the hostile corpus in
//! `tests/hostile/programs/` (each file's first line says how it must stop)
//! through the library and through `ganglion program`, limits the corpus
//! cannot hold as files (size, control characters, nesting, variables,
//! time), hostile programs in the simulator (only the skills before the stop
//! ran; the arm is left still, a held block still held), and programs that
//! do what they say in the simulator.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

use anyhow::Result;
use ganglion::lang::saycan::{SimWorld, SymbolicWorld, World};
use ganglion::program::{self, Limits, StopKind};
use ganglion::sim::{SceneSpec, TabletopState, TabletopWorld};
use ganglion::skills::{Places, Skill, SkillRunner};

const SCENE: &str = "blocks=red,green,blue; bowls=green,yellow";

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// A world that counts the skills it is asked to run.
pub(crate) struct Counting {
    pub(crate) inner: Box<dyn World>,
    pub(crate) executed: Rc<Cell<usize>>,
}

impl World for Counting {
    fn scene(&self) -> &SceneSpec {
        self.inner.scene()
    }
    fn state(&mut self) -> Result<TabletopState> {
        self.inner.state()
    }
    fn places(&mut self) -> Result<Places> {
        self.inner.places()
    }
    fn execute(&mut self, skill: &Skill) -> Result<bool> {
        self.executed.set(self.executed.get() + 1);
        self.inner.execute(skill)
    }
    fn execute_why(&mut self, skill: &Skill) -> Result<Result<(), String>> {
        self.executed.set(self.executed.get() + 1);
        self.inner.execute_why(skill)
    }
}

fn symbolic(scene: &str, seed: u64) -> (Box<dyn World>, Rc<Cell<usize>>) {
    let scene = SceneSpec::parse(scene).unwrap();
    let start = TabletopWorld::new(&scene, seed).state();
    let executed = Rc::new(Cell::new(0));
    let w = Counting {
        inner: Box::new(SymbolicWorld::new(scene, start)),
        executed: executed.clone(),
    };
    (Box::new(w), executed)
}

fn kind_name(k: StopKind) -> String {
    serde_json::to_value(k)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// (file name, source, expected stop kind) of every corpus program.
pub(crate) fn corpus() -> Vec<(String, String, String)> {
    let dir = repo("tests/hostile/programs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rhai"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let src = std::fs::read_to_string(&p).unwrap();
            let expect = src
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("// expect: "))
                .unwrap_or_else(|| panic!("{}: first line must be `// expect: KIND`", p.display()))
                .trim()
                .to_string();
            (p.file_name().unwrap().to_string_lossy().into(), src, expect)
        })
        .collect()
}

#[test]
fn every_hostile_program_is_stopped_with_its_reason_and_nothing_more_runs() {
    let cases = corpus();
    assert!(cases.len() >= 30, "the corpus has {} programs", cases.len());
    for (name, src, expect) in cases {
        let (world, executed) = symbolic(SCENE, 3);
        let (r, _) = program::run(&src, world, &Limits::default());
        let stop = r
            .stop
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: ran to its end: {r:?}"));
        assert!(
            expect.split('|').any(|k| k == kind_name(stop.kind)),
            "{name}: {stop} (expected {expect})"
        );
        assert!(!stop.message.is_empty(), "{name}");
        assert!(
            stop.line.is_some() || stop.kind == StopKind::Refused,
            "{name}: no line: {stop}"
        );
        // Only the listed skills ran: a stop before motion ran none.
        assert_eq!(executed.get(), r.skills.len(), "{name}");
        if stop.kind.before_motion() {
            assert!(r.skills.is_empty(), "{name}: {:?}", r.skills);
        }
        assert!(r.printed.len() <= program::MAX_PRINTED, "{name}");
    }
}

#[test]
fn limits_the_corpus_cannot_hold_as_files() {
    let run = |src: &str, limits: &Limits| {
        let (world, _) = symbolic(SCENE, 3);
        program::run(src, world, limits).0.stop.expect("stopped")
    };
    let d = Limits::default();
    let big = format!("let x = 1;\n{}", "x += 1;\n".repeat(3000));
    assert_eq!(run(&big, &d).kind, StopKind::Parse);
    let bell = "let x = 1;\nprint(\"ding\u{7}\");";
    let s = run(bell, &d);
    assert_eq!((s.kind, s.line), (StopKind::Parse, Some(2)), "{s}");
    let deep = format!("let x = {}1{};", "(".repeat(300), ")".repeat(300));
    assert_eq!(run(&deep, &d).kind, StopKind::Parse);
    // Values the size checks do not see (map entries assigned by index)
    // meet the heap limit.
    let hoard = "let m = #{};\nlet s = \"x\";\ns.pad(4000, \"y\");\nlet i = 0;\nloop { m[i.to_string()] = s + i; i += 1; }";
    let small_heap = Limits {
        max_heap_bytes: 1 << 20,
        ..Limits::default()
    };
    assert_eq!(run(hoard, &small_heap).kind, StopKind::MemoryLimit);
    let vars: String = (0..300).map(|i| format!("let v{i} = {i};\n")).collect();
    assert_eq!(run(&vars, &d).kind, StopKind::SizeLimit);
    let slow = "let s = \"x\";\ns.pad(4000, \"y\");\nloop { s.index_of(\"z\"); }";
    let limits = Limits {
        max_operations: 1 << 40,
        max_seconds: 0.2,
        ..Limits::default()
    };
    assert_eq!(run(slow, &limits).kind, StopKind::TimeLimit);
}

#[test]
fn ganglion_program_stops_every_hostile_program_and_exits_1() {
    for (name, _, expect) in corpus() {
        let path = repo(&format!("tests/hostile/programs/{name}"));
        let out = Command::new(env!("CARGO_BIN_EXE_ganglion"))
            .args([
                "program",
                "--plan-only",
                "--json",
                "--scene",
                SCENE,
                "--seed",
                "3",
            ])
            .arg(&path)
            .output()
            .unwrap();
        // Exit code 1 (stopped), not a crash or a signal.
        assert_eq!(out.status.code(), Some(1), "{name}: {out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {out:?}"));
        assert_eq!(v["completed"], false, "{name}");
        let kind = v["report"]["stop"]["kind"].as_str().unwrap_or("");
        assert!(expect.split('|').any(|k| k == kind), "{name}: {v}");
    }
}

/// A program run in the simulator, through the control loop and safety
/// filter; the world comes back for inspection.
fn in_sim(
    src: &str,
    scene: &str,
    seed: u64,
    limits: &Limits,
) -> (program::ProgramReport, SkillRunner) {
    let scene = SceneSpec::parse(scene).unwrap();
    let runner = SkillRunner::new(&scene, seed, &repo("models/arm-reach.onnx")).unwrap();
    let (r, world) = program::run(src, SimWorld { runner }, limits);
    (r, world.runner)
}

#[test]
fn hostile_programs_in_the_simulator_stop_after_the_skills_they_ran() {
    // A pick, then an unreachable spot: the pick ran, the place never did,
    // and the block is still held (not dropped).
    let src = std::fs::read_to_string(repo("tests/hostile/programs/31-out-of-reach.rhai")).unwrap();
    let (r, mut runner) = in_sim(&src, SCENE, 3, &Limits::default());
    let stop = r.stop.as_ref().unwrap();
    assert_eq!(stop.kind, StopKind::SkillFailed, "{stop}");
    assert_eq!(r.skills.len(), 2);
    assert!(
        r.skills[0].success && !r.skills[1].success,
        "{:?}",
        r.skills
    );
    let truth = runner.true_state().unwrap();
    assert_eq!(truth.held, Some(0), "the red block must still be held");
    assert!(r.at_rest);
    assert!(
        truth
            .v
            .iter()
            .all(|v| v.abs() < ganglion::skills::executor::REST_SPEED),
        "arm still moving: {:?}",
        truth.v
    );

    // Endless skills with a small skill limit: exactly that many ran.
    let src =
        std::fs::read_to_string(repo("tests/hostile/programs/37-skills-forever.rhai")).unwrap();
    let limits = Limits {
        max_skill_calls: 3,
        ..Limits::default()
    };
    let (r, _) = in_sim(&src, SCENE, 3, &limits);
    assert_eq!(r.stop.as_ref().unwrap().kind, StopKind::SkillLimit);
    assert_eq!(r.skills.len(), 3);
}

#[test]
fn programs_do_what_they_say_in_the_simulator() {
    // The block nearest the yellow bowl goes in the green bowl.
    let src = r#"
        let b = closest("yellow bowl", blocks());
        pick(b);
        place_in("green bowl");
        print(b);
    "#;
    let scene = "blocks=red,green,blue; bowls=green,yellow";
    let start = TabletopWorld::new(&SceneSpec::parse(scene).unwrap(), 11).state();
    let y = start.bowls[1];
    let nearest = (0..3)
        .min_by(|&i, &j| {
            let d = |k: usize| (start.blocks[k][0] - y[0]).hypot(start.blocks[k][1] - y[1]);
            d(i).total_cmp(&d(j))
        })
        .unwrap();
    let name = ["red block", "green block", "blue block"][nearest];
    let (r, _) = in_sim(src, scene, 11, &Limits::default());
    assert!(r.completed(), "{:?}", r.stop);
    assert_eq!(r.printed, [name]);
    assert_eq!(r.final_state.get(name), Some("green bowl"));

    // Set a block down 10 cm to the left of another.
    let src = r#"
        pick("red block");
        place_at(offset("blue block", 0.0, 0.10));
    "#;
    let scene = "blocks=red,blue; bowls=green";
    let (r, mut runner) = in_sim(src, scene, 4, &Limits::default());
    assert!(r.completed(), "{:?} {:?}", r.stop, r.skills);
    let s = runner.true_state().unwrap();
    let (red, blue) = (s.blocks[0], s.blocks[1]);
    let target = [blue[0], blue[1] + 0.10];
    let err = (red[0] - target[0]).hypot(red[1] - target[1]);
    assert!(err < 0.03, "red block {err:.3} m from its target");
    assert_eq!(r.final_state.get("red block"), Some("table"));
}
