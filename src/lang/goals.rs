//! The planner's success detector: the goals a grounded instruction states
//! ("the red block in the green bowl", "the blue block on the red block",
//! "all the blocks in the yellow bowl", "… then go home"), read from the
//! order of the objects it names, and a progress factor per candidate skill:
//! `done` is unlikely until every goal holds; once they hold, anything but
//! `done` is; picking a block whose goal holds, picking a block no goal
//! names, or placing a held block somewhere its goal does not say, is
//! discouraged. With no goals found the
//! factor is 1 and the language model alone decides.

use ganglion_sim::SceneSpec;

use crate::skills::{Places, Skill};

/// A factor that makes a skill unlikely without forbidding it.
pub const UNLIKELY: f32 = 0.02;
/// The factor of a skill about an object the instruction's goals do not name.
pub const OFF_TASK: f32 = 0.1;

/// What the instruction asks for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Goals {
    /// (object, place) pairs, places written as `Places` writes them.
    pub goals: Vec<(String, String)>,
    /// The instruction ends at home.
    pub home: bool,
}

/// Reads the goals of a grounded instruction (scene names already
/// substituted by `ground`).
pub fn parse_goals(text: &str, scene: &SceneSpec) -> Goals {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut goals: Vec<(String, String)> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let mut last: Option<String> = None;
    let is_color = |w: &str, list: &[String]| list.iter().any(|c| c == w);
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let next = words.get(i + 1).copied().unwrap_or("");
        // "all the blocks", "every block", "both blocks", "each block".
        if matches!(w, "all" | "every" | "both" | "each") {
            let window: Vec<&str> = words[i + 1..words.len().min(i + 4)].to_vec();
            if window.iter().any(|x| x.starts_with("block")) {
                pending = scene.blocks.iter().map(|b| format!("{b} block")).collect();
                i += 1;
                continue;
            }
        }
        if w == "it" || w == "them" {
            if pending.is_empty()
                && let Some(l) = &last
            {
                pending.push(l.clone());
            }
            i += 1;
            continue;
        }
        if (next == "block" || next == "blocks") && is_color(w, &scene.blocks) {
            let name = format!("{w} block");
            let before: Vec<&str> = words[i.saturating_sub(4)..i].to_vec();
            let onto = before
                .iter()
                .any(|x| matches!(*x, "on" | "onto" | "atop" | "upon" | "top"));
            if onto && !pending.is_empty() {
                for p in pending.drain(..) {
                    if p != name {
                        goals.push((p, format!("on {name}")));
                    }
                }
            } else {
                let joined = before.last().is_some_and(|x| *x == "and")
                    || before.len() >= 2
                        && before[before.len() - 2] == "and"
                        && before[before.len() - 1] == "the";
                if !joined {
                    pending.clear();
                }
                pending.push(name.clone());
            }
            last = Some(name);
            i += 2;
            continue;
        }
        if next == "bowl" && is_color(w, &scene.bowls) {
            let place = format!("{w} bowl");
            for p in pending.drain(..) {
                goals.push((p, place.clone()));
            }
            i += 2;
            continue;
        }
        i += 1;
    }
    // A later goal for the same object replaces an earlier one.
    let mut out: Vec<(String, String)> = Vec::new();
    for (o, p) in goals {
        out.retain(|(x, _)| *x != o);
        out.push((o, p));
    }
    Goals {
        goals: out,
        home: words.contains(&"home"),
    }
}

impl Goals {
    pub fn is_empty(&self) -> bool {
        self.goals.is_empty() && !self.home
    }

    /// Whether every goal holds in `places` (and the last step went home,
    /// when the instruction ends at home).
    pub fn satisfied(&self, places: &Places, history: &[String]) -> bool {
        !self.is_empty()
            && self
                .goals
                .iter()
                .all(|(o, p)| places.get(o) == Some(p.as_str()))
            && (!self.home || history.last().is_some_and(|h| h == "go to home"))
    }

    /// The progress factor of `skill` in `places` after `history`.
    pub fn progress(&self, skill: &Skill, places: &Places, history: &[String]) -> f32 {
        if self.is_empty() {
            return 1.0;
        }
        let done = self.satisfied(places, history);
        let goal_of = |o: &str| {
            self.goals
                .iter()
                .find(|(x, _)| x == o)
                .map(|(_, p)| p.as_str())
        };
        match skill {
            Skill::Done => {
                if done {
                    1.0
                } else {
                    UNLIKELY
                }
            }
            _ if done => UNLIKELY,
            Skill::Pick(c) => {
                let name = format!("{c} block");
                match goal_of(&name) {
                    Some(p) if places.get(&name) == Some(p) => UNLIKELY,
                    Some(_) => 1.0,
                    // In the way: it sits on a block a goal still needs.
                    None if places
                        .get(&name)
                        .and_then(|p| p.strip_prefix("on "))
                        .is_some_and(|below| {
                            goal_of(below).is_some_and(|g| places.get(below) != Some(g))
                        }) =>
                    {
                        1.0
                    }
                    // Not what the instruction is about.
                    None if !self.goals.is_empty() => OFF_TASK,
                    None => 1.0,
                }
            }
            Skill::PlaceIn(c) | Skill::PlaceOn(c) => {
                let target = match skill {
                    Skill::PlaceIn(_) => format!("{c} bowl"),
                    _ => format!("on {c} block"),
                };
                match places.holding().as_deref().and_then(goal_of) {
                    Some(p) if p != target => 0.1,
                    _ => 1.0,
                }
            }
            Skill::Home => {
                if self.home {
                    1.0
                } else {
                    0.1
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene() -> SceneSpec {
        SceneSpec::parse("blocks=red,green,blue; bowls=green,yellow").unwrap()
    }

    fn g(text: &str) -> Vec<(String, String)> {
        parse_goals(text, &scene()).goals
    }

    fn pair(o: &str, p: &str) -> (String, String) {
        (o.to_string(), p.to_string())
    }

    #[test]
    fn reads_placements_stacks_and_quantifiers() {
        assert_eq!(
            g("put the red block in the green bowl"),
            [pair("red block", "green bowl")]
        );
        assert_eq!(
            g("stack the blue block on the red block then put the green block in the yellow bowl"),
            [
                pair("blue block", "on red block"),
                pair("green block", "yellow bowl")
            ]
        );
        assert_eq!(
            g("put the red block in the green bowl and the blue block in the yellow bowl"),
            [
                pair("red block", "green bowl"),
                pair("blue block", "yellow bowl")
            ]
        );
        assert_eq!(g("put all the blocks in the yellow bowl").len(), 3);
        assert_eq!(
            g("put the red block and the blue block in the green bowl"),
            [
                pair("red block", "green bowl"),
                pair("blue block", "green bowl")
            ]
        );
        assert_eq!(
            g("pick up the red block and put it on top of the green block"),
            [pair("red block", "on green block")]
        );
        assert!(parse_goals("go to home", &scene()).home);
    }

    #[test]
    fn done_waits_for_the_goals() {
        let goals = parse_goals("put the red block in the green bowl", &scene());
        let mut places = Places(vec![
            pair("red block", "table"),
            pair("green block", "table"),
            pair("blue block", "table"),
        ]);
        assert_eq!(goals.progress(&Skill::Done, &places, &[]), UNLIKELY);
        places.set("red block", "green bowl");
        assert_eq!(goals.progress(&Skill::Done, &places, &[]), 1.0);
        assert_eq!(
            goals.progress(&Skill::Pick("red".into()), &places, &[]),
            UNLIKELY
        );
    }

    #[test]
    fn a_block_in_the_way_is_on_task() {
        let goals = parse_goals("put the red block in the green bowl", &scene());
        let places = Places(vec![
            pair("red block", "table"),
            pair("green block", "on red block"),
            pair("blue block", "table"),
        ]);
        assert_eq!(
            goals.progress(&Skill::Pick("green".into()), &places, &[]),
            1.0
        );
        assert_eq!(
            goals.progress(&Skill::Pick("blue".into()), &places, &[]),
            OFF_TASK
        );
    }
}
