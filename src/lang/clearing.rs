//! The moves that clear the way for a program the robot's start state
//! stops (`code_plan::vet`): a block already in the gripper set down, and
//! blocks on top of one the program picks by name lifted off, each to the
//! free table spot with the most room.

use ganglion_sim::{SceneSpec, TabletopState};

/// Moves that clear the way for `source` from `state`: the block in the
/// gripper set down, then every block on top of a block the program picks
/// by name lifted off, each to the free table spot with the most room.
/// Empty when nothing is in the way or no spot is free.
pub(crate) fn clearing_prologue(scene: &SceneSpec, state: &TabletopState, source: &str) -> String {
    use ganglion_sim::tabletop::scene::BLOCK_SIZE;
    let mut s = state.clone();
    let mut out = String::new();
    let name = |i: usize| format!("{} block", scene.blocks[i]);
    let set_down = |s: &mut TabletopState, i: usize, out: &mut String| -> bool {
        let Some(p) = free_spot(scene, s, Some(i)) else {
            return false;
        };
        out.push_str(&format!("place_at({:.3}, {:.3});\n", p[0], p[1]));
        s.blocks[i] = [p[0], p[1], BLOCK_SIZE * 0.5];
        s.held = None;
        s.suction = false;
        true
    };
    if let Some(h) = s.held
        && !set_down(&mut s, h, &mut out)
    {
        return String::new();
    }
    for i in 0..scene.blocks.len() {
        if !source.contains(&format!("pick(\"{}\")", name(i))) {
            continue;
        }
        // The top of the stack on block i first, down to i.
        while let Some(top) =
            (0..scene.blocks.len()).find(|&k| s.above(k).is_none() && stack_holds(&s, i, k))
        {
            out.push_str(&format!("pick(\"{}\");\n", name(top)));
            s.held = Some(top);
            if !set_down(&mut s, top, &mut out) {
                return String::new();
            }
        }
    }
    out
}

/// Whether block `k` sits somewhere above block `i` (not `i` itself).
fn stack_holds(s: &TabletopState, i: usize, k: usize) -> bool {
    let mut at = k;
    while let Some(b) = s.below(at) {
        if b == i {
            return true;
        }
        at = b;
    }
    false
}

/// The free table spot (on a 2 cm grid of the work area) farthest from
/// every other object, for block `moving`.
fn free_spot(scene: &SceneSpec, s: &TabletopState, moving: Option<usize>) -> Option<[f32; 2]> {
    let mut best: Option<([f32; 2], f32)> = None;
    for xi in 0..10 {
        for yi in 0..23 {
            let p = [0.28 + 0.02 * xi as f32, -0.22 + 0.02 * yi as f32];
            if crate::skills::motion::table_spot_problem(scene, s, p, moving).is_some() {
                continue;
            }
            let room = s
                .blocks
                .iter()
                .enumerate()
                .filter(|(k, _)| Some(*k) != moving)
                .map(|(_, b)| b)
                .chain(s.bowls.iter())
                .map(|b| (b[0] - p[0]).hypot(b[1] - p[1]))
                .fold(f32::INFINITY, f32::min);
            if best.is_none_or(|(_, r)| room > r) {
                best = Some((p, room));
            }
        }
    }
    best.map(|(p, _)| p)
}
