//! Camera frames in a recording. The loop's side: a ring of frame slots
//! allocated when the recorder starts (a pool per camera, so every slot has
//! its camera's size; a full pool drops and counts, never blocks). The
//! recorder's side: each frame written as `foxglove.RawImage` on
//! `/camera/{name}/image` (rgb8) and `/camera/{name}/depth` (32FC1, metres),
//! plus `foxglove.CameraCalibration` on `/camera/{name}/calibration`, binary
//! protobuf with the schemas as descriptor sets, so Foxglove shows the video
//! beside the other channels.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use crossbeam::queue::ArrayQueue;
use mcap::Writer;
use prost::Message;

use super::foxglove::{self, CameraCalibration, RawImage, Timestamp};
use crate::camera::ImageFrame;

/// Schema and message encoding of the camera channels.
pub const PROTOBUF: &str = "protobuf";
/// Frame slots per camera between the loop and the recorder thread.
pub const SLOTS_PER_CAMERA: usize = 16;

/// The topics of camera `name`.
pub fn image_topic(name: &str) -> String {
    format!("/camera/{name}/image")
}
pub fn depth_topic(name: &str) -> String {
    format!("/camera/{name}/depth")
}
pub fn calibration_topic(name: &str) -> String {
    format!("/camera/{name}/calibration")
}

/// Whether `topic` carries frames whose bytes replay compares.
pub fn is_frame_topic(topic: &str) -> bool {
    topic.starts_with("/camera/") && (topic.ends_with("/image") || topic.ends_with("/depth"))
}

/// One camera as the recorder sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct CameraChannelSpec {
    pub name: String,
    pub width: usize,
    pub height: usize,
    pub has_depth: bool,
    pub fx: f32,
    pub fy: f32,
    pub cx: f32,
    pub cy: f32,
}

/// What became of a frame offered to the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Push {
    Queued,
    /// All of the camera's slots are in flight.
    Full,
    /// No such camera, or a frame of another size.
    Refused,
}

/// A frame in flight from the loop to the recorder.
pub(crate) struct FrameSlot {
    pub(crate) camera: usize,
    pub(crate) tick: u64,
    /// The loop's time of that tick (the messages' log time).
    pub(crate) time: f64,
    pub(crate) frame: ImageFrame,
}

/// The frame ring: a pool of free slots per camera, one queue of filled ones
/// (in the order the loop filled them).
pub(crate) struct FramePipe {
    free: Vec<ArrayQueue<Box<FrameSlot>>>,
    ready: ArrayQueue<Box<FrameSlot>>,
}

impl FramePipe {
    pub(crate) fn new(cameras: &[CameraChannelSpec]) -> FramePipe {
        let free: Vec<_> = cameras
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let q = ArrayQueue::new(SLOTS_PER_CAMERA);
                for _ in 0..SLOTS_PER_CAMERA {
                    let slot = FrameSlot {
                        camera: i,
                        tick: 0,
                        time: 0.0,
                        frame: ImageFrame::new(c.width, c.height, c.has_depth),
                    };
                    // Cannot fail: exactly the queue's capacity.
                    let _ = q.push(Box::new(slot));
                }
                q
            })
            .collect();
        let ready = ArrayQueue::new((SLOTS_PER_CAMERA * cameras.len()).max(1));
        FramePipe { free, ready }
    }

    /// Copies `frame` into a free slot of `camera` and queues it.
    pub(crate) fn push(&self, camera: usize, tick: u64, time: f64, frame: &ImageFrame) -> Push {
        let Some(pool) = self.free.get(camera) else {
            return Push::Refused;
        };
        let Some(mut slot) = pool.pop() else {
            return Push::Full;
        };
        if !slot.frame.copy_from(frame) {
            let _ = pool.push(slot);
            return Push::Refused;
        }
        slot.tick = tick;
        slot.time = time;
        match self.ready.push(slot) {
            Ok(()) => Push::Queued,
            Err(slot) => {
                let _ = pool.push(slot);
                Push::Full
            }
        }
    }

    pub(crate) fn pop(&self) -> Option<Box<FrameSlot>> {
        self.ready.pop()
    }

    /// Returns a written slot to its camera's pool.
    pub(crate) fn recycle(&self, slot: Box<FrameSlot>) {
        if let Some(pool) = self.free.get(slot.camera) {
            let _ = pool.push(slot);
        }
    }
}

#[derive(Clone, Copy)]
struct CameraIds {
    image: u16,
    depth: Option<u16>,
    calibration: u16,
}

/// The recorder thread's camera channels and reusable message buffers.
pub(crate) struct FrameWriter {
    specs: Vec<CameraChannelSpec>,
    ids: Vec<CameraIds>,
    image: RawImage,
    /// Each camera's calibration message, made once; a frame only stamps it.
    calibrations: Vec<CameraCalibration>,
    buf: Vec<u8>,
    pub(crate) frames: u64,
    pub(crate) bytes: u64,
}

/// A message to write: channel, sequence, time, payload.
pub(crate) type Emit<'a> = (u16, u64, f64, &'a [u8]);

impl FrameWriter {
    /// Adds the schemas and channels of `cameras` to the file.
    pub(crate) fn add_channels<W: Write + std::io::Seek>(
        mcap: &mut Writer<W>,
        cameras: &[CameraChannelSpec],
    ) -> Result<FrameWriter> {
        let mut ids = Vec::new();
        if !cameras.is_empty() {
            let raw =
                mcap.add_schema(foxglove::RAW_IMAGE, PROTOBUF, &foxglove::raw_image_schema())?;
            let cal = mcap.add_schema(
                foxglove::CAMERA_CALIBRATION,
                PROTOBUF,
                &foxglove::camera_calibration_schema(),
            )?;
            for c in cameras {
                let mut meta = BTreeMap::new();
                meta.insert("camera".to_string(), c.name.clone());
                let image = mcap.add_channel(raw, &image_topic(&c.name), PROTOBUF, &meta)?;
                let depth = match c.has_depth {
                    true => Some(mcap.add_channel(raw, &depth_topic(&c.name), PROTOBUF, &meta)?),
                    false => None,
                };
                let calibration =
                    mcap.add_channel(cal, &calibration_topic(&c.name), PROTOBUF, &meta)?;
                ids.push(CameraIds {
                    image,
                    depth,
                    calibration,
                });
            }
        }
        let calibrations = cameras
            .iter()
            .map(|c| {
                CameraCalibration::pinhole(
                    &c.name,
                    c.width,
                    c.height,
                    [c.fx, c.fy, c.cx, c.cy],
                    0.0,
                )
            })
            .collect();
        Ok(FrameWriter {
            specs: cameras.to_vec(),
            ids,
            image: RawImage::default(),
            calibrations,
            buf: Vec::new(),
            frames: 0,
            bytes: 0,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Encodes one frame's messages (image, depth, calibration) and hands
    /// each to `emit`. The messages are logged at the loop's time of the
    /// tick; the images' own timestamp is when the frame was taken (the
    /// same for a simulated camera, the sender's clock for a remote one).
    pub(crate) fn write(
        &mut self,
        slot: &FrameSlot,
        mut emit: impl FnMut(Emit<'_>) -> Result<()>,
    ) -> Result<()> {
        let (Some(spec), Some(ids)) = (self.specs.get(slot.camera), self.ids.get(slot.camera))
        else {
            return Ok(());
        };
        let f = &slot.frame;
        let (tick, time) = (slot.tick, slot.time);
        let img = &mut self.image;
        img.timestamp = Some(Timestamp::from_secs(f.time));
        img.frame_id.clone_from(&spec.name);
        img.width = f.width as u32;
        img.height = f.height as u32;
        img.encoding.clear();
        img.encoding.push_str("rgb8");
        img.step = 3 * f.width as u32;
        img.data.clear();
        img.data.extend_from_slice(&f.rgb);
        self.buf.clear();
        img.encode(&mut self.buf)?;
        self.bytes += self.buf.len() as u64;
        emit((ids.image, tick, time, &self.buf))?;
        if let Some(depth) = ids.depth {
            img.encoding.clear();
            img.encoding.push_str("32FC1");
            img.step = 4 * f.width as u32;
            img.data.clear();
            for d in &f.depth {
                img.data.extend_from_slice(&d.to_le_bytes());
            }
            self.buf.clear();
            img.encode(&mut self.buf)?;
            self.bytes += self.buf.len() as u64;
            emit((depth, tick, time, &self.buf))?;
        }
        let Some(cal) = self.calibrations.get_mut(slot.camera) else {
            return Ok(());
        };
        cal.timestamp = Some(Timestamp::from_secs(f.time));
        self.buf.clear();
        cal.encode(&mut self.buf)?;
        self.bytes += self.buf.len() as u64;
        emit((ids.calibration, tick, time, &self.buf))?;
        self.frames += 1;
        Ok(())
    }
}

/// Frame-by-frame comparison of two recordings' camera channels (sha256 of
/// each message): frames compared, frames that differ or are missing from
/// one side, and a description of the first difference.
pub fn compare_frames(
    a: &super::Recording,
    b: &super::Recording,
) -> (usize, usize, Option<String>) {
    let (mut checked, mut mismatches, mut first) = (0, 0, None);
    let topics: std::collections::BTreeSet<&String> =
        a.frames.keys().chain(b.frames.keys()).collect();
    let empty = Vec::new();
    for topic in topics {
        let fa = a.frames.get(topic).unwrap_or(&empty);
        let fb = b.frames.get(topic).unwrap_or(&empty);
        for i in 0..fa.len().max(fb.len()) {
            checked += 1;
            let (x, y) = (fa.get(i), fb.get(i));
            if x != y {
                mismatches += 1;
                if first.is_none() {
                    let at = |f: Option<&(u64, [u8; 32])>| {
                        f.map_or("none".to_string(), |(t, _)| {
                            format!("t={:.3} s", *t as f64 * 1e-9)
                        })
                    };
                    first = Some(format!(
                        "{topic} frame {i}: a {}, b {} differ",
                        at(x),
                        at(y)
                    ));
                }
            }
        }
    }
    (checked, mismatches, first)
}
