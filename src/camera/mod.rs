//! Cameras as a sensor stream: the `ImageSource` trait (a camera the loop
//! reads a frame from every k-th tick without blocking or allocating), its
//! sources — the simulated renderer (`sim`), frames from another process over
//! zenoh (`zenoh`, with `wire` the byte layout and a publisher; `serve`
//! publishes rendered frames for `ganglion sim camera`), a V4L2 device
//! (`v4l2`, cargo feature `v4l2`) — the loop's set of cameras (`rig`), and
//! frames as PNG files (`png`, for `ganglion render`).

mod png;
pub mod rig;
pub mod serve;
pub mod sim;
#[cfg(feature = "v4l2")]
pub mod v4l2;
pub mod wire;
pub mod zenoh;

pub use png::write_rgbd_png;
pub use rig::CameraRig;
pub use sim::SimSource;

use ganglion_sim::{SceneSpec, TabletopState};

/// One camera frame in buffers sized once for its camera: RGB 8-bit
/// row-major, and depth in metres along the optical axis (0: no return) when
/// the source has depth.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageFrame {
    pub width: usize,
    pub height: usize,
    /// 3·width·height bytes.
    pub rgb: Vec<u8>,
    /// width·height values (zeros when `has_depth` is false).
    pub depth: Vec<f32>,
    pub has_depth: bool,
    /// The source's frame counter.
    pub seq: u64,
    /// When it was taken (s): loop time for a simulated camera, the sender's
    /// clock for a remote one.
    pub time: f64,
}

impl ImageFrame {
    /// A black frame (allocates; done once, before the loop starts).
    pub fn new(width: usize, height: usize, has_depth: bool) -> ImageFrame {
        ImageFrame {
            width,
            height,
            rgb: vec![0; 3 * width * height],
            depth: vec![0.0; width * height],
            has_depth,
            seq: 0,
            time: 0.0,
        }
    }

    /// Copies `other`'s pixels and stamps into this frame when both have the
    /// same size (false, and nothing copied, otherwise). Never allocates.
    pub fn copy_from(&mut self, other: &ImageFrame) -> bool {
        if (self.width, self.height) != (other.width, other.height)
            || self.rgb.len() != other.rgb.len()
            || self.depth.len() != other.depth.len()
        {
            return false;
        }
        self.rgb.copy_from_slice(&other.rgb);
        self.depth.copy_from_slice(&other.depth);
        self.has_depth = other.has_depth;
        self.seq = other.seq;
        self.time = other.time;
        true
    }
}

/// What a source may look at when a frame is taken.
#[derive(Clone, Copy)]
pub struct CaptureContext<'a> {
    /// The control tick and loop time of this capture.
    pub tick: u64,
    pub time: f64,
    /// The simulated scene and its exact state (a simulated plant), for
    /// sources that render it.
    pub world: Option<(&'a SceneSpec, &'a TabletopState)>,
}

/// Why a source gave no frame.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CameraError {
    #[error("a simulated camera needs a simulated tabletop plant to render")]
    NoScene,
    #[error("frame of {got_w}×{got_h}, this camera is {want_w}×{want_h}")]
    Size {
        got_w: usize,
        got_h: usize,
        want_w: usize,
        want_h: usize,
    },
    #[error("camera device: {0}")]
    Device(String),
}

/// A camera: sim renderer, a remote camera over zenoh, a V4L2 device.
///
/// `capture` is called from the control tick: it must not block, allocate
/// or take a lock once the source is started (a real camera fills buffers on
/// its own thread or in the driver; `capture` takes the newest one).
pub trait ImageSource: Send {
    fn width(&self) -> usize;
    fn height(&self) -> usize;
    /// Whether frames carry depth.
    fn has_depth(&self) -> bool;
    /// Writes the newest frame into `out` (of this source's size): `Ok(true)`
    /// when a new frame was written, `Ok(false)` when none has arrived since
    /// the last call.
    fn capture(
        &mut self,
        ctx: &CaptureContext<'_>,
        out: &mut ImageFrame,
    ) -> Result<bool, CameraError>;
    /// Frames the source received but refused (wrong size, short, damaged).
    fn rejected(&self) -> u64 {
        0
    }
}
