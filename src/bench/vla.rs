//! `ganglion bench vla`: chunk predictions per second of the VLA policy in
//! tract on one thread (goal: 20/s, issue 17), on rendered frames of the
//! render benchmark's moving scene, against the perception network alone on
//! the same frames in the same run (the camera planner's per-look cost: the
//! VLA's encoder is that network, plus the head).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use ganglion_sim::render::{Camera, Renderer};
use ganglion_sim::{SceneSpec, TabletopWorld};
use serde_json::{Value, json};

use super::render::{frame_state, ms_stats};
use crate::vla::EMBED;
use crate::vla::engine::VlaEngine;

/// Chunk predictions per second the VLA must reach on one core.
pub const GOAL_CHUNKS_PER_S: f64 = 20.0;

/// Times `frames` predictions of the model at `model` (after `warmup`).
pub fn vla_bench(model: &Path, frames: usize, warmup: usize) -> Result<Value> {
    anyhow::ensure!(frames > 0, "--frames must be at least 1");
    let scene = SceneSpec::parse(super::render::SCENE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let base = TabletopWorld::new(&scene, super::render::SEED).state();
    let camera: Camera = crate::perception::camera();
    let mut renderer = Renderer::new(camera.clone());
    let mut engine = VlaEngine::load(model, camera.clone())?;
    // Any unit vector stands for an instruction: the cost does not depend
    // on the words.
    let embed: Vec<f32> = (0..EMBED).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect();
    engine.set_instruction(&embed)?;
    let mut perception = crate::perception::Perception::load(
        &crate::repo_path(crate::perception::MODEL),
        camera.width,
        camera.height,
    )
    .context("the perception baseline")?;
    let mut chunk = vec![0.0; engine.horizon() * crate::vla::ACTION];
    let obs = [0.0f32; 13];
    let (mut vla_ms, mut perc_ms) = (Vec::new(), Vec::new());
    for i in 0..warmup + frames {
        let s = frame_state(&base, i);
        let frame = renderer.render(&scene, &s, None);
        let t0 = Instant::now();
        engine.predict(&obs, &frame.rgb, &frame.depth, &mut chunk)?;
        let a = t0.elapsed().as_secs_f64() * 1e3;
        let t0 = Instant::now();
        perception.maps(frame, &camera)?;
        let b = t0.elapsed().as_secs_f64() * 1e3;
        if i >= warmup {
            vla_ms.push(a);
            perc_ms.push(b);
        }
    }
    let vla = ms_stats(vla_ms);
    let perc = ms_stats(perc_ms);
    let median = vla["median"].as_f64().unwrap_or(f64::NAN);
    let per_s = 1000.0 / median;
    Ok(json!({
        "model": model.display().to_string(),
        "threads": 1,
        "frames": frames,
        "horizon": engine.horizon(),
        "ms_per_chunk": vla,
        "chunks_per_s": per_s,
        "goal_chunks_per_s": GOAL_CHUNKS_PER_S,
        "meets_goal": per_s >= GOAL_CHUNKS_PER_S,
        "perception_ms": perc,
        "ratio_to_perception": median / perc["median"].as_f64().unwrap_or(f64::NAN),
    }))
}

/// The summary `ganglion bench vla` prints without `--json`.
pub fn print(v: &Value) {
    println!(
        "VLA {} in tract, one thread, {} frames of 128×128 RGB-D:",
        v["model"].as_str().unwrap_or("?"),
        v["frames"]
    );
    println!(
        "  {:.2} ms per chunk of {} actions (median; p95 {:.2}): {:.1} chunks/s (goal ≥ {GOAL_CHUNKS_PER_S}: {})",
        v["ms_per_chunk"]["median"].as_f64().unwrap_or(f64::NAN),
        v["horizon"],
        v["ms_per_chunk"]["p95"].as_f64().unwrap_or(f64::NAN),
        v["chunks_per_s"].as_f64().unwrap_or(f64::NAN),
        if v["meets_goal"].as_bool() == Some(true) {
            "met"
        } else {
            "not met"
        }
    );
    println!(
        "  the perception network alone on the same frames: {:.2} ms ({:.2}× of it)",
        v["perception_ms"]["median"].as_f64().unwrap_or(f64::NAN),
        v["ratio_to_perception"].as_f64().unwrap_or(f64::NAN)
    );
}
