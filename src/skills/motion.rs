//! How a skill moves: the waypoints of the cup (for the learned reaching
//! policy) and the suction at each, computed from the exact state when the
//! skill starts, and the skill's termination test on the state when it ends.

use ganglion_sim::tabletop::arm::{HOME, TabletopArm};
use ganglion_sim::tabletop::scene::{BLOCK_SIZE, BOWL_FLOOR, BOWL_RADIUS};
use ganglion_sim::{SceneSpec, TabletopState};

use super::Skill;

/// Cup height for moves between objects (m): a held block (hanging 4 cm
/// under the cup) clears a stack of two and the bowl walls.
pub const TRANSIT_HEIGHT: f32 = 0.17;

/// Where `place it at` may set a block down: the distance from the base
/// axis (m). The scene's own spots are drawn from 0.27–0.50 m; the reaching
/// policy is trained a little past both ends.
pub const TABLE_REACH: (f32, f32) = (0.25, 0.52);
/// How far a block set down on the table stays from another block's centre
/// and from a bowl's centre (m).
pub const BLOCK_CLEARANCE: f32 = BLOCK_SIZE * 1.25;
pub const BOWL_CLEARANCE: f32 = BOWL_RADIUS + 0.035;
/// How close to its target point `place it at` must leave the block (m).
pub const PLACE_AT_TOLERANCE: f32 = 0.03;

/// Why a block cannot be set down at `p` in `state` (out of reach, or on
/// another object; `held`: the block being placed, which does not count).
pub fn table_spot_problem(
    scene: &SceneSpec,
    state: &TabletopState,
    p: [f32; 2],
    held: Option<usize>,
) -> Option<String> {
    let r = p[0].hypot(p[1]);
    if !(TABLE_REACH.0..=TABLE_REACH.1).contains(&r) {
        return Some(format!(
            "({:.3}, {:.3}) is {r:.3} m from the base axis; the arm sets blocks down between {} and {} m",
            p[0], p[1], TABLE_REACH.0, TABLE_REACH.1
        ));
    }
    if p[0] <= 0.0 {
        return Some(format!(
            "({:.3}, {:.3}) is behind the arm (x must be > 0)",
            p[0], p[1]
        ));
    }
    for (i, b) in state.blocks.iter().enumerate() {
        if Some(i) != held && (b[0] - p[0]).hypot(b[1] - p[1]) < BLOCK_CLEARANCE {
            return Some(format!(
                "({:.3}, {:.3}) is taken by the {} block",
                p[0],
                p[1],
                scene.blocks.get(i).map_or("?", |s| s.as_str())
            ));
        }
    }
    for (k, b) in state.bowls.iter().enumerate() {
        if (b[0] - p[0]).hypot(b[1] - p[1]) < BOWL_CLEARANCE {
            return Some(format!(
                "({:.3}, {:.3}) is on the {} bowl (use place_in for a bowl)",
                p[0],
                p[1],
                scene.bowls.get(k).map_or("?", |s| s.as_str())
            ));
        }
    }
    None
}

/// What a waypoint waits for before the next one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Until {
    /// The cup is within `tol` (m) of the target.
    Reached { tol: f32 },
    /// The cup holds a block, or has sat at the target for a while (then
    /// the termination test decides).
    Attached,
    /// Stand still for this many ticks (the released block settles).
    Wait { ticks: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Waypoint {
    pub target: [f32; 3],
    pub suction: bool,
    pub until: Until,
}

/// What the skill needs from the state at its start.
#[derive(Clone, Debug, PartialEq)]
pub struct Start {
    pub held: Option<usize>,
}

/// The waypoints of `skill` from `state`, or why it cannot even start (an
/// object that is not in the scene, a block placed on itself).
pub fn waypoints(
    skill: &Skill,
    scene: &SceneSpec,
    state: &TabletopState,
) -> Result<Vec<Waypoint>, String> {
    let keep = state.suction;
    let block = |c: &str| {
        scene
            .blocks
            .iter()
            .position(|b| b == c)
            .ok_or_else(|| format!("there is no {c} block in the scene"))
    };
    Ok(match skill {
        Skill::Pick(c) => {
            let i = block(c)?;
            let p = state.blocks[i];
            let top = p[2] + BLOCK_SIZE * 0.5;
            let high = (top + 0.08).max(TRANSIT_HEIGHT);
            vec![
                // Over the block's centre first, so the descent is vertical
                // and the cup seals in the middle of the top face.
                mv([p[0], p[1], high], keep, 0.006),
                Waypoint {
                    target: [p[0], p[1], top - 0.004],
                    suction: true,
                    until: Until::Attached,
                },
                mv([p[0], p[1], high], true, 0.02),
            ]
        }
        Skill::PlaceIn(c) => {
            let k = scene
                .bowls
                .iter()
                .position(|b| b == c)
                .ok_or_else(|| format!("there is no {c} bowl in the scene"))?;
            let b = state.bowls[k];
            vec![
                mv([b[0], b[1], TRANSIT_HEIGHT], keep, 0.015),
                mv([b[0], b[1], BOWL_FLOOR + BLOCK_SIZE + 0.015], keep, 0.01),
                Waypoint {
                    target: [b[0], b[1], BOWL_FLOOR + BLOCK_SIZE + 0.015],
                    suction: false,
                    until: Until::Wait { ticks: 12 },
                },
                mv([b[0], b[1], TRANSIT_HEIGHT], false, 0.02),
            ]
        }
        Skill::PlaceOn(c) => {
            let t = block(c)?;
            if state.held == Some(t) {
                return Err(format!("cannot place the {c} block on itself"));
            }
            let p = state.blocks[t];
            let top = p[2] + BLOCK_SIZE * 0.5;
            // Put the held block's centre (not the cup) over the target: the
            // block may hang up to a seal radius off the cup's axis. The
            // offset turns with the base, so carry it in the arm's frame.
            let (ox, oy) = match state.held {
                Some(h) => {
                    let (dx, dy) = (
                        state.blocks[h][0] - state.cup[0],
                        state.blocks[h][1] - state.cup[1],
                    );
                    let turn = p[1].atan2(p[0]) - state.cup[1].atan2(state.cup[0]);
                    let (s, c) = turn.sin_cos();
                    (c * dx - s * dy, s * dx + c * dy)
                }
                None => (0.0, 0.0),
            };
            let (x, y) = (p[0] - ox, p[1] - oy);
            let release = top + BLOCK_SIZE + 0.004;
            set_down([x, y], release, (top + 0.12).max(TRANSIT_HEIGHT), keep)
        }
        Skill::PlaceAt { .. } => {
            let Some(target) = skill.point() else {
                return Err("place it at: no point".into());
            };
            let Some(h) = state.held else {
                return Err("place it at: no block is held".into());
            };
            if let Some(why) = table_spot_problem(scene, state, target, Some(h)) {
                return Err(why);
            }
            // As for `place it on`: the held block's centre, not the cup,
            // goes over the target.
            let (dx, dy) = (
                state.blocks[h][0] - state.cup[0],
                state.blocks[h][1] - state.cup[1],
            );
            let turn = target[1].atan2(target[0]) - state.cup[1].atan2(state.cup[0]);
            let (s, c) = turn.sin_cos();
            let (x, y) = (target[0] - (c * dx - s * dy), target[1] - (s * dx + c * dy));
            set_down([x, y], BLOCK_SIZE + 0.006, TRANSIT_HEIGHT, keep)
        }
        Skill::Home => vec![mv(home_position(), keep, 0.01)],
        Skill::Done => Vec::new(),
    })
}

/// Move the cup to `target` (within `tol`), suction as given.
fn mv(target: [f32; 3], suction: bool, tol: f32) -> Waypoint {
    Waypoint {
        target,
        suction,
        until: Until::Reached { tol },
    }
}

/// Setting the held block down with the cup over `xy`: in at `high`, down
/// to `release`, come to rest before letting go (so the block does not
/// fly), let go, and back up to `high`.
fn set_down(xy: [f32; 2], release: f32, high: f32, keep: bool) -> Vec<Waypoint> {
    let [x, y] = xy;
    let wait = |suction: bool, ticks: u32| Waypoint {
        target: [x, y, release],
        suction,
        until: Until::Wait { ticks },
    };
    vec![
        mv([x, y, high], keep, 0.015),
        mv([x, y, release], keep, 0.004),
        wait(keep, 6),
        wait(false, 12),
        mv([x, y, high], false, 0.02),
    ]
}

/// The cup position of the shipped arm's home pose.
pub fn home_position() -> [f32; 3] {
    TabletopArm::shipped().geometry.tool_position(&HOME)
}

/// The termination test: did `skill`, started in `start`, succeed in
/// `end`?
pub fn succeeded(skill: &Skill, scene: &SceneSpec, start: &Start, end: &TabletopState) -> bool {
    let block = |c: &str| scene.blocks.iter().position(|b| b == c);
    match skill {
        Skill::Pick(c) => {
            let Some(i) = block(c) else { return false };
            start.held != Some(i) && end.held == Some(i)
        }
        Skill::PlaceIn(c) => {
            let (Some(h), Some(k)) = (start.held, scene.bowls.iter().position(|b| b == c)) else {
                return false;
            };
            end.held.is_none() && end.bowl_of(h) == Some(k)
        }
        Skill::PlaceOn(c) => {
            let (Some(h), Some(t)) = (start.held, block(c)) else {
                return false;
            };
            end.held.is_none() && end.below(h) == Some(t)
        }
        Skill::PlaceAt { .. } => {
            let (Some(h), Some(p)) = (start.held, skill.point()) else {
                return false;
            };
            let b = end.blocks[h];
            end.held.is_none()
                && end.bowl_of(h).is_none()
                && end.below(h).is_none()
                && b[2] < BLOCK_SIZE
                && (b[0] - p[0]).hypot(b[1] - p[1]) <= PLACE_AT_TOLERANCE
        }
        Skill::Home => {
            let h = home_position();
            (0..3)
                .map(|k| (end.cup[k] - h[k]).powi(2))
                .sum::<f32>()
                .sqrt()
                < 0.02
        }
        Skill::Done => true,
    }
}
