//! Cameras over zenoh, on `ganglion/{robot}/camera/{name}` (byte layout in
//! `wire`): `ZenohSource`, a camera on another process or host as an
//! `ImageSource`, and `CameraPublisher`, its sender (`ganglion sim camera`
//! serves rendered frames with it).
//!
//! The subscriber's callback (zenoh's thread) decodes each frame into one of
//! a few buffers allocated at start and queues it; `capture` (the control
//! tick) takes the newest by swapping buffers: no allocation, lock or wait
//! there. A frame that is short, damaged or of another size is refused and
//! counted, never a panic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow, bail};
use crossbeam::queue::ArrayQueue;
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::{Session, Wait};

use super::wire;
use super::{CameraError, CaptureContext, ImageFrame, ImageSource};

/// The key of camera `name` of `robot`.
pub fn camera_key(robot: &str, name: &str) -> String {
    format!("ganglion/{robot}/camera/{name}")
}

/// Checks that `robot` and `name` make a plain key (no wildcards).
fn check_names(robot: &str, name: &str) -> Result<()> {
    use crate::io::zenoh::valid_robot_name;
    if !valid_robot_name(robot) || !valid_robot_name(name) {
        bail!("robot {robot:?} and camera {name:?} must be names of A-Z a-z 0-9 _ -");
    }
    Ok(())
}

/// Buffers between the callback and the loop.
const SLOTS: usize = 3;

struct Inbox {
    free: ArrayQueue<Box<ImageFrame>>,
    ready: ArrayQueue<Box<ImageFrame>>,
    rejected: AtomicU64,
    /// The last refusal, for reports (only the callback writes it).
    last_error: Mutex<Option<String>>,
}

impl Inbox {
    fn hear(&self, bytes: &[u8]) {
        // A newer frame replaces one the loop has not taken; with every
        // buffer between the loop's pop and its recycle, this one is dropped.
        let Some(mut slot) = self.free.pop().or_else(|| self.ready.pop()) else {
            return;
        };
        match wire::decode(bytes, &mut slot) {
            Ok(()) => {
                if let Err(s) = self.ready.push(slot) {
                    let _ = self.free.push(s);
                }
            }
            Err(e) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(e.to_string());
                }
                let _ = self.free.push(slot);
            }
        }
    }
}

/// A remote camera: frames a publisher sends on `camera_key(robot, name)`.
pub struct ZenohSource {
    width: usize,
    height: usize,
    depth: bool,
    inbox: Arc<Inbox>,
    _sub: Subscriber<()>,
    _session: Session,
}

impl ZenohSource {
    /// Subscribes to camera `name` of `robot` on `session`, expecting
    /// `width`×`height` frames (with depth when `depth`).
    pub fn subscribe(
        session: &Session,
        robot: &str,
        name: &str,
        width: usize,
        height: usize,
        depth: bool,
    ) -> Result<ZenohSource> {
        check_names(robot, name)?;
        if width == 0 || height == 0 || width > u16::MAX as usize || height > u16::MAX as usize {
            bail!("camera `{name}`: {width}×{height} cannot be sent over zenoh");
        }
        let inbox = Arc::new(Inbox {
            free: ArrayQueue::new(SLOTS),
            ready: ArrayQueue::new(SLOTS),
            rejected: AtomicU64::new(0),
            last_error: Mutex::new(None),
        });
        for _ in 0..SLOTS {
            let _ = inbox
                .free
                .push(Box::new(ImageFrame::new(width, height, depth)));
        }
        let hear = inbox.clone();
        let sub = session
            .declare_subscriber(camera_key(robot, name))
            .callback(move |sample| hear.hear(&sample.payload().to_bytes()))
            .wait()
            .map_err(|e| anyhow!("subscribing to camera `{name}` of `{robot}`: {e}"))?;
        Ok(ZenohSource {
            width,
            height,
            depth,
            inbox,
            _sub: sub,
            _session: session.clone(),
        })
    }

    /// Why the last refused frame was refused (not for the control tick).
    pub fn last_error(&self) -> Option<String> {
        self.inbox.last_error.lock().ok().and_then(|e| e.clone())
    }
}

impl ImageSource for ZenohSource {
    fn width(&self) -> usize {
        self.width
    }

    fn height(&self) -> usize {
        self.height
    }

    fn has_depth(&self) -> bool {
        self.depth
    }

    fn capture(
        &mut self,
        _ctx: &CaptureContext<'_>,
        out: &mut ImageFrame,
    ) -> Result<bool, CameraError> {
        if (out.width, out.height) != (self.width, self.height) {
            return Err(CameraError::Size {
                got_w: self.width,
                got_h: self.height,
                want_w: out.width,
                want_h: out.height,
            });
        }
        // The newest frame; older ones go back to the pool.
        let mut newest: Option<Box<ImageFrame>> = None;
        while let Some(f) = self.inbox.ready.pop() {
            if let Some(old) = newest.replace(f) {
                let _ = self.inbox.free.push(old);
            }
        }
        let Some(mut f) = newest else {
            return Ok(false);
        };
        std::mem::swap(&mut out.rgb, &mut f.rgb);
        std::mem::swap(&mut out.depth, &mut f.depth);
        out.has_depth = f.has_depth;
        out.seq = f.seq;
        out.time = f.time;
        let _ = self.inbox.free.push(f);
        Ok(true)
    }

    fn rejected(&self) -> u64 {
        self.inbox.rejected.load(Ordering::Relaxed)
    }
}

/// Sends one camera's frames on `camera_key(robot, name)`.
pub struct CameraPublisher {
    publisher: Publisher<'static>,
    buf: Vec<u8>,
    seq: u64,
}

impl CameraPublisher {
    pub fn new(session: &Session, robot: &str, name: &str) -> Result<CameraPublisher> {
        check_names(robot, name)?;
        let publisher = session
            .declare_publisher(camera_key(robot, name))
            .wait()
            .map_err(|e| anyhow!("declaring camera `{name}` of `{robot}`: {e}"))?;
        Ok(CameraPublisher {
            publisher,
            buf: Vec::new(),
            seq: 0,
        })
    }

    /// Sends `frame` (its `seq` is replaced by this publisher's count).
    pub fn publish(&mut self, frame: &ImageFrame) -> Result<()> {
        self.send_with(frame, |_| {})
    }

    /// Sends `frame` after `edit` changes its encoded bytes (tests send
    /// damaged frames this way).
    pub fn send_with(&mut self, frame: &ImageFrame, edit: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        wire::encode(frame, &mut self.buf).map_err(|e| anyhow!("{e}"))?;
        self.buf[4..12].copy_from_slice(&self.seq.to_le_bytes());
        edit(&mut self.buf);
        self.publisher
            .put(self.buf.as_slice())
            .wait()
            .map_err(|e| anyhow!("publishing a camera frame: {e}"))?;
        self.seq += 1;
        Ok(())
    }
}
