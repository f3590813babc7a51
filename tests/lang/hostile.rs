//! Regression tests of issue 14 item 7: every input of the corpus in
//! `tests/hostile/lang/` goes through `say`'s own path (the planner thread
//! and the simulated tabletop, real models) and must be refused or stopped
//! before any motion, with its reason, and the reason must carry no raw
//! control or bidi character. The `say` binary is run on the escape-code and
//! bidi inputs to check nothing raw reaches the terminal. Skips (with the
//! command to run) when `models/lm/` has not been fetched.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use ganglion::lang::guard;
use ganglion::lang::saycan::Outcome;
use ganglion::lang::service::{PlannerParts, plan_and_execute, plan_symbolic};
use ganglion::sim::SceneSpec;
use ganglion::skills::SkillRunner;
use serde::Deserialize;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[derive(Deserialize)]
struct Corpus {
    scene: String,
    seed: u64,
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    instruction: String,
    #[serde(default)]
    repeat: Option<usize>,
    #[serde(default)]
    pad_to: Option<usize>,
    outcome: String,
    #[serde(default)]
    reason: String,
}

impl Case {
    fn text(&self) -> String {
        let mut t = self.instruction.repeat(self.repeat.unwrap_or(1));
        if let Some(n) = self.pad_to {
            while t.chars().count() < n {
                t.push(' ');
            }
        }
        t
    }
}

fn corpus() -> Corpus {
    let text = std::fs::read_to_string(repo("tests/hostile/lang/issue14.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

fn parts() -> Option<PlannerParts> {
    common::planner_parts()
}

fn unsafe_char(s: &str) -> Option<char> {
    s.chars()
        .find(|c| (c.is_control() && *c != '\n') || guard::is_format_char(*c))
}

#[test]
fn hostile_inputs_are_refused_or_stopped_before_any_motion() {
    let Some(mut p) = parts() else { return };
    let c = corpus();
    let scene = SceneSpec::parse(&c.scene).unwrap();
    for case in &c.case {
        let text = case.text();
        let shown = guard::quote(&text, 60);
        if case.outcome == "moved" {
            let plan = plan_symbolic(&mut p, &text, &scene, c.seed).unwrap();
            assert!(
                plan.success && !plan.steps.is_empty(),
                "`{shown}`: {plan:?}"
            );
            continue;
        }
        let mut runner = SkillRunner::new(&scene, c.seed, &repo("models/arm-reach.onnx")).unwrap();
        let before = runner.state().unwrap();
        let plan = plan_and_execute(&mut p, &text, &mut runner).unwrap();
        let after = runner.state().unwrap();
        assert!(
            plan.steps.is_empty(),
            "`{shown}` took steps: {:?}",
            plan.steps
        );
        assert_eq!(before.blocks, after.blocks, "`{shown}`: something moved");
        let want = match case.outcome.as_str() {
            "refused" => Outcome::Refused,
            "stopped" => Outcome::Stopped,
            o => panic!("unknown outcome {o}"),
        };
        assert_eq!(plan.outcome, want, "`{shown}`: {}", plan.stopped_because);
        assert_eq!(plan.success, want == Outcome::Stopped, "`{shown}`");
        assert!(
            plan.stopped_because.contains(&case.reason),
            "`{shown}`: reason `{}` lacks `{}`",
            plan.stopped_because,
            case.reason
        );
        for s in [&plan.stopped_because, &plan.instruction, &plan.grounded] {
            assert_eq!(unsafe_char(s), None, "`{shown}`: raw character in `{s}`");
        }
    }
}

/// The binary never echoes an escape code or a bidi mark raw.
#[test]
fn say_prints_escapes_not_raw_control_characters() {
    if !repo("models/lm/SmolLM2-135M-Instruct.Q4_1.gguf").exists() {
        eprintln!("SKIPPED: run `ganglion models fetch`");
        return;
    }
    for text in [
        "put the r\u{1b}[32med block in the green bowl",
        "put the re\u{200F}d block in the yellow bowl",
    ] {
        for json in [false, true] {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_ganglion"));
            cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
                "say",
                text,
                "--scene",
                "blocks=red,green,blue; bowls=green,yellow",
                "--seed",
                "3",
            ]);
            if json {
                cmd.arg("--json");
            }
            let out = cmd.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{stdout}{stderr}");
            assert_eq!(unsafe_char(&stdout), None, "{stdout}");
            assert_eq!(unsafe_char(&stderr), None, "{stderr}");
            assert!(stdout.contains("\\u{"), "{stdout}");
            assert!(
                stdout.contains("efused") || stdout.contains("REFUSED"),
                "{stdout}"
            );
        }
    }
}
