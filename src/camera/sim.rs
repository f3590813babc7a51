//! The simulated camera as an `ImageSource`: the tabletop renderer
//! (`ganglion_sim::render`) with a camera from the robot config — fixed in
//! the world, or following the wrist — and seeded noise per tick, so the
//! same run renders the same frames byte for byte.

use ganglion_sim::derive_seed;
use ganglion_sim::render::{Camera, Noise, Renderer};

use super::{CameraError, CaptureContext, ImageFrame, ImageSource};
use crate::config::{CameraConfig, CameraMount};

/// Renders the simulated scene from one camera of the config.
pub struct SimSource {
    renderer: Renderer,
    mount: CameraMount,
    noise_rgb: f32,
    noise_depth: f32,
    seed: u64,
}

impl SimSource {
    /// Allocates the renderer's buffers for `cfg`'s resolution; `seed` (the
    /// run's seed and the camera's index) seeds the pixel noise.
    pub fn new(cfg: &CameraConfig, seed: u64) -> SimSource {
        let (eye, target) = match &cfg.mount {
            CameraMount::Fixed { eye, target } => (*eye, *target),
            CameraMount::Link { offset, look, .. } => (
                *offset,
                [
                    offset[0] + look[0],
                    offset[1] + look[1],
                    offset[2] + look[2],
                ],
            ),
        };
        let camera = Camera {
            width: cfg.width,
            height: cfg.height,
            fx: cfg.fx,
            fy: cfg.fy,
            cx: cfg.cx,
            cy: cfg.cy,
            eye,
            target,
        };
        SimSource {
            renderer: Renderer::new(camera),
            mount: cfg.mount.clone(),
            noise_rgb: cfg.noise_rgb,
            noise_depth: cfg.noise_depth,
            seed,
        }
    }
}

impl ImageSource for SimSource {
    fn width(&self) -> usize {
        self.renderer.camera().width
    }

    fn height(&self) -> usize {
        self.renderer.camera().height
    }

    fn has_depth(&self) -> bool {
        true
    }

    fn capture(
        &mut self,
        ctx: &CaptureContext<'_>,
        out: &mut ImageFrame,
    ) -> Result<bool, CameraError> {
        let (scene, state) = ctx.world.ok_or(CameraError::NoScene)?;
        if let CameraMount::Link { offset, look, .. } = &self.mount {
            // The only link is the wrist: the camera rides at the cup.
            let c = state.cup;
            let eye = [c[0] + offset[0], c[1] + offset[1], c[2] + offset[2]];
            let target = [eye[0] + look[0], eye[1] + look[1], eye[2] + look[2]];
            self.renderer.set_pose(eye, target);
        }
        let noise = (self.noise_rgb > 0.0 || self.noise_depth > 0.0).then(|| Noise {
            seed: derive_seed(self.seed, ctx.tick),
            rgb_sigma: self.noise_rgb,
            depth_sigma: self.noise_depth,
        });
        let frame = self.renderer.render(scene, state, noise);
        if (frame.width, frame.height) != (out.width, out.height) {
            return Err(CameraError::Size {
                got_w: frame.width,
                got_h: frame.height,
                want_w: out.width,
                want_h: out.height,
            });
        }
        out.rgb.copy_from_slice(&frame.rgb);
        out.depth.copy_from_slice(&frame.depth);
        out.has_depth = true;
        out.seq = ctx.tick;
        out.time = ctx.time;
        Ok(true)
    }
}
