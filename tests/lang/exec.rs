//! Execution through the real simulator (issue 23 item 4, language part): a
//! few instructions planned and run the way `say` runs them (planner thread,
//! skills through the control loop and safety filter on the rapier
//! tabletop), checked by the final simulated state: the goals hold and every
//! other block is where it started (same place, moved < 2 cm). State
//! perception is exact simulator state. Skips (with the command to run)
//! when `models/lm/` has not been fetched.

use crate::common;

use std::path::{Path, PathBuf};

use ganglion::lang::saycan::Outcome;
use ganglion::lang::service::{PlannerParts, plan_and_execute};
use ganglion::sim::SceneSpec;
use ganglion::skills::SkillRunner;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn parts() -> Option<PlannerParts> {
    common::planner_parts()
}

/// (scene, seed, instruction, expected places, blocks that must not move)
type Case = (
    &'static str,
    u64,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

const CASES: &[Case] = &[
    (
        "blocks=red,green,blue; bowls=green,yellow",
        3,
        "put the red cube in the green dish",
        &[("red block", "green bowl")],
        &["green block", "blue block"],
    ),
    (
        "blocks=red,green,blue; bowls=yellow",
        5,
        "the blue block on the table and the red block in the yellow bowl",
        &[("red block", "yellow bowl")],
        &["green block", "blue block"],
    ),
    (
        "blocks=red,green,blue; bowls=green",
        7,
        "stack the red block on the blue block but do not move the green block",
        &[("red block", "on blue block")],
        &["green block"],
    ),
];

#[test]
fn instructions_run_in_the_simulator_reach_their_goals_and_move_nothing_else() {
    let Some(mut p) = parts() else { return };
    for (scene, seed, text, expect, still) in CASES {
        let spec = SceneSpec::parse(scene).unwrap();
        let mut runner = SkillRunner::new(&spec, *seed, &repo("models/arm-reach.onnx")).unwrap();
        let before = runner.state().unwrap();
        let plan = plan_and_execute(&mut p, text, &mut runner).unwrap();
        let skills: Vec<&str> = plan.steps.iter().map(|s| s.skill.as_str()).collect();
        assert_eq!(
            plan.outcome,
            Outcome::Done,
            "`{text}`: {skills:?} {}",
            plan.stopped_because
        );
        assert!(plan.success, "`{text}`: {skills:?}");
        let after = runner.state().unwrap();
        let places = runner.places().unwrap();
        for (o, want) in *expect {
            assert_eq!(places.get(o), Some(*want), "`{text}`: {o} ({skills:?})");
        }
        for o in *still {
            let i = spec
                .blocks
                .iter()
                .position(|b| format!("{b} block") == *o)
                .unwrap();
            let (a, b) = (before.blocks[i], after.blocks[i]);
            let d = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
            assert!(d < 0.02, "`{text}`: the {o} moved {d:.3} m ({skills:?})");
        }
    }
}

/// Issue 23's acceptance on the held-out half of the suite, executed in the
/// simulator: at least 85% of cases end in the expected state with nothing
/// else moved, and no case moves anything without succeeding. Slow in a
/// debug build (66 cases through rapier), hence ignored:
/// `cargo test --release --test lang -- exec:: --ignored`.
#[test]
#[ignore]
fn test_split_executes_at_least_85_percent_with_no_wrong_motion() {
    let Some(mut p) = parts() else { return };
    let suite = ganglion::lang::suite::load_suite(&repo("tests/lang/suite.toml")).unwrap();
    let cases: Vec<_> = suite
        .case
        .iter()
        .filter(|c| c.split.as_deref() == Some("test"))
        .collect();
    let reach = repo("models/arm-reach.onnx");
    let report =
        ganglion::lang::suite::evaluate(&mut p, &cases, Some(&reach), None, &mut |_, _| {})
            .unwrap();
    let t = &report.overall;
    for r in report.cases.iter().filter(|r| r.exec_ok != Some(true)) {
        eprintln!(
            "missed: {} `{}`: {}",
            r.case.family, r.case.instruction, r.plan.stopped_because
        );
    }
    assert_eq!(t.cases, 66);
    assert_eq!(t.wrong_motion, 0, "{t:?}");
    assert!(t.exec_ok * 100 >= t.cases * 85, "{t:?}");
    assert!(t.plan_ok * 100 >= t.cases * 85, "{t:?}");
}
