//! The control loop's cameras: one `ImageSource` per `[[camera]]` table and a
//! frame buffer each, all allocated before the loop starts. Every tick the
//! loop asks the rig; a camera due this tick (tick % every_ticks == 0) takes
//! a frame into its buffer and hands a copy to the recorder's frame ring;
//! the rig then says which cameras took a new frame (`new_frames`), for the
//! policy. Nothing here allocates, locks or blocks.

use anyhow::{Result, bail};
use ganglion_sim::{Plant, derive_seed};

use super::{CaptureContext, ImageFrame, ImageSource, SimSource};
use crate::config::{CameraConfig, CameraSourceConfig};
use crate::record::RecordSink;
use crate::record::camera::CameraChannelSpec;

struct RigCamera {
    spec: CameraChannelSpec,
    every: u64,
    source: Box<dyn ImageSource>,
    frame: ImageFrame,
}

/// Counters of one camera over a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CameraCounters {
    pub name: String,
    /// Frames taken (and offered to the recorder).
    pub frames: u64,
    /// Captures due that found no new frame.
    pub missed: u64,
    /// Captures that failed (the source's error).
    pub errors: u64,
    /// Frames the source itself refused (wrong size, short, damaged).
    pub rejected: u64,
}

/// The cameras of one run.
pub struct CameraRig {
    cams: Vec<RigCamera>,
    counters: Vec<CameraCounters>,
    /// Per camera: whether the last capture took a new frame.
    fresh: Vec<bool>,
    /// Wait for a free recorder slot rather than drop (unpaced lockstep).
    wait_for_recorder: bool,
}

impl CameraRig {
    /// Every camera of `cfg`, each from its source: the renderer, a zenoh
    /// subscription on `ganglion/{robot}/camera/{name}` (a session of its
    /// own, connecting where the table says), or a V4L2 device. `seed` is
    /// the run's seed.
    pub fn from_config(cfg: &crate::config::RobotConfig, seed: u64) -> Result<CameraRig> {
        let mut rig = CameraRig::empty();
        for (i, c) in cfg.cameras.iter().enumerate() {
            let source: Box<dyn ImageSource> = match &c.source {
                CameraSourceConfig::Sim => {
                    Box::new(SimSource::new(c, derive_seed(seed, 0xca3e_0000 + i as u64)))
                }
                CameraSourceConfig::Zenoh { connect } => {
                    use crate::io::zenoh::{Endpoints, LinkSecurity, open};
                    let session =
                        open(&Endpoints::peer_of(connect), &LinkSecurity::default(), None)?;
                    Box::new(super::zenoh::ZenohSource::subscribe(
                        &session, &cfg.robot, &c.name, c.width, c.height, true,
                    )?)
                }
                #[cfg(feature = "v4l2")]
                CameraSourceConfig::V4l2 { device } => {
                    Box::new(super::v4l2::V4l2Source::open(device, c.width, c.height)?)
                }
                #[cfg(not(feature = "v4l2"))]
                CameraSourceConfig::V4l2 { device } => bail!(
                    "camera `{}` reads {}: this build has no V4L2 support (cargo feature `v4l2`)",
                    c.name,
                    device.display()
                ),
            };
            rig.push(c, source)?;
        }
        Ok(rig)
    }

    /// An empty rig (add cameras with `push`).
    pub fn empty() -> CameraRig {
        CameraRig {
            cams: Vec::new(),
            counters: Vec::new(),
            fresh: Vec::new(),
            wait_for_recorder: false,
        }
    }

    /// Adds a camera with its source (sized as the config says).
    pub fn push(&mut self, cfg: &CameraConfig, source: Box<dyn ImageSource>) -> Result<()> {
        if (source.width(), source.height()) != (cfg.width, cfg.height) {
            bail!(
                "camera `{}`: the source gives {}×{} frames, the config says {}×{}",
                cfg.name,
                source.width(),
                source.height(),
                cfg.width,
                cfg.height
            );
        }
        let spec = CameraChannelSpec {
            name: cfg.name.clone(),
            width: cfg.width,
            height: cfg.height,
            has_depth: source.has_depth(),
            fx: cfg.fx,
            fy: cfg.fy,
            cx: cfg.cx,
            cy: cfg.cy,
        };
        self.cams.push(RigCamera {
            frame: ImageFrame::new(cfg.width, cfg.height, source.has_depth()),
            spec,
            every: u64::from(cfg.every_ticks.max(1)),
            source,
        });
        self.counters.push(CameraCounters {
            name: cfg.name.clone(),
            ..Default::default()
        });
        self.fresh.push(false);
        Ok(())
    }

    /// Whether a full recorder ring is waited out (lockstep as fast as
    /// possible, where no deadline is at stake and every frame must be
    /// recorded for a bit-exact re-simulation) or the frame dropped.
    pub(crate) fn set_wait_for_recorder(&mut self, wait: bool) {
        self.wait_for_recorder = wait;
    }

    pub fn is_empty(&self) -> bool {
        self.cams.is_empty()
    }

    /// What the recorder needs to know of each camera (its channels).
    pub fn specs(&self) -> Vec<CameraChannelSpec> {
        self.cams.iter().map(|c| c.spec.clone()).collect()
    }

    pub fn counters(&self) -> &[CameraCounters] {
        &self.counters
    }

    /// Takes a frame from each camera due at `tick` and offers it to `sink`.
    /// Called from the control tick: no allocation, lock or blocking I/O.
    pub fn capture(
        &mut self,
        tick: u64,
        time: f64,
        plant: &dyn Plant,
        mut sink: Option<&mut RecordSink>,
    ) {
        let ctx = CaptureContext {
            tick,
            time,
            world: plant.tabletop(),
        };
        self.fresh.fill(false);
        let cams = self
            .cams
            .iter_mut()
            .zip(&mut self.counters)
            .zip(&mut self.fresh);
        for (i, ((cam, n), fresh)) in cams.enumerate() {
            if !tick.is_multiple_of(cam.every) {
                continue;
            }
            match cam.source.capture(&ctx, &mut cam.frame) {
                Ok(true) => {
                    *fresh = true;
                    n.frames += 1;
                    if let Some(s) = sink.as_deref_mut() {
                        s.push_frame(i, tick, time, &cam.frame, self.wait_for_recorder);
                    }
                }
                Ok(false) => n.missed += 1,
                Err(_) => n.errors += 1,
            }
            n.rejected = cam.source.rejected();
        }
    }

    /// Before a run's first tick (a policy's warm-up, outside any tick):
    /// takes a frame from each camera due at `tick` without offering it to
    /// the recorder or counting it, so a policy that needs a frame before
    /// its first action has one. The first tick takes its own frames as
    /// usual (a simulated camera renders the same frame again).
    pub fn capture_for_warm_up(&mut self, tick: u64, time: f64, plant: &dyn Plant) {
        let ctx = CaptureContext {
            tick,
            time,
            world: plant.tabletop(),
        };
        self.fresh.fill(false);
        for (cam, fresh) in self.cams.iter_mut().zip(&mut self.fresh) {
            if tick.is_multiple_of(cam.every) {
                *fresh = matches!(cam.source.capture(&ctx, &mut cam.frame), Ok(true));
            }
        }
    }

    /// The cameras that took a new frame in the last capture, with it (by
    /// index in the config's `[[camera]]` order). Never allocates.
    pub fn new_frames(&self) -> impl Iterator<Item = (usize, &ImageFrame)> {
        self.cams
            .iter()
            .zip(&self.fresh)
            .enumerate()
            .filter(|(_, (_, fresh))| **fresh)
            .map(|(i, (cam, _))| (i, &cam.frame))
    }
}
