//! The exact state of the tabletop (joint states, cup, what it holds, object
//! positions), its layout as the plant's sensor vector, and where each object
//! is in words: `"table"`, `"gripper"`, `"green bowl"`, `"on blue block"`.

use super::scene::{BLOCK_SIZE, BOWL_RADIUS, BOWL_WALL, MAX_BLOCKS, MAX_BOWLS, SceneSpec};

/// Sensor names of the tabletop plant, in order. Object slots follow the
/// scene's order (blocks as listed, then bowls); empty slots read 0 (a block
/// slot's z reads −1).
pub const SENSORS: &[&str] = &[
    "base.position",
    "shoulder.position",
    "elbow.position",
    "wrist.position",
    "base.velocity",
    "shoulder.velocity",
    "elbow.velocity",
    "wrist.velocity",
    "cup.x",
    "cup.y",
    "cup.z",
    "gripper.suction",
    "gripper.holding",
    "block0.x",
    "block0.y",
    "block0.z",
    "block1.x",
    "block1.y",
    "block1.z",
    "block2.x",
    "block2.y",
    "block2.z",
    "block3.x",
    "block3.y",
    "block3.z",
    "block4.x",
    "block4.y",
    "block4.z",
    "block5.x",
    "block5.y",
    "block5.z",
    "bowl0.x",
    "bowl0.y",
    "bowl1.x",
    "bowl1.y",
    "bowl2.x",
    "bowl2.y",
    "bowl3.x",
    "bowl3.y",
];
const BLOCKS_AT: usize = 13;
const _: () = assert!(SENSORS.len() == BLOCKS_AT + 3 * MAX_BLOCKS + 2 * MAX_BOWLS);
const BOWLS_AT: usize = BLOCKS_AT + 3 * MAX_BLOCKS;

/// Actuators: joint speed commands (rad/s) and the suction (on when > 0.5).
pub const ACTUATORS: &[&str] = &[
    "base.velocity",
    "shoulder.velocity",
    "elbow.velocity",
    "wrist.velocity",
    "gripper.suction",
];

/// Exact state of the tabletop.
#[derive(Clone, Debug, PartialEq)]
pub struct TabletopState {
    pub q: [f32; 4],
    pub v: [f32; 4],
    pub cup: [f32; 3],
    pub suction: bool,
    pub held: Option<usize>,
    pub blocks: Vec<[f32; 3]>,
    pub bowls: Vec<[f32; 3]>,
}

impl TabletopState {
    /// Writes the state as the sensor vector (`SENSORS` order).
    pub fn write_sensors(&self, out: &mut [f32]) {
        if out.len() < SENSORS.len() {
            return;
        }
        out[..4].copy_from_slice(&self.q);
        out[4..8].copy_from_slice(&self.v);
        out[8..11].copy_from_slice(&self.cup);
        out[11] = if self.suction { 1.0 } else { 0.0 };
        out[12] = self.held.map_or(-1.0, |i| i as f32);
        for k in 0..MAX_BLOCKS {
            let p = self.blocks.get(k).copied().unwrap_or([0.0, 0.0, -1.0]);
            out[BLOCKS_AT + 3 * k..BLOCKS_AT + 3 * k + 3].copy_from_slice(&p);
        }
        for k in 0..MAX_BOWLS {
            let p = self.bowls.get(k).copied().unwrap_or([0.0; 3]);
            out[BOWLS_AT + 2 * k] = p[0];
            out[BOWLS_AT + 2 * k + 1] = p[1];
        }
    }

    /// Reads a state back from a sensor vector, for a scene with
    /// `n_blocks` blocks and `n_bowls` bowls.
    pub fn from_sensors(s: &[f32], n_blocks: usize, n_bowls: usize) -> Option<TabletopState> {
        if s.len() < SENSORS.len() || n_blocks > MAX_BLOCKS || n_bowls > MAX_BOWLS {
            return None;
        }
        let arr4 = |a: usize| [s[a], s[a + 1], s[a + 2], s[a + 3]];
        let held = s[12];
        Some(TabletopState {
            q: arr4(0),
            v: arr4(4),
            cup: [s[8], s[9], s[10]],
            suction: s[11] > 0.5,
            held: (held >= 0.0 && (held as usize) < n_blocks).then_some(held as usize),
            blocks: (0..n_blocks)
                .map(|k| {
                    let a = BLOCKS_AT + 3 * k;
                    [s[a], s[a + 1], s[a + 2]]
                })
                .collect(),
            bowls: (0..n_bowls)
                .map(|k| [s[BOWLS_AT + 2 * k], s[BOWLS_AT + 2 * k + 1], 0.0])
                .collect(),
        })
    }

    /// Index of the bowl block `i` lies in.
    pub fn bowl_of(&self, i: usize) -> Option<usize> {
        if self.held == Some(i) {
            return None;
        }
        let p = self.blocks[i];
        self.bowls.iter().position(|c| {
            (p[0] - c[0]).hypot(p[1] - c[1]) < BOWL_RADIUS && p[2] < BOWL_WALL + BLOCK_SIZE
        })
    }

    /// Index of the block that block `i` rests on.
    pub fn below(&self, i: usize) -> Option<usize> {
        if self.held == Some(i) {
            return None;
        }
        let p = self.blocks[i];
        (0..self.blocks.len()).find(|&k| {
            let q = self.blocks[k];
            k != i
                && self.held != Some(k)
                && (p[0] - q[0]).abs() < BLOCK_SIZE * 0.8
                && (p[1] - q[1]).abs() < BLOCK_SIZE * 0.8
                && (p[2] - q[2] - BLOCK_SIZE).abs() < BLOCK_SIZE * 0.3
        })
    }

    /// Index of the block resting on block `i`.
    pub fn above(&self, i: usize) -> Option<usize> {
        (0..self.blocks.len()).find(|&k| self.below(k) == Some(i))
    }

    /// Where block `i` is, in words.
    pub fn block_place(&self, scene: &SceneSpec, i: usize) -> String {
        if self.held == Some(i) {
            return "gripper".into();
        }
        if self.blocks[i][2] < -0.05 {
            return "floor".into();
        }
        if let Some(k) = self.bowl_of(i) {
            return format!("{} bowl", scene.bowls[k]);
        }
        if let Some(k) = self.below(i) {
            return format!("on {} block", scene.blocks[k]);
        }
        "table".into()
    }

    /// Every object and its place, blocks then bowls (bowls are fixed to
    /// the table).
    pub fn places(&self, scene: &SceneSpec) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = (0..self.blocks.len().min(scene.blocks.len()))
            .map(|i| {
                (
                    format!("{} block", scene.blocks[i]),
                    self.block_place(scene, i),
                )
            })
            .collect();
        out.extend(
            scene
                .bowls
                .iter()
                .map(|b| (format!("{b} bowl"), "table".to_string())),
        );
        out
    }
}
