//! `ganglion sim camera`: a simulated camera on the zenoh network. A tabletop
//! world (its arm swinging slowly about the base, so the pictures change) is
//! rendered from the overhead or wrist camera at a fixed rate and each frame
//! sent on `ganglion/{robot}/camera/{name}` — a camera in another process or
//! on another host, as a `[[camera]]` with `source = "zenoh"` reads it.

use std::time::{Duration, Instant};

use anyhow::Result;
use ganglion_sim::render::{Camera, Renderer};
use ganglion_sim::{SceneSpec, TabletopWorld};

use super::ImageFrame;
use super::zenoh::CameraPublisher;

/// Which built-in camera renders the frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServedView {
    Overhead,
    Wrist,
}

/// What `serve_camera` sends.
#[derive(Clone, Debug)]
pub struct ServeCameraOptions {
    pub robot: String,
    pub name: String,
    pub view: ServedView,
    pub width: usize,
    pub height: usize,
    pub rate_hz: f64,
    pub scene: SceneSpec,
    pub seed: u64,
    /// Stop after this many frames or this long (both: whichever first).
    pub frames: Option<u64>,
    pub duration: Option<Duration>,
}

/// Renders and publishes frames on `session` until a limit or `stop()`
/// says so; `on_frame` sees each frame sent. Returns the frames sent.
pub fn serve_camera(
    session: &zenoh::Session,
    opts: &ServeCameraOptions,
    stop: impl Fn() -> bool,
    mut on_frame: impl FnMut(&ImageFrame),
) -> Result<u64> {
    let mut publisher = CameraPublisher::new(session, &opts.robot, &opts.name)?;
    let mut world = TabletopWorld::new(&opts.scene, opts.seed);
    let (w, h) = (opts.width, opts.height);
    let camera = |state: &ganglion_sim::TabletopState| match opts.view {
        ServedView::Overhead => Camera::overhead(w, h),
        ServedView::Wrist => Camera::wrist(w, h, state),
    };
    let mut renderer = Renderer::new(camera(&world.state()));
    let mut frame = ImageFrame::new(w, h, true);
    let period = Duration::from_secs_f64(1.0 / opts.rate_hz.max(0.01));
    let started = Instant::now();
    let mut sent = 0u64;
    while !stop()
        && opts.frames.is_none_or(|n| sent < n)
        && opts.duration.is_none_or(|d| started.elapsed() < d)
    {
        let t = sent as f64 * period.as_secs_f64();
        let swing = 0.4 * (0.5 * t).sin() as f32;
        world.step([swing, 0.0, 0.0, 0.0], false);
        let state = world.state();
        renderer.set_camera(camera(&state));
        let f = renderer.render(&opts.scene, &state, None);
        frame.rgb.copy_from_slice(&f.rgb);
        frame.depth.copy_from_slice(&f.depth);
        frame.time = started.elapsed().as_secs_f64();
        publisher.publish(&frame)?;
        frame.seq = sent;
        on_frame(&frame);
        sent += 1;
        let next = started + period.mul_f64(sent as f64);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok(sent)
}
