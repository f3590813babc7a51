//! One test per shape the goal reader must read (issue 23 item 3) and per
//! refusal of issue 14 item 7 that the parse decides.

use super::*;
use crate::lang::ground::{THRESHOLDS, ground};

const SCENE: &str = "blocks=red,green,blue; bowls=green,yellow";

fn reading_in(scene: &str, text: &str) -> Reading {
    let scene = SceneSpec::parse(scene).unwrap();
    let start = ganglion_sim::TabletopWorld::new(&scene, 3).state();
    let places = Places::of(&start, &scene);
    match ground(text, &scene, None, &THRESHOLDS).unwrap() {
        Ok(g) => read(&g.tokens, &scene, &places),
        Err(why) => Reading::Refuse(why),
    }
}

fn goals_in(scene: &str, text: &str) -> Vec<(String, String)> {
    match reading_in(scene, text) {
        Reading::Act(g) => g.goals,
        other => panic!("`{text}`: {other:?}"),
    }
}

fn goals(text: &str) -> Vec<(String, String)> {
    goals_in(SCENE, text)
}

fn refused(text: &str) -> String {
    match reading_in(SCENE, text) {
        Reading::Refuse(why) => why,
        other => panic!("`{text}` should be refused: {other:?}"),
    }
}

fn pair(o: &str, p: &str) -> (String, String) {
    (o.to_string(), p.to_string())
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

#[test]
fn placements_and_joined_movers() {
    assert_eq!(
        goals("put the red block in the green bowl"),
        [pair("red block", "green bowl")]
    );
    assert_eq!(
        sorted(goals(
            "put the red block and the blue block in the green bowl"
        )),
        [
            pair("blue block", "green bowl"),
            pair("red block", "green bowl")
        ]
    );
    assert_eq!(
        goals("pick up the red block and put it on top of the green block"),
        [pair("red block", "on green block")]
    );
    assert_eq!(
        goals("pick up the red block"),
        [pair("red block", "gripper")]
    );
    assert_eq!(goals("put all the blocks in the yellow bowl").len(), 3);
}

#[test]
fn source_and_destination() {
    let scene = "blocks=red,blue; bowls=green,yellow; in=red/green";
    assert_eq!(
        goals_in(
            scene,
            "move the block from the green bowl to the yellow bowl"
        ),
        [pair("red block", "yellow bowl")]
    );
    assert_eq!(
        goals_in(
            scene,
            "move the red block from the green bowl to the yellow bowl"
        ),
        [pair("red block", "yellow bowl")]
    );
    // The source must be where the block is.
    let r = reading_in(
        scene,
        "move the blue block from the green bowl to the yellow bowl",
    );
    assert!(
        matches!(r, Reading::Refuse(ref w) if w.contains("not in")),
        "{r:?}"
    );
}

#[test]
fn different_goals_joined_by_and() {
    // The blue block is on the table already: it must stay, not go to the bowl.
    let r = reading_in(
        SCENE,
        "the blue block on the table and the red block in the green bowl",
    );
    let Reading::Act(g) = r else { panic!("{r:?}") };
    assert_eq!(g.goals, [pair("red block", "green bowl")]);
    assert_eq!(g.keep, ["blue block"]);
    assert_eq!(
        goals("put the red block in the green bowl and the blue block in the yellow bowl"),
        [
            pair("red block", "green bowl"),
            pair("blue block", "yellow bowl")
        ]
    );
    assert_eq!(
        goals(
            "first put the red block in the green bowl, then put the blue block on the green block"
        ),
        [
            pair("red block", "green bowl"),
            pair("blue block", "on green block")
        ]
    );
}

#[test]
fn chains() {
    assert_eq!(
        goals("red on green on blue"),
        [
            pair("red block", "on green block"),
            pair("green block", "on blue block")
        ]
    );
    assert_eq!(
        goals("put the red block on top of the green block on top of the blue block"),
        [
            pair("red block", "on green block"),
            pair("green block", "on blue block")
        ]
    );
}

#[test]
fn towers_bottom_up_and_top_down() {
    let want = sorted(vec![
        pair("green block", "on blue block"),
        pair("red block", "on green block"),
    ]);
    for t in [
        "build a tower with blue at the bottom, green in the middle and red on top",
        "put the blue block at the bottom, then the green one, then the red one on top",
        "blue at the bottom, then green on it, then red on top",
        "stack the blocks from the bottom up: blue, green, red",
        "red on top, then green, then blue at the bottom",
        "make a tower from the top down: red, green, blue",
    ] {
        assert_eq!(sorted(goals(t)), want, "`{t}`");
    }
    // No order given: refused, not guessed.
    assert!(refused("stack the red, green and blue blocks").contains("order"));
}

#[test]
fn each_in_the_bowl_of_the_same_colour() {
    for t in [
        "put each block in the bowl of the same colour",
        "put every block in the matching bowl",
        "sort the blocks by colour",
    ] {
        let r = reading_in(SCENE, t);
        let Reading::Act(g) = r else {
            panic!("`{t}`: {r:?}")
        };
        assert_eq!(g.goals, [pair("green block", "green bowl")], "`{t}`");
        assert_eq!(g.keep, ["red block", "blue block"], "`{t}`");
    }
    let r = reading_in(
        "blocks=red; bowls=green",
        "put each block in the bowl of the same colour",
    );
    assert!(matches!(r, Reading::Refuse(_)), "{r:?}");
}

#[test]
fn negation_refuses_or_excludes() {
    assert!(refused("do not put the red block in the green bowl").contains("not to do"));
    assert!(refused("do not move the red block").contains("not to do"));
    assert!(refused("do not go home").contains("not to do"));
    let r = reading_in(
        SCENE,
        "put the red block in the green bowl but do not move the blue block",
    );
    let Reading::Act(g) = r else { panic!("{r:?}") };
    assert_eq!(g.goals, [pair("red block", "green bowl")]);
    assert_eq!(g.keep, ["blue block"]);
    let r = reading_in(
        SCENE,
        "put the red block in the green bowl and don't go home",
    );
    assert!(
        matches!(r, Reading::Act(ref g) if g.no_home && !g.home),
        "{r:?}"
    );
    // Asked and forbidden at once.
    assert!(
        refused("put the red block in the green bowl and do not move the red block")
            .contains("both")
    );
}

#[test]
fn stop_and_do_nothing_are_no_motion() {
    for t in [
        "stop",
        "do nothing",
        "leave every block where it is",
        "Stop!",
        "wait",
    ] {
        assert!(matches!(reading_in(SCENE, t), Reading::Stop(_)), "`{t}`");
    }
}

#[test]
fn impossible_or_unclear_requests_are_refused() {
    assert!(refused("put the green bowl in the red block").contains("bowls are fixed"));
    assert!(refused("put the red block into the blue block").contains("inside"));
    assert!(refused("pick up everything").contains("only one"));
    assert!(refused("put the block in the green bowl").contains("which one"));
    assert!(refused("put the red block in the bowl").contains("which bowl"));
    assert!(refused("put the red block next to the green bowl").contains("cannot place"));
    assert!(refused("put it in the green bowl").contains("nothing named"));
    assert!(refused("put the red block").contains("where"));
    assert!(
        refused("put the red block and the blue block on the green block")
            .contains("only one fits")
    );
    assert!(refused("put the red block on the red block").contains("itself"));
    assert!(refused("the red block").contains("where"));
    let held = "blocks=red,blue; bowls=green; holding=red";
    let r = reading_in(held, "put the red block on the table");
    assert!(
        matches!(r, Reading::Refuse(ref w) if w.contains("no skill")),
        "{r:?}"
    );
    assert!(matches!(
        reading_in(SCENE, "put the blue block on the table"),
        Reading::Stop(_)
    ));
}
