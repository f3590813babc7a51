//! The tabletop skills with the shipped reaching policy and affordance
//! models: each skill on a fixed scene, the affordances' ranking, the safety
//! filter's joint limits during a skill, scene errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use ganglion::sim::{SceneSpec, TabletopWorld};
use ganglion::skills::affordance::Affordances;
use ganglion::skills::{Skill, SkillOutcome, SkillRunner};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn runner(scene: &str, seed: u64) -> SkillRunner {
    let scene = SceneSpec::parse(scene).expect("valid scene");
    SkillRunner::new(&scene, seed, &repo("models/arm-reach.onnx"))
        .expect("shipped reach policy loads")
}

#[test]
fn scene_layout_is_deterministic_from_the_seed() {
    let scene = SceneSpec::parse("blocks=red,green,blue; bowls=green,yellow").unwrap();
    let a = TabletopWorld::new(&scene, 11).state();
    let b = TabletopWorld::new(&scene, 11).state();
    let c = TabletopWorld::new(&scene, 12).state();
    assert_eq!(a, b);
    assert_ne!(a.blocks, c.blocks);
    assert_eq!(SceneSpec::random(4), SceneSpec::random(4));
}

#[test]
fn a_pick_and_place_sequence_succeeds() {
    let mut r = runner("blocks=red,green,blue; bowls=green,yellow", 3);
    for (text, object, place) in [
        ("pick up the red block", "red block", "gripper"),
        ("place it in the green bowl", "red block", "green bowl"),
        ("pick up the blue block", "blue block", "gripper"),
        (
            "place it on the green block",
            "blue block",
            "on green block",
        ),
        ("go to home", "blue block", "on green block"),
        ("done", "green block", "table"),
    ] {
        let run = r.run(&Skill::parse(text).unwrap()).unwrap();
        assert_eq!(run.outcome, SkillOutcome::Succeeded, "`{text}`: {run:?}");
        assert_eq!(
            run.final_state.get(object),
            Some(place),
            "`{text}`: {run:?}"
        );
    }
}

#[test]
fn infeasible_skills_fail() {
    // Picking the block under another takes the top one (it is what the cup
    // touches), so the pick fails.
    let mut r = runner("blocks=red,blue; bowls=green; stacked=red/blue", 5);
    let run = r.run(&Skill::Pick("blue".into())).unwrap();
    assert!(!run.outcome.success(), "{run:?}");
    // Placing with an empty gripper, and naming an absent bowl.
    let mut r = runner("blocks=red,blue; bowls=green", 5);
    assert!(
        !r.run(&Skill::PlaceIn("green".into()))
            .unwrap()
            .outcome
            .success()
    );
    let absent = r.run(&Skill::PlaceIn("purple".into())).unwrap();
    assert!(matches!(&absent.outcome, SkillOutcome::Failed(why) if why.contains("no purple bowl")));
    assert_eq!(absent.steps, 0);
}

#[test]
fn affordances_rank_infeasible_below_feasible() {
    let mut aff = Affordances::load(&repo("models")).expect("shipped affordance models load");
    let scene = SceneSpec::parse("blocks=red,blue; bowls=green").unwrap();
    let free = TabletopWorld::new(&scene, 2).state();
    let held_scene = SceneSpec::parse("blocks=red,blue; bowls=green; holding=red").unwrap();
    let held = TabletopWorld::new(&held_scene, 2).state();
    let p = |aff: &mut Affordances, s: &str, sc: &SceneSpec, st| {
        aff.predict(&Skill::parse(s).unwrap(), sc, st).unwrap()
    };
    // Pick: empty gripper vs already holding.
    let pick_ok = p(&mut aff, "pick up the blue block", &scene, &free);
    let pick_full = p(&mut aff, "pick up the blue block", &held_scene, &held);
    assert!(pick_ok > 0.8 && pick_full < 0.2, "{pick_ok} vs {pick_full}");
    // Place: holding vs empty, and an absent bowl.
    let place_ok = p(&mut aff, "place it in the green bowl", &held_scene, &held);
    let place_empty = p(&mut aff, "place it in the green bowl", &scene, &free);
    let place_absent = p(&mut aff, "place it in the yellow bowl", &held_scene, &held);
    assert!(place_ok > 0.8, "{place_ok}");
    assert!(
        place_empty < 0.2 && place_absent < 0.2,
        "{place_empty} {place_absent}"
    );
    // Stacking on the held block itself.
    let on_self = p(&mut aff, "place it on the red block", &held_scene, &held);
    let on_other = p(&mut aff, "place it on the blue block", &held_scene, &held);
    assert!(on_other > 0.8 && on_self < 0.2, "{on_other} vs {on_self}");
}

/// The safety filter's joint limits hold during a skill: with the base
/// joint limited to ±0.1 rad, a pick of a block at a larger bearing stops at
/// the limit (and the filter reports it); without the tighter limit the same
/// pick turns the base past it.
#[test]
fn joint_limits_hold_during_a_skill() {
    let scene = "blocks=red,green,blue; bowls=yellow";
    let mut r = runner(scene, 9);
    // The block at the largest bearing from the arm's base.
    let blocks = r.state().unwrap().blocks;
    let bearing = |p: &[f32; 3]| p[1].atan2(p[0]);
    let (i, b) = blocks
        .iter()
        .enumerate()
        .map(|(i, p)| (i, bearing(p)))
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .unwrap();
    assert!(
        b.abs() > 0.3,
        "scene seed 9 must put a block off-axis ({b})"
    );
    let color = ["red", "green", "blue"][i];
    {
        let limits = &mut r.config_mut().safety.joint_limits;
        limits[0].min = -0.1;
        limits[0].max = 0.1;
    }
    let run = r.run(&Skill::Pick(color.into())).unwrap();
    let base = r.state().unwrap().q[0];
    assert!(
        base.abs() < 0.1 + 0.02,
        "base at {base} rad despite the 0.1 rad limit"
    );
    assert!(!run.outcome.success());
    assert!(
        run.safety_events
            .iter()
            .any(|(e, n)| *e == "joint_limit" && *n > 0),
        "{:?}",
        run.safety_events
    );
    let mut free = runner(scene, 9);
    let run = free.run(&Skill::Pick(color.into())).unwrap();
    assert!(run.outcome.success());
    assert!(free.state().unwrap().q[0].abs() > 0.15);
}

#[test]
fn skill_cli_reports_json_and_rejects_bad_scenes() {
    let bin = env!("CARGO_BIN_EXE_ganglion");
    let out = Command::new(bin)
        .args([
            "skill",
            "pick up the green block",
            "--scene",
            "blocks=red,green; bowls=blue",
            "--seed",
            "4",
            "--json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["skill"], "pick up the green block");
    assert_eq!(v["success"], true);
    assert_eq!(v["final_state"]["green block"], "gripper");
    assert_eq!(v["final_state"]["blue bowl"], "table");
    assert!(v["affordance"].as_f64().unwrap() > 0.5);
    assert!(v["steps"].as_u64().unwrap() > 0);

    for (scene, needle) in [
        ("blocks=red,crimson", "unknown colour `crimson`"),
        ("blocks=red; in=red/green", "no green bowl"),
        ("blox=red", "unknown key `blox`"),
    ] {
        let out = Command::new(bin)
            .args(["skill", "pick up the red block", "--scene", scene])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(needle) && err.contains("--scene"),
            "{scene}: {err}"
        );
    }
    let out = Command::new(bin)
        .args(["skill", "juggle the red block", "--scene", "blocks=red"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a skill"));
}
