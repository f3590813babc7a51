//! The MCAP recorder: the control loop pushes `TickRecord`s into a preallocated
//! lock-free ring through a [`RecordSink`] (never blocks, never allocates; drops
//! and counts when full), and a service thread writes them as JSON messages.
//!
//! Chunks are buffered in memory and written whole, always ending on a tick
//! boundary, and flushed to the file at least every `flush_every`; a process
//! killed with SIGKILL leaves a file readable up to its last flushed chunk.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use crossbeam::queue::ArrayQueue;
use mcap::records::{MessageHeader, Metadata};
use mcap::{WriteOptions, Writer};

use super::camera::{CameraChannelSpec, FramePipe, FrameSlot, FrameWriter, Push};
use super::schema::{self, RUN_METADATA, SUMMARY_METADATA};
use super::tick::{SafetyEvents, SafetyState, TickRecord};
use crate::camera::ImageFrame;

/// Upper bound on a chunk (the mcap writer splits beyond it).
const CHUNK_SIZE: u64 = 64 * 1024;
/// The recorder ends a chunk after the first tick that takes it past this,
/// so chunks end on tick boundaries and stay under `CHUNK_SIZE`.
const CHUNK_TARGET: usize = 48 * 1024;
/// The longest a lockstep run waits for a camera frame slot.
const FRAME_WAIT: Duration = Duration::from_secs(5);
/// Bytes of an MCAP message record besides its payload.
const MESSAGE_OVERHEAD: usize = 1 + 8 + 2 + 4 + 8 + 8;

/// What a recording describes, written to its `ganglion.run` metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordingHeader {
    pub sensor_names: Vec<String>,
    pub obs_dim: usize,
    pub action_dim: usize,
    pub actuator_names: Vec<String>,
    pub metadata: BTreeMap<String, String>,
}

/// What a finished recording holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecordSummary {
    pub path: PathBuf,
    /// MCAP messages written, all channels.
    pub messages: u64,
    /// Tick records written.
    pub ticks: u64,
    /// Tick records dropped because the ring was full (or pushed after finish).
    pub dropped: u64,
    /// Camera frames written (each: image, depth, calibration messages).
    pub frames: u64,
    /// Camera frames dropped because their camera's slots were all in flight.
    pub frames_dropped: u64,
    /// Bytes of camera messages written.
    pub frame_bytes: u64,
}

struct Shared {
    queue: ArrayQueue<TickRecord>,
    dropped: AtomicU64,
    /// Set by `finish`/drop: the thread drains the ring and ends the file.
    stop: AtomicBool,
    /// Set once records can no longer be written: pushes count as drops.
    closed: AtomicBool,
    frames: FramePipe,
    frames_dropped: AtomicU64,
}

/// The control loop's end of the recorder.
pub struct RecordSink {
    shared: Arc<Shared>,
    dropped: u64,
}

impl RecordSink {
    /// Queues a copy of `rec` (with `dropped_before` set to this sink's drop
    /// count). Never blocks or allocates; returns false, and counts a drop, if
    /// the ring is full or the recorder has finished.
    pub fn push(&mut self, rec: &TickRecord) -> bool {
        let mut r = *rec;
        r.dropped_before = self.dropped;
        if !self.shared.closed.load(Ordering::Relaxed) && self.shared.queue.push(r).is_ok() {
            return true;
        }
        self.dropped += 1;
        self.shared.dropped.store(self.dropped, Ordering::Release);
        false
    }

    /// Records dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Queues a copy of camera `camera`'s `frame` taken at `tick` (loop
    /// time `time`, the messages' log time). Never
    /// allocates; returns false, and counts a dropped frame, when that
    /// camera's slots are all in flight or the recorder has finished. With
    /// `wait` (lockstep as fast as possible: simulated time, no deadline)
    /// a full ring is waited out instead (yielding, up to `FRAME_WAIT`), so
    /// such a run records every frame and re-simulates bit for bit.
    pub fn push_frame(
        &mut self,
        camera: usize,
        tick: u64,
        time: f64,
        frame: &ImageFrame,
        wait: bool,
    ) -> bool {
        let mut since: Option<Instant> = None;
        while !self.shared.closed.load(Ordering::Relaxed) {
            match self.shared.frames.push(camera, tick, time, frame) {
                Push::Queued => return true,
                Push::Full if wait => {
                    let t = *since.get_or_insert_with(Instant::now);
                    if t.elapsed() > FRAME_WAIT {
                        break;
                    }
                    std::thread::yield_now();
                }
                Push::Full | Push::Refused => break,
            }
        }
        self.shared.frames_dropped.fetch_add(1, Ordering::Release);
        false
    }
}

/// The recorder thread's owner: `finish` it to complete the file.
pub struct Recorder {
    path: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<Written>>>,
}

#[derive(Clone, Copy)]
struct ChannelIds {
    sensors: u16,
    observation: u16,
    action: u16,
    safety: u16,
    timing: u16,
    task: u16,
}

/// Opens `path` for a new recording: created if absent; an existing file
/// only when it is an MCAP recording and `overwrite` is set.
fn create_recording_file(path: &Path, overwrite: bool) -> Result<File> {
    use std::io::Read;
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // create_new: nothing can appear there between the check and now.
            return std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .with_context(|| format!("creating recording {shown}"));
        }
        Err(e) => return Err(e).with_context(|| format!("checking {shown}")),
        Ok(meta) if !meta.is_file() => {
            bail!("refusing to record to {shown}: it exists and is not a regular file")
        }
        Ok(_) => {}
    }
    let mut magic = [0u8; 8];
    let is_recording = File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *mcap::MAGIC;
    if !is_recording {
        bail!(
            "refusing to record to {shown}: the file exists and is not a recording \
             (choose another --record path)"
        );
    }
    if !overwrite {
        bail!("{shown} already holds a recording; pass --overwrite to replace it");
    }
    File::create(path).with_context(|| format!("replacing recording {shown}"))
}

impl Recorder {
    /// Creates `path` (and its parent directories), writes the MCAP header,
    /// run metadata, schemas and channels, and starts the recorder thread.
    /// An existing file is never replaced, except an earlier recording when
    /// `overwrite` is set (a config, a model, anything else is refused).
    pub fn start(
        path: &Path,
        header: RecordingHeader,
        ring_capacity: usize,
        flush_every: Duration,
        overwrite: bool,
    ) -> Result<(Recorder, RecordSink)> {
        Self::start_with(path, header, &[], ring_capacity, flush_every, overwrite)
    }

    /// As `start`, with camera channels (`/camera/{name}/…`) for `cameras`
    /// (indexed as `RecordSink::push_frame` names them).
    pub fn start_with(
        path: &Path,
        header: RecordingHeader,
        cameras: &[CameraChannelSpec],
        ring_capacity: usize,
        flush_every: Duration,
        overwrite: bool,
    ) -> Result<(Recorder, RecordSink)> {
        if ring_capacity == 0 {
            bail!("recorder ring capacity must be at least 1");
        }
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating directory {}", parent.display()))?;
        }
        let file = create_recording_file(path, overwrite)?;
        let ctx = || format!("writing recording {}", path.display());
        let opts = WriteOptions::new()
            .compression(None)
            .chunk_size(Some(CHUNK_SIZE))
            // Buffer each chunk and write it whole: no half-written chunk
            // header with placeholder lengths is ever left in the file.
            .disable_seeking(true)
            .library(concat!("ganglion-", env!("CARGO_PKG_VERSION")));
        let mut mcap = Writer::with_options(BufWriter::new(file), opts).with_context(ctx)?;

        let mut run = header.metadata.clone();
        let names = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_default();
        run.insert("sensor_names".into(), names(&header.sensor_names));
        run.insert("actuator_names".into(), names(&header.actuator_names));
        run.insert("obs_dim".into(), header.obs_dim.to_string());
        run.insert("action_dim".into(), header.action_dim.to_string());
        mcap.write_metadata(&Metadata {
            name: RUN_METADATA.into(),
            metadata: run,
        })
        .with_context(ctx)?;

        let mut ids = [0u16; 6];
        for (i, (topic, name, data)) in schema::schemas().into_iter().enumerate() {
            let schema_id = mcap
                .add_schema(name, schema::SCHEMA_ENCODING, &data)
                .with_context(ctx)?;
            let mut meta = BTreeMap::new();
            if topic == schema::TOPIC_SENSORS {
                meta.insert("names".to_string(), names(&header.sensor_names));
            } else if topic == schema::TOPIC_ACTION {
                meta.insert("actuators".to_string(), names(&header.actuator_names));
            }
            ids[i] = mcap
                .add_channel(schema_id, topic, schema::MESSAGE_ENCODING, &meta)
                .with_context(ctx)?;
        }
        let [sensors, observation, action, safety, timing, task] = ids;
        let frames = FrameWriter::add_channels(&mut mcap, cameras).with_context(ctx)?;
        mcap.flush().with_context(ctx)?;

        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(ring_capacity),
            dropped: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            frames: FramePipe::new(cameras),
            frames_dropped: AtomicU64::new(0),
        });
        let tw = TickWriter {
            mcap,
            ids: ChannelIds {
                sensors,
                observation,
                action,
                safety,
                timing,
                task,
            },
            buf: Vec::with_capacity(4096),
            frames,
            pending: None,
            prev_state: SafetyState::Normal,
            last_dropped: 0,
            last_tick: None,
            messages: 0,
            ticks: 0,
            unflushed: 0,
            last_flush: Instant::now(),
            flush_every,
        };
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ganglion-recorder".into())
            .spawn(move || {
                let result = record_loop(tw, &thread_shared);
                thread_shared.closed.store(true, Ordering::Release);
                result
            })
            .context("spawning the recorder thread")?;
        let recorder = Recorder {
            path: path.to_path_buf(),
            shared: shared.clone(),
            thread: Some(thread),
        };
        Ok((recorder, RecordSink { shared, dropped: 0 }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records dropped so far (as published by the sink).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Acquire)
    }

    /// Drains the ring, writes the summary and footer, and closes the file.
    pub fn finish(mut self) -> Result<RecordSummary> {
        let thread = self
            .thread
            .take()
            .ok_or_else(|| anyhow!("recorder already finished"))?;
        self.shared.stop.store(true, Ordering::Release);
        let done = thread
            .join()
            .map_err(|_| anyhow!("the recorder thread panicked"))?
            .with_context(|| format!("writing recording {}", self.path.display()))?;
        Ok(RecordSummary {
            path: self.path.clone(),
            messages: done.messages,
            ticks: done.ticks,
            dropped: self.shared.dropped.load(Ordering::Acquire),
            frames: done.frames,
            frames_dropped: self.shared.frames_dropped.load(Ordering::Acquire),
            frame_bytes: done.frame_bytes,
        })
    }
}

impl Drop for Recorder {
    /// Best effort: stops the thread, which still ends the file properly.
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shared.stop.store(true, Ordering::Release);
            let _ = thread.join();
        }
    }
}

/// What the recorder thread wrote.
struct Written {
    messages: u64,
    ticks: u64,
    frames: u64,
    frame_bytes: u64,
}

/// The recorder thread: pop, write, flush on time or size; on stop, drain and
/// finish. Frames go in before the tick they were taken in (the loop queues
/// a tick's frames before its record), so the file's order is the run's.
fn record_loop(mut tw: TickWriter, shared: &Shared) -> Result<Written> {
    loop {
        let stopping = shared.stop.load(Ordering::Acquire);
        if stopping {
            // Pushes from here on are counted as drops, not lost silently.
            shared.closed.store(true, Ordering::Release);
        }
        let mut popped = false;
        while let Some(rec) = shared.queue.pop() {
            popped = true;
            tw.write_frames(&shared.frames, Some(rec.tick))?;
            tw.write_tick(&rec)?;
        }
        if stopping {
            tw.write_frames(&shared.frames, None)?;
            break;
        }
        if tw.unflushed > 0 && tw.last_flush.elapsed() >= tw.flush_every {
            tw.flush()?;
        }
        if !popped {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let dropped = shared.dropped.load(Ordering::Acquire);
    let frames_dropped = shared.frames_dropped.load(Ordering::Acquire);
    tw.finish(dropped, frames_dropped)
}

struct TickWriter {
    mcap: Writer<BufWriter<File>>,
    ids: ChannelIds,
    buf: Vec<u8>,
    frames: FrameWriter,
    /// A frame popped ahead of its tick, written with that tick.
    pending: Option<Box<FrameSlot>>,
    prev_state: SafetyState,
    last_dropped: u64,
    /// (tick, time) of the last tick written.
    last_tick: Option<(u64, f64)>,
    messages: u64,
    ticks: u64,
    /// Bytes written since the last flush.
    unflushed: usize,
    last_flush: Instant,
    flush_every: Duration,
}

fn time_ns(seconds: f64) -> u64 {
    // `as` saturates, and maps NaN to 0.
    (seconds * 1e9).round().max(0.0) as u64
}

/// A message logged (and published) at loop time `time` of `tick`.
fn message_header(channel_id: u16, tick: u64, time: f64) -> MessageHeader {
    let t = time_ns(time);
    MessageHeader {
        channel_id,
        // MCAP sequences are u32: the tick wraps there (the payload has it in full).
        sequence: tick as u32,
        log_time: t,
        publish_time: t,
    }
}

impl TickWriter {
    fn message(&mut self, channel_id: u16, tick: u64, time: f64) -> Result<()> {
        self.mcap
            .write_to_known_channel(&message_header(channel_id, tick, time), &self.buf)?;
        self.messages += 1;
        self.unflushed += self.buf.len() + MESSAGE_OVERHEAD;
        Ok(())
    }

    /// Writes the queued frames taken at or before `upto` (all with `None`).
    fn write_frames(&mut self, pipe: &FramePipe, upto: Option<u64>) -> Result<()> {
        loop {
            let Some(slot) = self.pending.take().or_else(|| pipe.pop()) else {
                return Ok(());
            };
            if upto.is_some_and(|t| slot.tick > t) {
                self.pending = Some(slot);
                return Ok(());
            }
            let (mcap, messages, unflushed) =
                (&mut self.mcap, &mut self.messages, &mut self.unflushed);
            let result = self.frames.write(&slot, |(channel_id, tick, time, data)| {
                mcap.write_to_known_channel(&message_header(channel_id, tick, time), data)?;
                *messages += 1;
                *unflushed += data.len() + MESSAGE_OVERHEAD;
                Ok(())
            });
            pipe.recycle(slot);
            result?;
        }
    }

    fn write_tick(&mut self, rec: &TickRecord) -> Result<()> {
        let (tick, time) = (rec.tick, rec.time);
        schema::encode_sensors(rec, &mut self.buf)?;
        self.message(self.ids.sensors, tick, time)?;
        schema::encode_observation(rec, &mut self.buf)?;
        self.message(self.ids.observation, tick, time)?;
        schema::encode_action(rec, &mut self.buf)?;
        self.message(self.ids.action, tick, time)?;

        let mut events = rec.events;
        if rec.dropped_before > self.last_dropped {
            events.set(SafetyEvents::RECORD_DROP);
            self.last_dropped = rec.dropped_before;
        }
        if !events.is_empty() || rec.state != self.prev_state {
            schema::encode_safety(tick, time, rec.state, events, &mut self.buf)?;
            self.message(self.ids.safety, tick, time)?;
        }
        self.prev_state = rec.state;
        if let Some(task) = &rec.task {
            schema::encode_task(rec, task, &mut self.buf)?;
            self.message(self.ids.task, tick, time)?;
        }

        // Always last: a tick whose /timing message is present is complete.
        schema::encode_timing(rec, &mut self.buf)?;
        self.message(self.ids.timing, tick, time)?;
        self.ticks += 1;
        self.last_tick = Some((tick, time));

        if self.unflushed >= CHUNK_TARGET || self.last_flush.elapsed() >= self.flush_every {
            self.flush()?;
        }
        Ok(())
    }

    /// Ends the current chunk and pushes it to the file.
    fn flush(&mut self) -> Result<()> {
        self.mcap.flush()?;
        self.unflushed = 0;
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Records drops the last ticks did not carry, writes the summary and
    /// footer, and closes the file.
    fn finish(mut self, dropped: u64, frames_dropped: u64) -> Result<Written> {
        if dropped > self.last_dropped
            && let Some((tick, time)) = self.last_tick
        {
            let mut events = SafetyEvents::default();
            events.set(SafetyEvents::RECORD_DROP);
            schema::encode_safety(tick, time, self.prev_state, events, &mut self.buf)?;
            self.message(self.ids.safety, tick, time)?;
        }
        let mut summary = BTreeMap::new();
        summary.insert("ticks".to_string(), self.ticks.to_string());
        summary.insert("messages".to_string(), self.messages.to_string());
        summary.insert("dropped".to_string(), dropped.to_string());
        if !self.frames.is_empty() {
            summary.insert("frames".to_string(), self.frames.frames.to_string());
            summary.insert("frames_dropped".to_string(), frames_dropped.to_string());
        }
        self.mcap.write_metadata(&Metadata {
            name: SUMMARY_METADATA.into(),
            metadata: summary,
        })?;
        self.mcap.finish()?;
        let file = self
            .mcap
            .into_inner()
            .into_inner()
            .map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(Written {
            messages: self.messages,
            ticks: self.ticks,
            frames: self.frames.frames,
            frame_bytes: self.frames.bytes,
        })
    }
}

// The control loop moves its sink to its own thread.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<RecordSink>();
    assert_send::<Recorder>();
};

impl std::fmt::Debug for RecordSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordSink")
            .field("capacity", &self.shared.queue.capacity())
            .field("dropped", &self.dropped)
            .finish()
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .finish()
    }
}
