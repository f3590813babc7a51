//! The skill registry of the tabletop: `pick up the {block}`, `place it in the
//! {bowl}`, `place it on the {block}`, `go to home`, `done`. Each skill has
//! its text, its parameters, an execution (waypoints for the learned reaching
//! policy plus the suction, run through the control loop and safety filter:
//! `executor`), a termination test (succeeded / failed / timed out) and a
//! time limit, and an affordance: a learned P(success | state, skill)
//! (`affordance`).

pub mod affordance;
pub mod affordance_train;
pub mod executor;
pub mod features;
pub mod motion;
pub mod report;
pub mod sight;

use std::fmt;

use ganglion_sim::tabletop::scene::COLORS;
use ganglion_sim::{SceneSpec, TabletopState};

pub use executor::{SkillOutcome, SkillRecording, SkillRun, SkillRunner};
pub use sight::PerceptionMode;

/// A grounded skill: a template with its parameters filled in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Skill {
    /// `pick up the {color} block`
    Pick(String),
    /// `place it in the {color} bowl`
    PlaceIn(String),
    /// `place it on the {color} block`
    PlaceOn(String),
    /// `go to home`
    Home,
    /// `done`
    Done,
}

/// The families of skills (one affordance model each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Pick,
    PlaceIn,
    PlaceOn,
    Home,
    Done,
}

impl Family {
    pub const ALL: [Family; 5] = [
        Family::Pick,
        Family::PlaceIn,
        Family::PlaceOn,
        Family::Home,
        Family::Done,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::Pick => "pick",
            Family::PlaceIn => "place-in",
            Family::PlaceOn => "place-on",
            Family::Home => "home",
            Family::Done => "done",
        }
    }

    /// The skill text with `{}` where the colour goes.
    pub fn template(self) -> &'static str {
        match self {
            Family::Pick => "pick up the {} block",
            Family::PlaceIn => "place it in the {} bowl",
            Family::PlaceOn => "place it on the {} block",
            Family::Home => "go to home",
            Family::Done => "done",
        }
    }

    /// Control ticks (25 Hz) a skill of this family may take.
    pub fn time_limit_ticks(self) -> u64 {
        match self {
            Family::Pick | Family::PlaceIn | Family::PlaceOn => 300,
            Family::Home => 150,
            Family::Done => 0,
        }
    }
}

/// A skill text that is not in the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownSkill(pub String);

impl fmt::Display for UnknownSkill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a skill; skills are: `pick up the <colour> block`, `place it in the \
             <colour> bowl`, `place it on the <colour> block`, `go to home`, `done` \
             (colours: {})",
            self.0,
            COLORS.join(", ")
        )
    }
}

impl std::error::Error for UnknownSkill {}

impl Skill {
    pub fn family(&self) -> Family {
        match self {
            Skill::Pick(_) => Family::Pick,
            Skill::PlaceIn(_) => Family::PlaceIn,
            Skill::PlaceOn(_) => Family::PlaceOn,
            Skill::Home => Family::Home,
            Skill::Done => Family::Done,
        }
    }

    /// The colour parameter, if the skill has one.
    pub fn color(&self) -> Option<&str> {
        match self {
            Skill::Pick(c) | Skill::PlaceIn(c) | Skill::PlaceOn(c) => Some(c),
            Skill::Home | Skill::Done => None,
        }
    }

    pub fn text(&self) -> String {
        let t = self.family().template();
        match self.color() {
            Some(c) => t.replace("{}", c),
            None => t.to_string(),
        }
    }

    /// Parses a skill text (case and surrounding space ignored).
    pub fn parse(text: &str) -> Result<Skill, UnknownSkill> {
        let norm = text.trim().to_lowercase();
        let words: Vec<&str> = norm.split_whitespace().collect();
        let joined = words.join(" ");
        for fam in Family::ALL {
            let t = fam.template();
            match t.split_once("{}") {
                None if joined == t => {
                    return Ok(match fam {
                        Family::Home => Skill::Home,
                        _ => Skill::Done,
                    });
                }
                Some((pre, post)) => {
                    if let Some(rest) = joined.strip_prefix(pre)
                        && let Some(color) = rest.strip_suffix(post)
                        && COLORS.contains(&color)
                    {
                        let c = color.to_string();
                        return Ok(match fam {
                            Family::Pick => Skill::Pick(c),
                            Family::PlaceIn => Skill::PlaceIn(c),
                            _ => Skill::PlaceOn(c),
                        });
                    }
                }
                None => {}
            }
        }
        Err(UnknownSkill(text.trim().to_string()))
    }

    /// Every skill grounded in `scene`: each template filled with each
    /// matching object, then `go to home` and `done`.
    pub fn candidates(scene: &SceneSpec) -> Vec<Skill> {
        let mut out = Vec::new();
        out.extend(scene.blocks.iter().map(|c| Skill::Pick(c.clone())));
        out.extend(scene.bowls.iter().map(|c| Skill::PlaceIn(c.clone())));
        out.extend(scene.blocks.iter().map(|c| Skill::PlaceOn(c.clone())));
        out.push(Skill::Home);
        out.push(Skill::Done);
        out
    }

    /// The skill's effect on the symbolic state, if its preconditions hold
    /// (`None`: it would fail). Used to plan without executing and as the
    /// ground truth of which cases are feasible.
    pub fn apply_symbolic(&self, scene: &SceneSpec, places: &mut Places) -> Option<()> {
        let block = |c: &str| {
            scene
                .blocks
                .iter()
                .any(|b| b == c)
                .then(|| format!("{c} block"))
        };
        let held = places.holding();
        match self {
            Skill::Pick(c) => {
                let name = block(c)?;
                if held.is_some() || places.has_on_top(&name) {
                    return None;
                }
                places.set(&name, "gripper");
            }
            Skill::PlaceIn(c) => {
                scene.bowls.iter().any(|b| b == c).then_some(())?;
                places.set(&held?, &format!("{c} bowl"));
            }
            Skill::PlaceOn(c) => {
                let name = block(c)?;
                let h = held?;
                if h == name || places.has_on_top(&name) {
                    return None;
                }
                places.set(&h, &format!("on {name}"));
            }
            Skill::Home | Skill::Done => {}
        }
        Some(())
    }
}

impl fmt::Display for Skill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// Where every object is, as (object, place) pairs: the `final_state` of
/// the CLI, and the symbolic state planning works on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Places(pub Vec<(String, String)>);

impl Places {
    pub fn of(state: &TabletopState, scene: &SceneSpec) -> Places {
        Places(state.places(scene))
    }

    pub fn get(&self, object: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(o, _)| o == object)
            .map(|(_, p)| p.as_str())
    }

    pub fn set(&mut self, object: &str, place: &str) {
        if let Some(slot) = self.0.iter_mut().find(|(o, _)| o == object) {
            slot.1 = place.to_string();
        }
    }

    /// The held block, if any.
    pub fn holding(&self) -> Option<String> {
        self.0
            .iter()
            .find(|(_, p)| p == "gripper")
            .map(|(o, _)| o.clone())
    }

    /// Whether a block rests on `block`.
    pub fn has_on_top(&self, block: &str) -> bool {
        let on = format!("on {block}");
        self.0.iter().any(|(_, p)| *p == on)
    }

    /// As a JSON object `{object: place}` (scene order).
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (o, p) in &self.0 {
            m.insert(o.clone(), serde_json::Value::String(p.clone()));
        }
        serde_json::Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_round_trip() {
        let scene = SceneSpec::parse("blocks=red,green; bowls=blue").unwrap();
        for s in Skill::candidates(&scene) {
            assert_eq!(Skill::parse(&s.text()).unwrap(), s);
        }
        assert_eq!(
            Skill::parse("  Pick up the  RED block ").unwrap(),
            Skill::Pick("red".into())
        );
        assert!(Skill::parse("pick up the crimson block").is_err());
        assert!(
            Skill::parse("fly away")
                .unwrap_err()
                .to_string()
                .contains("not a skill")
        );
    }

    #[test]
    fn symbolic_effects_follow_preconditions() {
        let scene = SceneSpec::parse("blocks=red,blue; bowls=green; stacked=red/blue").unwrap();
        let mut p = Places(vec![
            ("red block".into(), "on blue block".into()),
            ("blue block".into(), "table".into()),
            ("green bowl".into(), "table".into()),
        ]);
        let ok = |s: Skill, p: &mut Places| s.apply_symbolic(&scene, p).is_some();
        assert!(!ok(Skill::Pick("blue".into()), &mut p));
        assert!(!ok(Skill::PlaceIn("green".into()), &mut p));
        assert!(ok(Skill::Pick("red".into()), &mut p));
        assert_eq!(p.get("red block"), Some("gripper"));
        assert!(!ok(Skill::Pick("blue".into()), &mut p));
        assert!(ok(Skill::PlaceIn("green".into()), &mut p));
        assert_eq!(p.get("red block"), Some("green bowl"));
        assert!(!ok(Skill::Pick("yellow".into()), &mut p));
    }
}
