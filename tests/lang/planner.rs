//! The SayCan planner with the on-device language model and the shipped
//! affordances: it emits only registry skills, refuses absent objects,
//! lets affordances change its choice, and plans a subset of the suite.
//! Skips (with the command to run) when `models/lm/` has not been fetched.

use crate::common;

use std::path::Path;

use ganglion::lang::service::{PlannerParts, plan_symbolic};
use ganglion::lang::suite::{PROGRAM_FAMILIES, load_suite, plan_success, satisfied};
use ganglion::sim::SceneSpec;
use ganglion::skills::Skill;

fn parts() -> Option<PlannerParts> {
    common::planner_parts()
}

#[test]
fn plans_use_registry_skills_refuse_absent_objects_and_follow_affordances() {
    let Some(mut p) = parts() else { return };
    let scene = SceneSpec::parse("blocks=red,green,blue; bowls=green,yellow").unwrap();
    let registry: Vec<String> = Skill::candidates(&scene).iter().map(Skill::text).collect();

    // Only registry skills, whatever the instruction says.
    for instr in [
        "put the red block in the green bowl",
        "juggle the blocks and sing",
        "stack everything",
    ] {
        let plan = plan_symbolic(&mut p, instr, &scene, 1).unwrap();
        for s in &plan.steps {
            assert!(
                registry.contains(&s.skill),
                "`{instr}` planned `{}`",
                s.skill
            );
        }
    }

    // Absent objects: refused before any step.
    for instr in [
        "put the purple block in the green bowl",
        "put the red block in the blue bowl",
    ] {
        let plan = plan_symbolic(&mut p, instr, &scene, 1).unwrap();
        assert!(plan.refused && plan.steps.is_empty(), "`{instr}`: {plan:?}");
        assert!(plan.stopped_because.contains("not in the scene"));
    }

    // Same instruction, gripper empty vs already holding the block.
    let instr = "put the red block in the green bowl";
    let empty = plan_symbolic(&mut p, instr, &scene, 1).unwrap();
    assert_eq!(empty.steps[0].skill, "pick up the red block");
    let held = SceneSpec::parse("blocks=red,green,blue; bowls=green,yellow; holding=red").unwrap();
    let full = plan_symbolic(&mut p, instr, &held, 1).unwrap();
    assert_eq!(
        full.steps[0].skill, "place it in the green bowl",
        "{full:?}"
    );
    assert!(satisfied(
        &[("red block".to_string(), "green bowl".to_string())].into(),
        &full.final_state,
        &full.final_xy
    ));
}

/// A slice of the suite's dev half (plan-only), two cases per family,
/// planned on two threads (each with its own models) to use both cores.
#[test]
fn plans_a_suite_subset() {
    if parts().is_none() {
        return;
    }
    let suite =
        load_suite(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lang/suite.toml")).unwrap();
    let mut picked = Vec::new();
    let mut per_family = std::collections::BTreeMap::<String, usize>::new();
    for c in suite
        .case
        .iter()
        .filter(|c| c.split.as_deref() == Some("dev"))
        .filter(|c| !PROGRAM_FAMILIES.contains(&c.family.as_str()))
    {
        let n = per_family.entry(c.family.clone()).or_default();
        if *n < 2 {
            *n += 1;
            picked.push(c.clone());
        }
    }
    let plan_half = |half: usize| {
        let mut p = parts().expect("models present");
        let mut ok = 0;
        for c in picked.iter().skip(half).step_by(2) {
            let scene = SceneSpec::parse(&c.scene).unwrap();
            let plan = plan_symbolic(&mut p, &c.instruction, &scene, c.seed).unwrap();
            let start = ganglion::sim::TabletopWorld::new(&scene, c.seed).state();
            let start = ganglion::skills::Places::of(&start, &scene).to_json();
            let good = plan_success(c, &plan, &start);
            if !good {
                eprintln!(
                    "missed: {} `{}` -> {:?}",
                    c.family,
                    c.instruction,
                    plan.steps.iter().map(|s| &s.skill).collect::<Vec<_>>()
                );
            }
            ok += good as usize;
        }
        ok
    };
    let ok: usize = std::thread::scope(|s| {
        let halves: Vec<_> = (0..2).map(|h| s.spawn(move || plan_half(h))).collect();
        halves.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert!(
        ok * 10 >= picked.len() * 8,
        "{ok} of {} suite cases planned right",
        picked.len()
    );
}
