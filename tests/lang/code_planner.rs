//! The code planner's safety (issue 24): instructions outside either
//! planner's reach are refused with a reason before any motion, in both
//! planners; every hostile program of the corpus, handed to the code
//! planner as if the coder had written it, is refused before the arm moves;
//! a plan never repeats a pick/place pair a third time. The refusals need
//! no coder (they happen in the shared front), so these tests are fast.

use crate::common;

use std::cell::Cell;
use std::rc::Rc;

use crate::programs::Counting;
use ganglion::lang::code_plan::{PlannerKind, Route, Task, plan_program, route};
use ganglion::lang::coder::generate::Generated;
use ganglion::lang::goals::Goals;
use ganglion::lang::ground::{Grounded, THRESHOLDS};
use ganglion::lang::saycan::{MAX_PAIR_REPEATS, Plan, SymbolicWorld, repeats_pair};
use ganglion::lang::service::{PlannerOptions, PlannerParts, plan_symbolic};
use ganglion::lang::suite::max_pair_repeats;
use ganglion::program::Limits;
use ganglion::sim::{SceneSpec, TabletopWorld};
use ganglion::skills::Places;

const SCENE: &str = "blocks=red,green,blue; bowls=green,yellow";

/// Unknown objects, verbs and relations, absent objects, contradictions.
const OUT_OF_REACH: [&str; 19] = [
    "put the banana in the green bowl",
    "put the purple block in the green bowl",
    "pick up the red mug",
    "juggle the red block",
    "paint the red block blue",
    "spin the green bowl",
    "clean the table",
    "put the red block under the green bowl",
    "put the red block beside the green bowl",
    "put the red block around the yellow bowl",
    "put the red block across the table",
    "put the green block against the yellow bowl",
    "put the red block in the green bowl and keep it on the table",
    "put the red block in the green bowl and in the yellow bowl",
    "pick up the red block but do not touch the red block",
    "put the red block on top of itself",
    "put the red block in the blue bowl",
    "put the block closest to the purple bowl in the green bowl",
    "stack the green bowl on the red block",
];

fn parts(planner: &str) -> Option<PlannerParts> {
    common::planner_parts()?;
    let options = PlannerOptions {
        planner: planner.to_string(),
        ..PlannerOptions::default()
    };
    Some(PlannerParts::open(&options).expect("planner models load"))
}

#[test]
fn out_of_reach_instructions_are_refused_before_motion_by_both_planners() {
    let scene = SceneSpec::parse(SCENE).unwrap();
    for planner in ["saycan", "code"] {
        let Some(mut p) = parts(planner) else { return };
        for instruction in OUT_OF_REACH {
            let plan = plan_symbolic(&mut p, instruction, &scene, 2).unwrap();
            assert!(
                plan.refused && plan.steps.iter().all(|s| s.skill == "done"),
                "{planner}: `{instruction}` was not refused: {:?} ({})",
                plan.steps.iter().map(|s| &s.skill).collect::<Vec<_>>(),
                plan.stopped_because
            );
            assert!(
                plan.stopped_because.len() > 10,
                "{planner}: `{instruction}`: no reason"
            );
            assert!(plan.program.is_none(), "{planner}: `{instruction}`");
        }
    }
}

/// A symbolic world on the test scene (seed 3) that counts the skills
/// it is asked to run.
fn counting(scene: &SceneSpec) -> (Counting, Rc<Cell<usize>>) {
    let executed = Rc::new(Cell::new(0));
    let world = Counting {
        inner: Box::new(SymbolicWorld::new(
            scene.clone(),
            TabletopWorld::new(scene, 3).state(),
        )),
        executed: executed.clone(),
    };
    (world, executed)
}

/// `source` handed to the code planner as if the coder had written it, on a
/// counting world over `scene`: the plan and how many skills moved the arm.
fn plan_written(source: &str, task: &Task, scene: &SceneSpec) -> (Plan, usize) {
    let (world, executed) = counting(scene);
    let written = Generated {
        program: source.to_string(),
        tokens: 0,
        seconds: 0.0,
        ids: Vec::new(),
        forks: Vec::new(),
    };
    let plan = plan_program(&written, &Limits::default(), None, task, world).unwrap();
    (plan, executed.get())
}

/// What `route` hands the coder for `instruction` under `--planner code`.
fn routed(instruction: &str, scene: &SceneSpec) -> (Grounded, Vec<String>, Option<Goals>) {
    routed_in(instruction, scene)
}

fn routed_in(instruction: &str, scene: &SceneSpec) -> (Grounded, Vec<String>, Option<Goals>) {
    let places = Places::of(&TabletopWorld::new(scene, 3).state(), scene);
    match route(
        PlannerKind::Code,
        instruction,
        scene,
        &places,
        None,
        &THRESHOLDS,
    ) {
        Ok(Route::Program {
            grounded,
            named,
            goals,
            ..
        }) => (grounded, named, goals),
        other => panic!("`{instruction}` is not routed to the coder: {other:?}"),
    }
}

#[test]
fn hostile_programs_written_for_an_instruction_are_refused_before_the_arm_moves() {
    let scene = SceneSpec::parse(SCENE).unwrap();
    let instruction = "put the block closest to the yellow bowl in the green bowl";
    let (grounded, named, goals) = routed(instruction, &scene);
    let corpus = crate::programs::corpus();
    assert!(corpus.len() >= 30);
    let task = Task {
        instruction,
        grounded: &grounded,
        named: &named,
        goals: goals.as_ref(),
    };
    for (name, source, _) in corpus {
        let (plan, executed) = plan_written(&source, &task, &scene);
        assert!(plan.refused && !plan.success, "{name}: {plan:?}");
        assert_eq!(executed, 0, "{name}: the arm moved");
        assert!(
            plan.stopped_because.contains("program"),
            "{name}: {}",
            plan.stopped_because
        );
        assert!(plan.program.is_some(), "{name}");
    }
}

#[test]
fn a_pick_place_pair_runs_at_most_twice() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let pick = "pick up the red block";
    let place = "place it in the green bowl";
    let twice = s(&[pick, place, pick, place]);
    assert!(!repeats_pair(&twice[..3], place));
    assert!(repeats_pair(&s(&[pick, place, pick, place, pick]), place));
    assert_eq!(max_pair_repeats(&twice), MAX_PAIR_REPEATS);
    assert_eq!(max_pair_repeats(&s(&[pick, place, "done"])), 1);
    // The sandbox stops a program at the third run of one pair.
    let scene = SceneSpec::parse(SCENE).unwrap();
    let world = SymbolicWorld::new(scene.clone(), TabletopWorld::new(&scene, 3).state());
    let src = r#"for i in 0..5 { pick("red block"); place_in("green bowl"); }"#;
    let (r, _) = ganglion::program::run(src, world, &Limits::default());
    let stop = r.stop.expect("stopped");
    assert!(r.skills.len() <= 2 * MAX_PAIR_REPEATS + 1, "{:?}", r.skills);
    assert!(stop.message.contains("a third time"), "{stop}");
}

/// The shipped adapters, measured: on dev phrasings with a seed the
/// training never saw, the grammar-constrained coder writes programs with
/// the reference's effect.
#[test]
fn the_shipped_coder_writes_programs_with_the_references_effect() {
    if common::planner_parts().is_none() {
        return;
    }
    use ganglion::lang::coder::{data, eval::evaluate, generate::Coder};
    let base = ganglion::lang::fetch::default_dir().join(ganglion::lang::fetch::SMOLLM2_GGUF);
    let coder = Coder::load(&base, &ganglion::repo_path("models/coder.lora")).unwrap();
    let ph = data::phrasings().unwrap();
    let (_, all) = evaluate(&coder, &ph.dev, 6, 424_242, true, &mut |_, _| {}).unwrap();
    let right = all.iter().filter(|s| s.same_effect).count();
    assert!(right >= 5, "{right} of 6 programs right: {all:#?}");
}

/// The code planner end to end in the simulator: the written program picks
/// the block closest to a bowl (the test measures which one that is) and
/// the control loop puts it in the other bowl.
#[test]
fn the_code_planner_moves_the_closest_block_in_the_simulator() {
    let Some(mut p) = parts("code") else { return };
    let scene = SceneSpec::parse(
        "blocks=red@(0.30,0.10),green@(0.42,-0.05),blue@(0.36,0.02); bowls=yellow@(0.44,0.18),green@(0.32,-0.17)",
    )
    .unwrap();
    let start = TabletopWorld::new(&scene, 5).state();
    let yellow = start.bowls[0];
    let closest = (0..scene.blocks.len())
        .min_by(|a, b| {
            let d =
                |i: usize| (start.blocks[i][0] - yellow[0]).hypot(start.blocks[i][1] - yellow[1]);
            d(*a).total_cmp(&d(*b))
        })
        .unwrap();
    let want = format!("{} block", scene.blocks[closest]);
    let reach = ganglion::repo_path(ganglion::skills::executor::REACH_MODEL);
    let mut runner = ganglion::skills::SkillRunner::new(&scene, 5, &reach).unwrap();
    let instruction = "put the block closest to the yellow bowl in the green bowl";
    let plan = ganglion::lang::service::plan_and_execute(&mut p, instruction, &mut runner).unwrap();
    assert_eq!(plan.planner, "code");
    assert!(plan.success, "{plan:#?}");
    let program = plan.program.as_deref().unwrap();
    assert!(program.contains("closest"), "{program}");
    let end = runner.true_state().unwrap();
    let places = Places::of(&end, &scene);
    assert_eq!(
        places.get(&want),
        Some("green bowl"),
        "{program}\n{places:?}"
    );
    assert_eq!(
        places.0.iter().filter(|(_, p)| p == "green bowl").count(),
        1,
        "only the closest block moves: {places:?}"
    );
}

/// A program whose dry run misses what the goal reader read (a tower built
/// upside down, a kept block moved) is refused before the arm moves; the
/// right program for the same instruction runs.
#[test]
fn a_program_that_misses_the_goals_read_is_refused_before_motion() {
    let scene = SceneSpec::parse(SCENE).unwrap();
    let cases = [
        (
            "stack the blocks with the blue block on the bottom, the green block in the middle and the red block on top",
            "pick(\"blue block\");\nplace_on(\"green block\");\npick(\"red block\");\nplace_on(\"blue block\");",
            "pick(\"green block\");\nplace_on(\"blue block\");\npick(\"red block\");\nplace_on(\"green block\");",
        ),
        (
            "put the red block in the green bowl and do not move the blue block",
            "pick(\"blue block\");\nplace_in(\"green bowl\");\npick(\"red block\");\nplace_in(\"green bowl\");",
            "pick(\"red block\");\nplace_in(\"green bowl\");",
        ),
    ];
    for (instruction, wrong, right) in cases {
        let (grounded, named, goals) = routed(instruction, &scene);
        assert!(goals.is_some(), "{instruction}");
        let task = Task {
            instruction,
            grounded: &grounded,
            named: &named,
            goals: goals.as_ref(),
        };
        for (source, good) in [(wrong, false), (right, true)] {
            let (plan, executed) = plan_written(source, &task, &scene);
            if good {
                assert!(plan.success, "{instruction}: {}", plan.stopped_because);
            } else {
                assert!(plan.refused, "{instruction}: {plan:?}");
                assert_eq!(executed, 0);
                assert!(
                    plan.stopped_because.contains("misses the goals"),
                    "{}",
                    plan.stopped_because
                );
            }
        }
    }
}

/// The state a program starts from: a block already in the gripper needs no
/// pick; another block in the gripper, or one on top of the block to pick,
/// is first set down on a free spot (the clearing is part of the program);
/// the bowl a block is taken out of need not appear in the program; a
/// program that leaves out a named object for any other reason is refused.
#[test]
fn programs_start_from_the_robots_state() {
    let cases = [
        (
            "blocks=orange,blue,red; bowls=orange,purple; holding=orange",
            "put the orange block in the orange bowl",
            "pick(\"orange block\");\nplace_in(\"orange bowl\");",
            Some(1),
        ),
        (
            "blocks=blue,red,purple; bowls=green,blue; holding=red",
            "put the blue block in the green bowl",
            "pick(\"blue block\");\nplace_in(\"green bowl\");",
            Some(3),
        ),
        (
            "blocks=green,orange,red; bowls=yellow,red; stacked=orange/green",
            "put the green block in the yellow bowl",
            "pick(\"green block\");\nplace_in(\"yellow bowl\");",
            Some(4),
        ),
        (
            "blocks=green,blue,yellow; bowls=green,blue; in=green/green",
            "take the green block out of the green bowl and put it in the blue bowl",
            "pick(\"green block\");\nplace_in(\"blue bowl\");",
            Some(2),
        ),
        (
            "blocks=green,blue,yellow; bowls=green,blue; in=green/green",
            "take the green block out of the green bowl and put it in the blue bowl",
            "pick(\"blue block\");\nplace_in(\"blue bowl\");",
            None,
        ),
    ];
    for (scene, instruction, source, skills) in cases {
        let scene = SceneSpec::parse(scene).unwrap();
        let (grounded, named, goals) = routed_in(instruction, &scene);
        let task = Task {
            instruction,
            grounded: &grounded,
            named: &named,
            goals: goals.as_ref(),
        };
        let (plan, executed) = plan_written(source, &task, &scene);
        match skills {
            Some(n) => {
                assert!(plan.success, "{instruction}: {}", plan.stopped_because);
                assert_eq!(executed, n, "{instruction}");
                // What ran is what the plan shows: the clearing, then the program.
                let shown = plan.program.as_deref().unwrap_or("");
                assert!(shown.ends_with(source), "{shown}");
                assert_eq!(shown.contains("place_at("), n > 2, "{shown}");
            }
            None => {
                assert!(plan.refused, "{instruction}: {plan:?}");
                assert_eq!(executed, 0, "{instruction}");
            }
        }
    }
}
