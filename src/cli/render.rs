//! `ganglion render`: one frame of the simulated RGB-D camera on a tabletop
//! scene, written as a PNG (colour left, depth right).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use ganglion::camera::write_rgbd_png;
use ganglion::sim::render::{Camera, Noise, Renderer};
use ganglion::sim::{SceneSpec, TabletopWorld};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CameraArg {
    /// Fixed, behind the table looking down at the workspace.
    Overhead,
    /// On the wrist, looking straight down past the suction cup.
    Wrist,
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// The scene: "blocks=red,green,blue; bowls=green,yellow" (+ stacked=,
    /// in=, holding=); default: a random scene from the seed.
    #[arg(long)]
    pub scene: Option<String>,
    /// Seed of the object positions (and the noise).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "overhead")]
    pub camera: CameraArg,
    #[arg(long, default_value_t = 256)]
    pub width: usize,
    #[arg(long, default_value_t = 256)]
    pub height: usize,
    /// Pixel noise σ in 8-bit levels (depth noise is σ/1000 m); 0: none.
    #[arg(long, default_value_t = 0.0)]
    pub noise: f32,
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: RenderArgs) -> Result<()> {
    if !(16..=4096).contains(&a.width) || !(16..=4096).contains(&a.height) {
        bail!("--width and --height must be within 16..=4096 pixels");
    }
    if !a.noise.is_finite() || a.noise < 0.0 {
        bail!("--noise must be a finite σ ≥ 0");
    }
    let scene = match &a.scene {
        Some(s) => SceneSpec::parse(s).with_context(|| format!("--scene {s:?}"))?,
        None => SceneSpec::random(a.seed),
    };
    let state = TabletopWorld::new(&scene, a.seed).state();
    let camera = match a.camera {
        CameraArg::Overhead => Camera::overhead(a.width, a.height),
        CameraArg::Wrist => Camera::wrist(a.width, a.height, &state),
    };
    let noise = (a.noise > 0.0).then_some(Noise {
        seed: a.seed,
        rgb_sigma: a.noise,
        depth_sigma: a.noise / 1000.0,
    });
    let frame = Renderer::new(camera).render(&scene, &state, noise).clone();
    write_rgbd_png(&frame, &a.out)?;
    println!(
        "{}: {}×{} RGB and depth, blocks {}, bowls {} (seed {})",
        a.out.display(),
        a.width,
        a.height,
        scene.blocks.join(","),
        scene.bowls.join(","),
        a.seed
    );
    Ok(())
}
