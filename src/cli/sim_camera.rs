//! `ganglion sim camera`: serve rendered tabletop frames over zenoh on
//! `ganglion/{robot}/camera/{name}` (a camera in another process; a
//! `[[camera]]` table with `source = "zenoh"` reads it). Prints a JSON line
//! when it starts and when it ends.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use ganglion::camera::serve::{ServeCameraOptions, ServedView, serve_camera};
use ganglion::io::zenoh::{Endpoints, LinkSecurity, open};
use ganglion::sim::SceneSpec;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ViewArg {
    Overhead,
    Wrist,
}

#[derive(Args, Debug)]
pub struct CameraArgs {
    /// The robot's name in the key space `ganglion/{robot}/camera/{name}`.
    #[arg(long, default_value = "tabletop")]
    pub robot: String,
    /// The camera's name.
    #[arg(long, default_value = "overhead")]
    pub name: String,
    #[arg(long, value_enum, default_value = "overhead")]
    pub view: ViewArg,
    #[arg(long, default_value_t = 128)]
    pub width: usize,
    #[arg(long, default_value_t = 128)]
    pub height: usize,
    /// Frames per second.
    #[arg(long, default_value_t = 30.0, value_parser = ganglion::input::parse_rate_hz)]
    pub rate_hz: f64,
    /// The scene ("blocks=red,green; bowls=blue"); default: random from the seed.
    #[arg(long)]
    pub scene: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Endpoint(s) to listen on, e.g. tcp/127.0.0.1:7447.
    #[arg(long)]
    pub listen: Vec<String>,
    /// Endpoint(s) to connect to.
    #[arg(long)]
    pub connect: Vec<String>,
    /// Stop after this many frames.
    #[arg(long)]
    pub frames: Option<u64>,
    /// Stop after this many seconds (default: until SIGINT/SIGTERM).
    #[arg(long, value_parser = ganglion::input::parse_seconds)]
    pub seconds: Option<ganglion::input::Seconds>,
}

pub fn run(a: CameraArgs) -> Result<()> {
    use ganglion::config::{MAX_CAMERA_SIDE, MIN_CAMERA_SIDE};
    let sides = MIN_CAMERA_SIDE as usize..=MAX_CAMERA_SIDE as usize;
    if !sides.contains(&a.width) || !sides.contains(&a.height) {
        bail!("--width and --height must be within {MIN_CAMERA_SIDE}..={MAX_CAMERA_SIDE} pixels");
    }
    if a.listen.is_empty() && a.connect.is_empty() {
        bail!("give --listen and/or --connect endpoints");
    }
    let scene = match &a.scene {
        Some(s) => SceneSpec::parse(s).with_context(|| format!("--scene {s:?}"))?,
        None => SceneSpec::random(a.seed),
    };
    let session = open(
        &Endpoints {
            listen: a.listen.clone(),
            connect: a.connect.clone(),
            ..Default::default()
        },
        &LinkSecurity::default(),
        None,
    )?;
    let opts = ServeCameraOptions {
        robot: a.robot.clone(),
        name: a.name.clone(),
        view: match a.view {
            ViewArg::Overhead => ServedView::Overhead,
            ViewArg::Wrist => ServedView::Wrist,
        },
        width: a.width,
        height: a.height,
        rate_hz: a.rate_hz,
        scene,
        seed: a.seed,
        frames: a.frames,
        duration: a.seconds.map(ganglion::input::Seconds::duration),
    };
    ganglion::signals::install();
    println!(
        "{}",
        serde_json::json!({
            "event": "serving",
            "key": ganglion::camera::zenoh::camera_key(&a.robot, &a.name),
            "width": a.width, "height": a.height, "rate_hz": a.rate_hz,
        })
    );
    let sent = serve_camera(&session, &opts, ganglion::signals::stop_requested, |_| {})?;
    println!("{}", serde_json::json!({ "event": "exit", "frames": sent }));
    Ok(())
}
