//! What an affordance model sees of a (state, skill) pair: a short, fixed
//! vector computed from the exact state and the skill's parameter. The
//! models learn P(success) from these; which combinations make a skill fail
//! (holding already, something on top, an absent object…) is theirs to learn
//! from the labelled executions, not written here.

use ganglion_sim::{SceneSpec, TabletopState};

use super::Skill;

/// Width of the feature vector.
pub const FEATURES: usize = 11;

/// Names of the features, in order (for docs and debugging).
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "holding_any",
    "object_present",
    "object_is_held",
    "object_has_block_on_top",
    "object_in_bowl",
    "object_on_block",
    "object_radius_m",
    "object_height_m",
    "object_bearing_rad",
    "cup_radius_m",
    "cup_height_m",
];

/// The features of `skill` in `state` (a `done`/`go to home` skill sees only
/// the arm's part).
pub fn features(skill: &Skill, scene: &SceneSpec, state: &TabletopState) -> [f32; FEATURES] {
    let mut f = [0.0f32; FEATURES];
    f[0] = state.held.is_some() as u8 as f32;
    let obj: Option<([f32; 3], Option<usize>)> = match skill {
        Skill::Pick(c) | Skill::PlaceOn(c) => scene
            .blocks
            .iter()
            .position(|b| b == c)
            .map(|i| (state.blocks[i], Some(i))),
        Skill::PlaceIn(c) => scene
            .bowls
            .iter()
            .position(|b| b == c)
            .map(|k| (state.bowls[k], None)),
        // The spot on the table: its clearance from other objects is the
        // "something on top" slot (occupied: 1).
        Skill::PlaceAt { .. } => skill.point().map(|p| ([p[0], p[1], 0.0], None)),
        Skill::Home | Skill::Done => None,
    };
    if let Some((p, block)) = obj {
        f[1] = 1.0;
        if let Some(i) = block {
            f[2] = (state.held == Some(i)) as u8 as f32;
            f[3] = state.above(i).is_some() as u8 as f32;
            f[4] = state.bowl_of(i).is_some() as u8 as f32;
            f[5] = state.below(i).is_some() as u8 as f32;
        }
        if let Some(p) = skill.point() {
            f[3] = super::motion::table_spot_problem(scene, state, p, state.held).is_some() as u8
                as f32;
        }
        f[6] = p[0].hypot(p[1]);
        f[7] = p[2];
        f[8] = p[1].atan2(p[0]);
    }
    f[9] = state.cup[0].hypot(state.cup[1]);
    f[10] = state.cup[2];
    f
}
