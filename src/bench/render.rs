//! `ganglion bench render`: frames per second of the simulated RGB-D camera
//! (`ganglion_sim::render`, a CPU z-buffer rasterizer on one thread) at
//! 128×128 on the tabletop, against PyBullet's CPU TinyRenderer drawing the
//! same primitives from the same camera in the same run
//! (`benches/python/render_pybullet.py`).
//!
//! Both sides render the same frames: the scene of `SCENE` at `SEED` with the
//! arm's joints moved a little each frame (so no frame repeats), warm-up
//! frames first, then each timed frame on its own clock reading; median, p95
//! and mean ms/frame, and fps = 1000 / median. The baseline gets the scene as
//! a JSON file this module writes: the table and block boxes, the bowls'
//! floor and wall (ganglion's 24-sided triangles) and, per frame, the arm's
//! four link segments from the same forward kinematics the renderer uses.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::sim::render::{Camera, Renderer, color_rgb};
use crate::sim::tabletop::arm::TabletopArm;
use crate::sim::tabletop::scene::{BLOCK_SIZE, BOWL_FLOOR, BOWL_RADIUS, BOWL_WALL};
use crate::sim::{SceneSpec, TabletopState, TabletopWorld};

/// The scene both renderers draw.
pub const SCENE: &str = "blocks=red,green,blue; bowls=yellow,purple";
/// The seed of its object positions.
pub const SEED: u64 = 0;
/// The frame size.
pub const SIZE: usize = 128;
/// The script that runs the PyBullet side.
pub const SCRIPT: &str = "benches/python/render_pybullet.py";
/// ganglion at least this many times PyBullet's fps (issue 16).
pub const GOAL_RATIO: f64 = 3.0;

// What `sim/src/render.rs` draws with, for the baseline's copy of the scene:
// the table top's extent, the arm links' half-widths (base to tool), the
// table and arm colours, the light and the ambient share.
const TABLE_LO: [f32; 3] = [-0.35, -0.7, -0.04];
const TABLE_HI: [f32; 3] = [0.85, 0.7, 0.0];
const LINK_HALF: [f32; 4] = [0.035, 0.025, 0.02, 0.012];
const TABLE_RGB: [f32; 3] = [0.62, 0.50, 0.38];
const ARM_RGB: [f32; 3] = [0.62, 0.63, 0.68];
const LIGHT: [f32; 3] = [0.3, 0.2, 0.93];
const AMBIENT: f32 = 0.35;
const BOWL_SEGMENTS: usize = 24;
const NEAR: f32 = 0.01;
const FAR: f32 = 10.0;

/// What to run.
#[derive(Clone, Debug)]
pub struct RenderBench<'a> {
    /// Timed frames per side.
    pub frames: usize,
    /// Untimed frames before them.
    pub warmup: usize,
    /// The Python with pybullet; `None`: the baseline is skipped.
    pub python: Option<&'a Path>,
    /// Skip the baseline even with a Python (`--no-baseline`).
    pub no_baseline: bool,
    /// Write `ganglion.png` and `pybullet.png` (RGB | depth, the first
    /// frame) here.
    pub png_dir: Option<&'a Path>,
}

/// The tabletop state of frame `i`: the scene at `SEED`, the arm's base,
/// shoulder and elbow joints swung a little (a different pose every frame;
/// frame 0 is the scene as `ganglion render --seed 0` draws it).
pub fn frame_state(base: &TabletopState, i: usize) -> TabletopState {
    let t = i as f32;
    let mut s = base.clone();
    s.q[0] += 0.25 * (0.37 * t).sin();
    s.q[1] += 0.10 * (0.23 * t).sin();
    s.q[2] -= 0.10 * (0.29 * t).sin();
    s
}

/// Runs both sides and returns the JSON report.
pub fn render_bench(b: &RenderBench) -> Result<Value> {
    anyhow::ensure!(b.frames > 0, "--frames must be at least 1");
    let scene = SceneSpec::parse(SCENE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let base = TabletopWorld::new(&scene, SEED).state();
    let states: Vec<TabletopState> = (0..b.warmup + b.frames)
        .map(|i| frame_state(&base, i))
        .collect();
    let camera = Camera::overhead(SIZE, SIZE);

    let mut renderer = Renderer::new(camera.clone());
    if let Some(dir) = b.png_dir {
        let frame = renderer.render(&scene, &states[0], None).clone();
        crate::camera::write_rgbd_png(&frame, &dir.join("ganglion.png"))?;
    }
    for s in &states[..b.warmup] {
        std::hint::black_box(renderer.render(&scene, s, None));
    }
    let mut ms = Vec::with_capacity(b.frames);
    for s in &states[b.warmup..] {
        let t0 = Instant::now();
        std::hint::black_box(renderer.render(&scene, std::hint::black_box(s), None));
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let stats = ms_stats(ms);
    let ganglion = json!({
        "renderer": "ganglion CPU rasterizer (sim/src/render.rs)",
        "threads": 1,
        "frames": b.frames,
        "warmup": b.warmup,
        "fps": 1000.0 / stats["median"].as_f64().unwrap_or(f64::NAN),
        "ms_per_frame": stats,
        "timed": "Renderer::render: the triangles from the state, z-buffer, shading, RGB8 + depth",
    });
    eprintln!(
        "ganglion: {:.3} ms/frame median, {:.0} fps",
        ganglion["ms_per_frame"]["median"]
            .as_f64()
            .unwrap_or(f64::NAN),
        ganglion["fps"].as_f64().unwrap_or(f64::NAN)
    );

    let pybullet = match b.python {
        _ if b.no_baseline => json!({"skipped": "--no-baseline"}),
        None => {
            json!({"skipped": "no Python: pass --python, set GANGLION_PYTHON or run benches/python/setup_venv.sh (pybullet)"})
        }
        Some(py) => match pybullet_side(py, &scene, &states, &camera, b) {
            Ok(v) => v,
            Err(e) => {
                json!({"skipped": format!("the pybullet baseline failed: {}", last_line(&format!("{e:#}")))})
            }
        },
    };
    let perception = perception_side(&scene, &states[b.warmup..], &mut renderer);
    let ratio = match (ganglion["fps"].as_f64(), pybullet["fps"].as_f64()) {
        (Some(g), Some(p)) if p > 0.0 => Some(g / p),
        _ => None,
    };
    Ok(json!({
        "bench": "render",
        "scene": SCENE,
        "seed": SEED,
        "width": SIZE,
        "height": SIZE,
        "camera": {"eye": tidy(camera.eye), "target": tidy(camera.target), "fov_y_deg": 55.0, "up": [0.0, 0.0, 1.0]},
        "frames": b.frames,
        "warmup": b.warmup,
        "ganglion": ganglion,
        "pybullet": pybullet,
        "fps_ratio_ganglion_over_pybullet": ratio,
        "goal_fps_ratio": GOAL_RATIO,
        "meets_goal": ratio.map(|r| r >= GOAL_RATIO),
        "perception": perception,
    }))
}

/// Perception's latency on the same frames, one thread: the network in
/// tract alone, and the whole `perceive` (input planes, network, decoding).
fn perception_side(scene: &SceneSpec, states: &[TabletopState], renderer: &mut Renderer) -> Value {
    let model = crate::repo_path(crate::perception::MODEL);
    let cam = renderer.camera().clone();
    let mut engine = match crate::perception::Perception::load(&model, cam.width, cam.height) {
        Ok(e) => e,
        Err(e) => return json!({"skipped": format!("{e:#}")}),
    };
    let (mut infer, mut whole) = (Vec::new(), Vec::new());
    for s in states.iter().take(200) {
        let frame = renderer.render(scene, s, None);
        let t0 = Instant::now();
        if engine.maps(frame, &cam).is_err() {
            return json!({"skipped": "the perception model failed on a frame"});
        }
        infer.push(t0.elapsed().as_secs_f64() * 1e3);
        let t0 = Instant::now();
        std::hint::black_box(engine.perceive(frame, &cam, s).ok());
        whole.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let infer = ms_stats(infer);
    let met = infer["median"].as_f64().map(|m| m <= PERCEPTION_GOAL_MS);
    json!({
        "model": model.display().to_string(),
        "threads": 1,
        "ms_network": infer,
        "ms_perceive": ms_stats(whole),
        "goal_ms": PERCEPTION_GOAL_MS,
        "meets_goal": met,
    })
}

/// Perception's latency goal at 128×128 on one core (issue 16).
const PERCEPTION_GOAL_MS: f64 = 5.0;

/// The baseline: the scene file, the script, its JSON.
fn pybullet_side(
    python: &Path,
    scene: &SceneSpec,
    states: &[TabletopState],
    camera: &Camera,
    b: &RenderBench,
) -> Result<Value> {
    let file = scene_file(scene, states, camera, b);
    let path =
        std::env::temp_dir().join(format!("ganglion-render-scene-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_string(&file)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let mut args = vec![
        "--scene".to_string(),
        path.display().to_string(),
        "--frames".to_string(),
        b.frames.to_string(),
        "--warmup".to_string(),
        b.warmup.to_string(),
    ];
    if let Some(dir) = b.png_dir {
        let png: PathBuf = dir.join("pybullet.png");
        args.push("--png".to_string());
        args.push(png.display().to_string());
    }
    let out = super::python_json(python, SCRIPT, &args);
    let _ = std::fs::remove_file(&path);
    let v = out?;
    eprintln!(
        "pybullet: {:.3} ms/frame median, {:.0} fps",
        v["ms_per_frame"]["median"].as_f64().unwrap_or(f64::NAN),
        v["fps"].as_f64().unwrap_or(f64::NAN)
    );
    Ok(v)
}

/// The scene as the baseline script reads it (see its docstring).
pub fn scene_file(
    scene: &SceneSpec,
    states: &[TabletopState],
    camera: &Camera,
    b: &RenderBench,
) -> Value {
    let h = BLOCK_SIZE * 0.5;
    let base = &states[0];
    let mut boxes = vec![json!({"lo": TABLE_LO, "hi": TABLE_HI, "rgb": TABLE_RGB})];
    for (color, p) in scene.blocks.iter().zip(&base.blocks) {
        boxes.push(json!({
            "lo": [p[0] - h, p[1] - h, p[2] - h],
            "hi": [p[0] + h, p[1] + h, p[2] + h],
            "rgb": color_rgb(color),
        }));
    }
    let bowls: Vec<Value> = scene
        .bowls
        .iter()
        .zip(&base.bowls)
        .map(|(color, p)| {
            let c = color_rgb(color);
            json!({
                "base": p, "radius": BOWL_RADIUS, "wall": BOWL_WALL, "floor": BOWL_FLOOR,
                "segments": BOWL_SEGMENTS, "rgb": c, "inner_rgb": [c[0] * 0.8, c[1] * 0.8, c[2] * 0.8],
            })
        })
        .collect();
    let arm_frames: Vec<Value> = states
        .iter()
        .map(|s| {
            let joints = arm_joints(&s.q);
            (0..4)
                .map(|k| json!({"a": joints[k], "b": joints[k + 1], "half": LINK_HALF[k]}))
                .collect()
        })
        .collect();
    json!({
        "width": camera.width,
        "height": camera.height,
        "fov_y_deg": 55.0,
        "near": NEAR,
        "far": FAR,
        "eye": camera.eye,
        "target": camera.target,
        "light": LIGHT,
        "ambient": AMBIENT,
        "boxes": boxes,
        "bowls": bowls,
        "arm_rgb": ARM_RGB,
        "arm_frames": arm_frames,
        "frames": b.frames,
        "warmup": b.warmup,
    })
}

/// The arm's base, shoulder, elbow, wrist and cup positions (the forward
/// kinematics `sim/src/render.rs` draws the links with).
pub fn arm_joints(q: &[f32; 4]) -> [[f32; 3]; 5] {
    TabletopArm::shipped().geometry.joint_points(q)
}

/// Median (the mean of the middle two for an even count), p95 (nearest
/// rank) and mean, as the baseline script computes them.
pub fn ms_stats(mut ms: Vec<f64>) -> Value {
    if ms.is_empty() {
        return json!({"median": null, "p95": null, "mean": null});
    }
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    let median = if n % 2 == 1 {
        ms[n / 2]
    } else {
        0.5 * (ms[n / 2 - 1] + ms[n / 2])
    };
    let p95 = ms[((0.95 * n as f64).ceil() as usize).clamp(1, n) - 1];
    let mean = ms.iter().sum::<f64>() / n as f64;
    json!({"median": median, "p95": p95, "mean": mean})
}

/// f32 coordinates as the decimals they were written as (1.05, not 1.0499999523).
fn tidy(v: [f32; 3]) -> [f64; 3] {
    v.map(|x| (f64::from(x) * 1e6).round() / 1e6)
}

fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(s)
        .to_string()
}

/// The table `ganglion bench render` prints without `--json`.
pub fn print(v: &Value) {
    println!(
        "Rendering {}×{} RGB-D, tabletop \"{}\" (seed {}), one thread, {} frames after {} warm-up:",
        v["width"], v["height"], SCENE, v["seed"], v["frames"], v["warmup"]
    );
    println!(
        "  {:<36} {:>10} {:>10} {:>9}",
        "renderer", "median ms", "p95 ms", "fps"
    );
    for (name, key) in [
        ("ganglion (sim/src/render.rs)", "ganglion"),
        ("PyBullet TinyRenderer", "pybullet"),
    ] {
        let r = &v[key];
        if let Some(why) = r["skipped"].as_str() {
            println!("  {name:<36} skipped: {why}");
            continue;
        }
        let f = |x: &Value| x.as_f64().unwrap_or(f64::NAN);
        println!(
            "  {name:<36} {:>10.3} {:>10.3} {:>9.0}",
            f(&r["ms_per_frame"]["median"]),
            f(&r["ms_per_frame"]["p95"]),
            f(&r["fps"])
        );
    }
    match v["fps_ratio_ganglion_over_pybullet"].as_f64() {
        Some(r) => println!(
            "  ganglion / PyBullet fps: {r:.2}× (goal ≥ {GOAL_RATIO}×: {})",
            if r >= GOAL_RATIO { "met" } else { "not met" }
        ),
        None => println!("  ganglion / PyBullet fps: n/a (no baseline)"),
    }
    let p = &v["perception"];
    match p["skipped"].as_str() {
        Some(why) => println!("  perception: skipped: {why}"),
        None => println!(
            "  perception in tract, one thread: network {:.2} ms median (p95 {:.2}), whole perceive {:.2} ms (goal ≤ {PERCEPTION_GOAL_MS} ms: {})",
            p["ms_network"]["median"].as_f64().unwrap_or(f64::NAN),
            p["ms_network"]["p95"].as_f64().unwrap_or(f64::NAN),
            p["ms_perceive"]["median"].as_f64().unwrap_or(f64::NAN),
            if p["meets_goal"].as_bool() == Some(true) {
                "met"
            } else {
                "not met"
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_take_the_middle_and_the_95th() {
        let s = ms_stats((1..=20).map(f64::from).collect());
        assert_eq!(s["median"], 10.5);
        assert_eq!(s["p95"], 19.0);
        assert_eq!(s["mean"], 10.5);
        let s = ms_stats(vec![3.0, 1.0, 2.0]);
        assert_eq!(s["median"], 2.0);
        assert_eq!(s["p95"], 3.0);
    }

    #[test]
    fn frames_differ_and_the_arm_starts_at_the_base() {
        let scene = SceneSpec::parse(SCENE).unwrap();
        let base = TabletopWorld::new(&scene, SEED).state();
        assert_eq!(frame_state(&base, 0).q, base.q);
        assert_ne!(frame_state(&base, 1).q, frame_state(&base, 2).q);
        let j = arm_joints(&base.q);
        assert_eq!(j[0], [0.0; 3]);
        assert_eq!(
            j[1],
            [0.0, 0.0, TabletopArm::shipped().geometry.shoulder_height]
        );
    }
}
