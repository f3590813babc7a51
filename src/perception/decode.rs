//! From the network's output planes to objects: each pixel takes its most
//! likely class; each object class keeps its largest connected region; the
//! region's pixels vote for the object's centre (their world point plus the
//! predicted offset), weighted by the predicted confidence per axis, with a
//! second pass that drops votes far from the first estimate. The detections,
//! with the arm's own state (joints, cup), make a perceived
//! `TabletopState` whose relations follow the simulator's rules.

use ganglion_sim::TabletopState;
use ganglion_sim::tabletop::scene::{BLOCK_SIZE, COLORS, SceneSpec};

use super::features::UNIT_M;
use super::net::{LOG_SCALE, OFFSET_AT, SCALE_AT};
use super::{CLASSES, Kind, class_parts};

/// A region smaller than this is noise, not an object: a block seen whole
/// covers 12–40 pixels here, one mostly hidden (under another block, in a
/// bowl) still 7 or more; a bowl over 60.
const MIN_BLOCK_PIXELS: usize = 7;
const MIN_BOWL_PIXELS: usize = 20;

/// One object the camera sees.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub kind: Kind,
    pub color: &'static str,
    /// Block: its centre; bowl: the centre of its base (z = 0).
    pub position: [f32; 3],
    pub pixels: usize,
}

/// What perception makes of a frame: the objects, and the scene and state
/// the skills and the planner read (blocks and bowls in colour order).
#[derive(Clone, Debug)]
pub struct Perceived {
    pub detections: Vec<Detection>,
    pub scene: SceneSpec,
    pub state: TabletopState,
}

/// The detections in output planes `maps` (`OUT_CHANNELS × h × w`), with
/// `points` each pixel's world point and `valid` whether it has one.
/// `eye` is the camera's position (which faces it sees).
pub fn detect(
    maps: &[f32],
    points: &[[f32; 3]],
    valid: &[bool],
    (h, w): (usize, usize),
    eye: [f32; 3],
) -> Vec<Detection> {
    let n = h * w;
    let mut label = vec![0u8; n];
    for (i, l) in label.iter_mut().enumerate() {
        let mut best = (0, f32::NEG_INFINITY);
        for c in 0..CLASSES {
            let v = maps[c * n + i];
            if v > best.1 {
                best = (c, v);
            }
        }
        *l = best.0 as u8;
    }
    let mut seen = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut regions: Vec<Vec<usize>> = Vec::new();
    for c in 1..CLASSES as u8 {
        // The largest 4-connected region of class `c`.
        let mut best: Vec<usize> = Vec::new();
        for start in 0..n {
            if label[start] != c || seen[start] {
                continue;
            }
            let mut region = Vec::new();
            seen[start] = true;
            stack.push(start);
            while let Some(i) = stack.pop() {
                region.push(i);
                let (y, x) = (i / w, i % w);
                let mut visit = |j: usize| {
                    if label[j] == c && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                };
                if x > 0 {
                    visit(i - 1);
                }
                if x + 1 < w {
                    visit(i + 1);
                }
                if y > 0 {
                    visit(i - w);
                }
                if y + 1 < h {
                    visit(i + w);
                }
            }
            if region.len() > best.len() {
                best = region;
            }
        }
        let Some((kind, color)) = class_parts(c as usize) else {
            continue;
        };
        let votes: Vec<usize> = best.into_iter().filter(|i| valid[*i]).collect();
        let least = match kind {
            Kind::Block => MIN_BLOCK_PIXELS,
            Kind::Bowl => MIN_BOWL_PIXELS,
        };
        if votes.len() < least {
            continue;
        }
        let Some(mut position) = vote(maps, points, &votes, n, None) else {
            continue;
        };
        // Second pass: only votes near the first estimate.
        let radius = match kind {
            Kind::Block => 0.02,
            Kind::Bowl => 0.04,
        };
        if let Some(p) = vote(maps, points, &votes, n, Some((position, radius))) {
            position = p;
        }
        if kind == Kind::Bowl {
            position[2] = 0.0;
        }
        out.push(Detection {
            kind,
            color,
            position,
            pixels: votes.len(),
        });
        regions.push(votes);
    }
    // Blocks: refine from their faces.
    let on_top = |k: usize, out: &[Detection]| -> Option<usize> {
        let d = &out[k];
        (0..out.len()).find(|&j| {
            let o = &out[j];
            j != k
                && o.kind == Kind::Block
                && (o.position[0] - d.position[0]).hypot(o.position[1] - d.position[1]) < 0.03
                && o.position[2] - d.position[2] > BLOCK_SIZE * 0.5
                && o.position[2] - d.position[2] < BLOCK_SIZE * 1.5
        })
    };
    let covers: Vec<Option<usize>> = (0..out.len()).map(|k| on_top(k, &out)).collect();
    // Upper blocks first, so a covered block takes its height from the
    // refined block resting on it.
    let mut order: Vec<usize> = (0..out.len())
        .filter(|k| out[*k].kind == Kind::Block)
        .collect();
    order.sort_by(|a, b| out[*b].position[2].total_cmp(&out[*a].position[2]));
    for k in order {
        let covered = covers[k].is_some();
        if let Some(mut p) = block_centre(points, &regions[k], out[k].position, eye, covered) {
            if let Some(j) = covers[k] {
                // A covered block's top is hidden: it carries the block on
                // it, so its centre is one block below that one's.
                p[2] = out[j].position[2] - BLOCK_SIZE;
            }
            out[k].position = p;
        }
    }
    out
}

/// A block's centre from its surface points. Every point of an upright
/// block lies within half a block of its centre on each axis, and the faces
/// turned to the camera lie exactly half a block from it: on a table axis
/// where the camera is beyond the block, the extreme points on that side
/// are that face, which pins the centre to the depth noise (a pixel is a
/// centimetre here; the face is far finer). Where the camera looks along
/// the face, the middle of the interval every point allows is used. Height:
/// the top face, unless another block covers it (`covered`), then the
/// votes'. `None` with too few points, or far from the votes (a region
/// that is not one block).
fn block_centre(
    points: &[[f32; 3]],
    pixels: &[usize],
    votes: [f32; 3],
    eye: [f32; 3],
    covered: bool,
) -> Option<[f32; 3]> {
    let h = BLOCK_SIZE * 0.5;
    let mut zs: Vec<f32> = pixels.iter().map(|i| points[*i][2]).collect();
    if zs.len() < 4 {
        return None;
    }
    zs.sort_by(f32::total_cmp);
    let top = zs[(zs.len() * 9) / 10];
    // The block's own points: above its bottom (the table or a bowl's floor
    // around it are not).
    let own: Vec<[f32; 3]> = pixels
        .iter()
        .map(|i| points[*i])
        .filter(|p| p[2] > top - 2.0 * h + 0.004 && p[2] < top + 0.004)
        .collect();
    if own.len() < 4 {
        return None;
    }
    let mut centre = votes;
    for (a, c) in centre.iter_mut().enumerate().take(2) {
        let mut v: Vec<f32> = own.iter().map(|p| p[a]).collect();
        v.sort_by(f32::total_cmp);
        // The mean of the three most extreme points on each side: one stray
        // point does not move it.
        let k = v.len().min(3);
        let low = v[..k].iter().sum::<f32>() / k as f32;
        let high = v[v.len() - k..].iter().sum::<f32>() / k as f32;
        *c = if eye[a] > votes[a] + h + 0.01 {
            high - h
        } else if eye[a] < votes[a] - h - 0.01 {
            low + h
        } else {
            0.5 * (high - h + low + h)
        };
    }
    if !covered {
        let mut tz: Vec<f32> = own
            .iter()
            .map(|p| p[2])
            .filter(|z| (z - top).abs() < 0.004)
            .collect();
        tz.sort_by(f32::total_cmp);
        if let Some(z) = tz.get(tz.len() / 2) {
            centre[2] = z - h;
        }
    }
    let off: f32 = (0..3)
        .map(|a| (centre[a] - votes[a]).powi(2))
        .sum::<f32>()
        .sqrt();
    (off < 0.025).then_some(centre)
}

/// The confidence-weighted mean of the votes of `pixels` (only those within
/// `near.1` of `near.0` when given).
fn vote(
    maps: &[f32],
    points: &[[f32; 3]],
    pixels: &[usize],
    n: usize,
    near: Option<([f32; 3], f32)>,
) -> Option<[f32; 3]> {
    let mut sum = [0.0f64; 3];
    let mut wsum = [0.0f64; 3];
    for &i in pixels {
        let v: [f32; 3] =
            std::array::from_fn(|a| points[i][a] + UNIT_M * maps[(OFFSET_AT + a) * n + i]);
        if let Some((c, r)) = near {
            let d2: f32 = (0..3).map(|a| (v[a] - c[a]).powi(2)).sum();
            if d2 > r * r {
                continue;
            }
        }
        for a in 0..3 {
            let s = maps[(SCALE_AT + a) * n + i].clamp(LOG_SCALE.0, LOG_SCALE.1);
            let wt = (-2.0 * s as f64).exp();
            sum[a] += wt * v[a] as f64;
            wsum[a] += wt;
        }
    }
    (wsum[0] > 0.0).then(|| std::array::from_fn(|a| (sum[a] / wsum[a]) as f32))
}

/// The block (index into `blocks`) whose centre hangs just under the cup,
/// if any: the held one (within 3 cm across and 1.5 block sizes below;
/// nothing else floats there).
pub fn held_block(blocks: &[[f32; 3]], cup: [f32; 3]) -> Option<usize> {
    blocks
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            let below = cup[2] - p[2];
            (p[0] - cup[0]).hypot(p[1] - cup[1]) < 0.03 && below > 0.0 && below < 1.5 * BLOCK_SIZE
        })
        .min_by(|a, b| {
            let d = |p: &[f32; 3]| (p[0] - cup[0]).hypot(p[1] - cup[1]);
            d(a.1).total_cmp(&d(b.1))
        })
        .map(|(i, _)| i)
}

/// The perceived scene and state: objects from `detections`, the arm (joint
/// angles and speeds, cup, suction) from `arm`.
pub fn perceive_state(detections: Vec<Detection>, arm: &TabletopState) -> Perceived {
    let mut dets = detections;
    dets.sort_by_key(|d| (d.kind, COLORS.iter().position(|c| *c == d.color)));
    let of = |k: Kind| -> Vec<&Detection> { dets.iter().filter(|d| d.kind == k).collect() };
    let (blocks, bowls) = (of(Kind::Block), of(Kind::Bowl));
    let positions: Vec<[f32; 3]> = blocks.iter().map(|d| d.position).collect();
    let held = held_block(&positions, arm.cup);
    let scene = SceneSpec {
        at: Vec::new(),
        blocks: blocks.iter().map(|d| d.color.to_string()).collect(),
        bowls: bowls.iter().map(|d| d.color.to_string()).collect(),
        relations: Vec::new(),
        holding: held.map(|i| blocks[i].color.to_string()),
    };
    let state = TabletopState {
        q: arm.q,
        v: arm.v,
        cup: arm.cup,
        suction: arm.suction,
        held,
        blocks: positions,
        bowls: bowls.iter().map(|d| d.position).collect(),
    };
    Perceived {
        detections: dets,
        scene,
        state,
    }
}

/// The state of the objects of `scene` (a world model fixed earlier) from
/// new detections: each object where it is seen now, or where `previous`
/// had it when it is hidden (under the gripper, behind the arm); the arm
/// from `arm`. Detections of objects `scene` does not hold are ignored.
///
/// The gripper's load sensor (`arm.held.is_some()`: a vacuum gripper knows
/// it holds *something*, not what) keeps a hidden held block in the
/// gripper, and names the block under the cup when the camera cannot see
/// it there (the arm hides it).
pub fn align(
    detections: &[Detection],
    scene: &SceneSpec,
    previous: &TabletopState,
    arm: &TabletopState,
) -> TabletopState {
    let seen = |kind: Kind, color: &str| -> Option<[f32; 3]> {
        detections
            .iter()
            .find(|d| d.kind == kind && d.color == color)
            .map(|d| d.position)
    };
    let loaded = arm.held.is_some();
    let under_cup = [
        arm.cup[0],
        arm.cup[1],
        arm.cup[2] - BLOCK_SIZE * 0.5 - 0.002,
    ];
    let mut hidden = Vec::new();
    let mut blocks: Vec<[f32; 3]> = Vec::with_capacity(scene.blocks.len());
    for (i, c) in scene.blocks.iter().enumerate() {
        let p = match seen(Kind::Block, c) {
            Some(p) => p,
            None => {
                hidden.push(i);
                if loaded && previous.held == Some(i) {
                    under_cup
                } else {
                    previous.blocks.get(i).copied().unwrap_or([0.0, 0.0, -1.0])
                }
            }
        };
        blocks.push(p);
    }
    let bowls = scene
        .bowls
        .iter()
        .enumerate()
        .map(|(k, c)| {
            seen(Kind::Bowl, c)
                .or_else(|| previous.bowls.get(k).copied())
                .unwrap_or([0.0, 0.0, -1.0])
        })
        .collect();
    // The load sensor says whether something is held; the camera says
    // which: a block seen at the cup (a held block can swing up to the
    // cup's own height), else a hidden one that was under it.
    let held = if loaded {
        let horizontal = |i: usize| (blocks[i][0] - arm.cup[0]).hypot(blocks[i][1] - arm.cup[1]);
        held_block(&blocks, arm.cup).or_else(|| {
            (0..blocks.len())
                .filter(|i| {
                    if hidden.contains(i) {
                        horizontal(*i) < 0.05
                    } else {
                        horizontal(*i) < 0.03
                            && (arm.cup[2] - blocks[*i][2]).abs() < 1.5 * BLOCK_SIZE
                    }
                })
                .min_by(|a, b| horizontal(*a).total_cmp(&horizontal(*b)))
        })
    } else {
        None
    };
    if let Some(i) = held
        && hidden.contains(&i)
    {
        blocks[i] = under_cup;
    }
    TabletopState {
        q: arm.q,
        v: arm.v,
        cup: arm.cup,
        suction: arm.suction,
        held,
        blocks,
        bowls,
    }
}
#[cfg(test)]
mod tests {
    use super::super::net::OUT_CHANNELS;
    use super::super::train::Sampler;
    use super::*;
    use ganglion_sim::tabletop::views::Randomization;

    /// The decoder alone, on maps an ideal network would output (true
    /// labels, true offsets): every object found, blocks to about a
    /// millimetre, bowls to a few, and the same relations as the truth.
    #[test]
    fn ideal_maps_decode_to_the_true_state() {
        let cam = crate::perception::camera();
        let n = cam.width * cam.height;
        let mut sampler = Sampler::new(cam.clone());
        let mut maps = vec![0.0; OUT_CHANNELS * n];
        let (mut block_err, mut blocks, mut relations_ok) = (0.0f32, 0, 0);
        for k in 0..40 {
            let s = sampler.draw(900 + k, &Randomization::standard(), None);
            maps.fill(0.0);
            for i in 0..n {
                maps[s.labels[i] as usize * n + i] = 10.0;
                for a in 0..3 {
                    maps[(OFFSET_AT + a) * n + i] = s.offsets[i][a];
                }
            }
            let dets = detect(
                &maps,
                &s.points,
                &s.valid,
                (cam.height, cam.width),
                s.view.camera.eye,
            );
            let seen = perceive_state(dets, &s.view.state);
            let (scene, truth) = (&s.view.scene, &s.view.state);
            for (i, c) in scene.blocks.iter().enumerate() {
                let Some(j) = seen.scene.blocks.iter().position(|b| b == c) else {
                    continue; // wholly hidden (under the arm): counted below
                };
                let (p, q) = (truth.blocks[i], seen.state.blocks[j]);
                block_err += (0..3).map(|a| (p[a] - q[a]).powi(2)).sum::<f32>().sqrt();
                blocks += 1;
                if seen.state.block_place(&seen.scene, j) == truth.block_place(scene, i) {
                    relations_ok += 1;
                }
            }
            for (k, c) in scene.bowls.iter().enumerate() {
                let j = seen
                    .scene
                    .bowls
                    .iter()
                    .position(|b| b == c)
                    .expect("every bowl is seen");
                let (p, q) = (truth.bowls[k], seen.state.bowls[j]);
                let e = (p[0] - q[0]).hypot(p[1] - q[1]);
                assert!(e < 0.01, "{c} bowl off by {e} m");
            }
        }
        let mean = block_err / blocks as f32;
        assert!(
            mean < 0.003,
            "mean block error {mean} m over {blocks} blocks"
        );
        assert!(
            relations_ok as f32 >= 0.97 * blocks as f32,
            "{relations_ok}/{blocks} relations"
        );
    }

    #[test]
    fn the_block_under_the_cup_is_held() {
        let cup = [0.3, 0.1, 0.2];
        let blocks = [[0.3, 0.1, 0.02], [0.301, 0.099, 0.177], [0.36, 0.1, 0.177]];
        assert_eq!(held_block(&blocks, cup), Some(1));
        assert_eq!(held_block(&blocks[..1], cup), None);
    }

    /// The load sensor: a held block the arm hides stays in the gripper
    /// (under the cup); a hidden block near the cup becomes the held one
    /// when the gripper reports a load; with no load nothing is held.
    #[test]
    fn align_keeps_a_hidden_held_block_in_the_gripper() {
        let scene = SceneSpec::parse("blocks=red,blue; bowls=green").unwrap();
        let mut arm = TabletopState {
            q: [0.0; 4],
            v: [0.0; 4],
            cup: [0.30, 0.10, 0.20],
            suction: true,
            held: None,
            blocks: Vec::new(),
            bowls: Vec::new(),
        };
        let previous = TabletopState {
            blocks: vec![[0.30, 0.10, 0.02], [0.40, -0.1, 0.02]],
            bowls: vec![[0.2, 0.2, 0.0]],
            held: Some(0),
            ..arm.clone()
        };
        let seen = |color: &'static str, kind: Kind, position: [f32; 3]| Detection {
            kind,
            color,
            position,
            pixels: 30,
        };
        // Red is hidden by the arm; blue and the bowl are seen.
        let dets = [
            seen("blue", Kind::Block, [0.40, -0.1, 0.02]),
            seen("green", Kind::Bowl, [0.2, 0.2, 0.0]),
        ];
        arm.held = Some(0);
        let s = align(&dets, &scene, &previous, &arm);
        assert_eq!(s.held, Some(0));
        assert!((s.blocks[0][2] - (0.20 - BLOCK_SIZE * 0.5 - 0.002)).abs() < 1e-6);
        // The same, but the previous state had nothing held: the hidden block
        // that was under the cup is named.
        let s = align(
            &dets,
            &scene,
            &TabletopState {
                held: None,
                ..previous.clone()
            },
            &arm,
        );
        assert_eq!(s.held, Some(0));
        // No load: nothing is held, and the hidden block stays where it was.
        arm.held = None;
        let s = align(&dets, &scene, &previous, &arm);
        assert_eq!(s.held, None);
        assert_eq!(s.blocks[0], [0.30, 0.10, 0.02]);
    }
}
