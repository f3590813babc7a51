//! The planner's success detector: the goals the parser (`parse`) read from
//! a grounded instruction ("the red block in the green bowl", "the blue
//! block on the red block", "… then go home"), the objects that must stay
//! where they are, and a progress factor per candidate skill: `done` is
//! unlikely until every goal holds; once they hold, anything but `done` is;
//! picking a block whose goal holds is unlikely; picking a block that no goal
//! names and that is in no goal's way, placing a held block anywhere but its
//! goal, or going home when told not to, is forbidden (factor 0): nothing
//! the instruction does not ask for may move.

use crate::skills::{Places, Skill};

/// A factor that makes a skill unlikely without forbidding it.
pub const UNLIKELY: f32 = 0.02;
/// The factor of a skill that would move something the instruction does
/// not ask to move.
pub const FORBIDDEN: f32 = 0.0;
/// The factor of `go to home` when the instruction does not ask for it.
pub const UNASKED_HOME: f32 = 0.1;

/// What the instruction asks for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Goals {
    /// (object, place) pairs, places written as `Places` writes them
    /// ("green bowl", "on red block", "gripper", "table").
    pub goals: Vec<(String, String)>,
    /// The instruction ends at home.
    pub home: bool,
    /// Blocks the instruction says must not move ("do not move the red
    /// block", "leave the others where they are").
    pub keep: Vec<String>,
    /// "do not go home".
    pub no_home: bool,
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

    /// The goal place of `object`, if a goal names it.
    pub fn goal_of(&self, object: &str) -> Option<&str> {
        self.goals
            .iter()
            .find(|(x, _)| x == object)
            .map(|(_, p)| p.as_str())
    }

    /// Blocks that must be cleared of whatever rests on them: goal blocks
    /// not yet at their goal, and blocks a pending goal stacks onto.
    fn needed(&self, places: &Places) -> Vec<String> {
        let mut out = Vec::new();
        for (o, p) in &self.goals {
            if places.get(o) != Some(p.as_str()) {
                out.push(o.clone());
                if let Some(b) = p.strip_prefix("on ") {
                    out.push(b.to_string());
                }
            }
        }
        out
    }

    /// Whether `block` rests (directly or up a stack) on a block a pending
    /// goal needs clear.
    pub fn in_the_way(&self, block: &str, places: &Places) -> bool {
        let needed = self.needed(places);
        let mut cur = block.to_string();
        for _ in 0..places.0.len() {
            match places.get(&cur).and_then(|p| p.strip_prefix("on ")) {
                Some(below) => {
                    if needed.iter().any(|n| n == below) {
                        return true;
                    }
                    cur = below.to_string();
                }
                None => return false,
            }
        }
        false
    }

    /// The progress factor of `skill` in `places` after `history`.
    pub fn progress(&self, skill: &Skill, places: &Places, history: &[String]) -> f32 {
        if self.is_empty() {
            return 1.0;
        }
        let done = self.satisfied(places, history);
        match skill {
            Skill::Done => {
                if done {
                    1.0
                } else {
                    UNLIKELY
                }
            }
            _ if done => UNLIKELY,
            // Not among the SayCan candidates (its point is not a scene
            // object); the goal reader has no goal it would serve.
            Skill::PlaceAt { .. } => FORBIDDEN,
            Skill::Pick(c) => {
                let name = format!("{c} block");
                if self.keep.contains(&name) {
                    return FORBIDDEN;
                }
                if self.in_the_way(&name, places) {
                    return 1.0;
                }
                match self.goal_of(&name) {
                    Some(p) if places.get(&name) == Some(p) => FORBIDDEN,
                    // Towers go up from the bottom: not onto a block that
                    // has yet to reach its own goal.
                    Some(p)
                        if p.strip_prefix("on ").is_some_and(|below| {
                            self.goal_of(below)
                                .is_some_and(|g| places.get(below) != Some(g))
                        }) =>
                    {
                        FORBIDDEN
                    }
                    Some(_) => 1.0,
                    // Not what the instruction is about.
                    None => FORBIDDEN,
                }
            }
            Skill::PlaceIn(c) | Skill::PlaceOn(c) => {
                let target = match skill {
                    Skill::PlaceIn(_) => format!("{c} bowl"),
                    _ => format!("on {c} block"),
                };
                let Some(held) = places.holding() else {
                    return 1.0;
                };
                match self.goal_of(&held) {
                    Some(p) if p == target => 1.0,
                    Some(_) => FORBIDDEN,
                    // A block moved out of the way (or held at the start):
                    // anywhere that blocks no goal.
                    None => {
                        let onto = target.strip_prefix("on ").map(str::to_string);
                        if onto.is_some_and(|b| {
                            self.needed(places).contains(&b) || self.goal_of(&b).is_some()
                        }) {
                            FORBIDDEN
                        } else {
                            1.0
                        }
                    }
                }
            }
            Skill::Home => {
                if self.home {
                    1.0
                } else if self.no_home {
                    FORBIDDEN
                } else {
                    UNASKED_HOME
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(o: &str, p: &str) -> (String, String) {
        (o.to_string(), p.to_string())
    }

    fn goals(g: &[(&str, &str)]) -> Goals {
        Goals {
            goals: g.iter().map(|(o, p)| pair(o, p)).collect(),
            ..Goals::default()
        }
    }

    #[test]
    fn done_waits_for_the_goals() {
        let goals = goals(&[("red block", "green bowl")]);
        let mut places = Places(vec![
            pair("red block", "table"),
            pair("green block", "table"),
            pair("blue block", "table"),
        ]);
        assert_eq!(goals.progress(&Skill::Done, &places, &[]), UNLIKELY);
        assert_eq!(
            goals.progress(&Skill::Pick("blue".into()), &places, &[]),
            FORBIDDEN
        );
        places.set("red block", "green bowl");
        assert_eq!(goals.progress(&Skill::Done, &places, &[]), 1.0);
        assert_eq!(
            goals.progress(&Skill::Pick("red".into()), &places, &[]),
            UNLIKELY
        );
    }

    #[test]
    fn a_block_in_the_way_is_on_task() {
        let goals = goals(&[("red block", "green bowl")]);
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
            FORBIDDEN
        );
        // A block on the destination of a stacking goal is in the way too.
        let stack = super::Goals {
            goals: vec![pair("blue block", "on red block")],
            ..Goals::default()
        };
        assert!(stack.in_the_way("green block", &places));
    }

    #[test]
    fn kept_blocks_and_home_are_forbidden() {
        let g = Goals {
            goals: vec![pair("red block", "green bowl")],
            keep: vec!["blue block".into()],
            no_home: true,
            ..Goals::default()
        };
        let places = Places(vec![
            pair("red block", "table"),
            pair("blue block", "table"),
        ]);
        assert_eq!(
            g.progress(&Skill::Pick("blue".into()), &places, &[]),
            FORBIDDEN
        );
        assert_eq!(g.progress(&Skill::Home, &places, &[]), FORBIDDEN);
        let mut held = places.clone();
        held.set("red block", "gripper");
        assert_eq!(
            g.progress(&Skill::PlaceIn("yellow".into()), &held, &[]),
            FORBIDDEN
        );
        assert_eq!(g.progress(&Skill::PlaceIn("green".into()), &held, &[]), 1.0);
    }
}
