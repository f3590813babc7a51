//! Action chunks: a model that predicts the next H actions at once (ACT, a
//! vision-language-action policy), the temporal ensembling that blends the
//! chunks that overlap a tick, and the asynchronous service that lets a
//! model slower than the loop drive it. The tick never waits for the model:
//! it takes the next action from the chunks already delivered, and when
//! none covers the tick it reports `PolicyError::Starved`, so the safety
//! filter's safe action applies and the loop counts the tick.
//!
//! Two timings:
//! - `Timing::Wall` (paced and hardware runs): the service thread predicts
//!   from the freshest observation as soon as it is free; chunks land when
//!   they are ready.
//! - `Timing::Lockstep` (unpaced simulation, recordings, `replay --resim`):
//!   a chunk requested at tick t is used from tick t + `latency` on, waiting
//!   for it then if need be. The model's latency is modelled in ticks, so a
//!   run is the same every time.
//!
//! A model that reads a camera (`ChunkModel::frame_size`) gets the newest
//! frame the loop offered (`Policy::observe_frame`) with each observation:
//! the policy copies every new frame into a buffer of its own, and a chunk
//! request carries a copy of it, taken in the same tick as the observation.
//!
//! Buffers (observations, frames, chunks, the ensemble) are allocated when
//! the policy is built; a tick moves boxes between lock-free queues and
//! copies numbers and pixels, nothing more.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::queue::ArrayQueue;

pub use super::ensemble::Ensemble;
use super::{Policy, PolicyError, check_finite};
use crate::camera::ImageFrame;

/// A model that predicts a chunk of future actions from one observation
/// (and, if it reads a camera, the newest frame).
pub trait ChunkModel: Send {
    fn obs_dim(&self) -> usize;
    fn action_dim(&self) -> usize;
    /// Actions per chunk (H).
    fn horizon(&self) -> usize;
    /// Width and height of the camera frames it reads; `None`: it reads no
    /// camera (its `predict` always gets `None`).
    fn frame_size(&self) -> Option<(usize, usize)> {
        None
    }
    /// Writes H × A actions, row-major: row i is the action for the tick
    /// i ticks after the observation's. `frame` is the newest camera frame
    /// at the observation's tick, `None` when the model reads no camera or
    /// none has been seen yet (a model that needs one may return an error;
    /// the policy counts it as a failed chunk).
    fn predict(
        &mut self,
        obs: &[f32],
        frame: Option<&ImageFrame>,
        chunk: &mut [f32],
    ) -> Result<(), PolicyError>;
    /// Clears per-episode state.
    fn reset(&mut self) {}
}

/// How a chunked policy runs its model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// In the tick (the model is fast enough).
    Inline,
    /// In a service thread, chunks used when they arrive (real time).
    Wall,
    /// In a service thread, a chunk asked for at tick t used from tick
    /// t + `latency` (deterministic simulation).
    Lockstep { latency: u32 },
}

/// How often to ask for a chunk, how to blend them, how to run the model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChunkSchedule {
    /// Ticks between requests (inline and lockstep; a wall-clock service
    /// asks again as soon as it is free).
    pub every: u32,
    pub decay: f32,
    pub timing: Timing,
}

/// Counters a chunked policy keeps (read after a run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkStats {
    pub chunks: u64,
    pub failed: u64,
    pub starved_ticks: u64,
    /// Camera frames taken into the newest-frame buffer.
    pub frames: u64,
    /// Frames from the policy's camera refused for their size (not the
    /// model's `frame_size`).
    pub frames_refused: u64,
}

/// What one prediction reads: an observation and, for a model that reads
/// a camera, a frame buffer (sized once) and whether it holds a frame.
struct Input {
    obs: Box<[f32]>,
    frame: Option<ImageFrame>,
    has_frame: bool,
}

impl Input {
    /// Allocates the buffers (before the loop starts).
    fn new(obs_dim: usize, frame_size: Option<(usize, usize)>) -> Input {
        Input {
            obs: vec![0.0; obs_dim].into_boxed_slice(),
            frame: frame_size.map(|(w, h)| ImageFrame::new(w, h, true)),
            has_frame: false,
        }
    }

    fn frame(&self) -> Option<&ImageFrame> {
        self.frame.as_ref().filter(|_| self.has_frame)
    }

    /// Copies `obs` and the newest frame in (same sizes: never allocates).
    fn fill(&mut self, obs: &[f32], newest: Option<&ImageFrame>) {
        self.obs.copy_from_slice(obs);
        self.has_frame = match (&mut self.frame, newest) {
            (Some(buf), Some(f)) => buf.copy_from(f),
            _ => false,
        };
    }
}

struct Request {
    epoch: u64,
    tick: u64,
    input: Box<Input>,
}

struct Reply {
    epoch: u64,
    tick: u64,
    chunk: Box<[f32]>,
    ok: bool,
}

/// What the tick and the service thread share: queues of preallocated
/// boxes (free and full), and flags.
struct Shared {
    requests: ArrayQueue<Request>,
    free_inputs: ArrayQueue<Box<Input>>,
    replies: ArrayQueue<Reply>,
    free_chunks: ArrayQueue<Box<[f32]>>,
    stop: AtomicBool,
    /// The service thread ended (it panicked, or never started).
    dead: AtomicBool,
}

const OBS_BUFFERS: usize = 3;
/// The longest a run waits, before its first tick, for the first chunk.
const PRIME_TIMEOUT: Duration = Duration::from_secs(30);
const CHUNK_BUFFERS: usize = 4;

/// A `ChunkModel` as a loop `Policy`: inline, or in a service thread.
pub struct ChunkedPolicy {
    schedule: ChunkSchedule,
    dim: usize,
    tick: u64,
    flow: Flow,
    engine: Engine,
}

/// The tick's side of the exchange: the blended chunks, the request in
/// flight, the counters. Kept apart from `Engine` so a tick borrows both
/// without touching the shared queues' reference count.
struct Flow {
    ensemble: Ensemble,
    obs_dim: usize,
    /// The newest frame of the policy's camera (a model that reads one).
    newest: Input,
    /// Which of the loop's cameras the model reads.
    camera: usize,
    epoch: u64,
    /// Lockstep: the tick the chunk in flight is due.
    due: Option<u64>,
    /// A request is in flight (the service is busy with it).
    in_flight: bool,
    stats: ChunkStats,
}

enum Engine {
    Inline {
        model: Box<dyn ChunkModel>,
        chunk: Vec<f32>,
    },
    Service {
        shared: Arc<Shared>,
        worker: Option<JoinHandle<()>>,
    },
}

impl ChunkedPolicy {
    pub fn new(model: Box<dyn ChunkModel>, schedule: ChunkSchedule) -> Self {
        let (dim, horizon, obs_dim) = (model.action_dim(), model.horizon(), model.obs_dim());
        let frame_size = model.frame_size();
        let every = schedule.every.max(1) as usize;
        // Enough slots for every chunk that can overlap one tick.
        let slots = horizon.div_ceil(every) + 1;
        let ensemble = Ensemble::new(horizon, dim, slots, schedule.decay);
        let engine = match schedule.timing {
            Timing::Inline => Engine::Inline {
                model,
                chunk: vec![0.0; horizon * dim],
            },
            Timing::Wall | Timing::Lockstep { .. } => {
                let shared = Arc::new(Shared {
                    requests: ArrayQueue::new(1),
                    free_inputs: ArrayQueue::new(OBS_BUFFERS),
                    replies: ArrayQueue::new(CHUNK_BUFFERS),
                    free_chunks: ArrayQueue::new(CHUNK_BUFFERS),
                    stop: AtomicBool::new(false),
                    dead: AtomicBool::new(false),
                });
                for _ in 0..OBS_BUFFERS {
                    let _ = shared
                        .free_inputs
                        .push(Box::new(Input::new(obs_dim, frame_size)));
                }
                for _ in 0..CHUNK_BUFFERS {
                    let _ = shared
                        .free_chunks
                        .push(vec![0.0; horizon * dim].into_boxed_slice());
                }
                let s = shared.clone();
                let worker = std::thread::Builder::new()
                    .name("ganglion-chunks".into())
                    .spawn(move || {
                        // A panic in the model ends the service; the loop
                        // sees `dead` and reports the policy failed.
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            serve(model, &s)
                        }));
                        if r.is_err() {
                            s.dead.store(true, Ordering::Release);
                        }
                    })
                    .ok();
                if worker.is_none() {
                    shared.dead.store(true, Ordering::Release);
                }
                Engine::Service { shared, worker }
            }
        };
        ChunkedPolicy {
            schedule,
            dim,
            tick: 0,
            flow: Flow {
                ensemble,
                obs_dim,
                // Only the frame buffer is used: the observation travels
                // in the request's own input.
                newest: Input::new(0, frame_size),
                camera: 0,
                epoch: 0,
                due: None,
                in_flight: false,
                stats: ChunkStats::default(),
            },
            engine,
        }
    }

    pub fn stats(&self) -> ChunkStats {
        self.flow.stats
    }

    pub fn horizon(&self) -> usize {
        self.flow.ensemble.horizon()
    }

    /// Reads frames from the loop's camera `index` (its `[[camera]]` table's
    /// position; default 0). Frames of other cameras are ignored.
    pub fn set_camera(&mut self, index: usize) {
        self.flow.camera = index;
    }

    /// Blocks (outside any tick) until the first chunk for the current
    /// observation is in, so a run starts with actions queued. `obs` is the
    /// observation the first tick will see. Gives up after `timeout`.
    pub fn prime(&mut self, obs: &[f32], timeout: Duration) -> Result<(), PolicyError> {
        let t0 = std::time::Instant::now();
        let Engine::Service { shared, .. } = &self.engine else {
            return Ok(());
        };
        let flow = &mut self.flow;
        flow.request(shared, self.tick, obs)?;
        while flow.in_flight {
            if !flow.collect(shared, true)? && t0.elapsed() > timeout {
                return Err(PolicyError::Starved);
            }
        }
        flow.due = None;
        Ok(())
    }
}

impl Flow {
    /// Posts `obs`, taken at `tick`, for the service (replacing a request
    /// it has not taken yet).
    fn request(&mut self, shared: &Shared, tick: u64, obs: &[f32]) -> Result<(), PolicyError> {
        if obs.len() != self.obs_dim {
            return Err(PolicyError::ObsSize {
                got: obs.len(),
                want: self.obs_dim,
            });
        }
        let buf = shared
            .free_inputs
            .pop()
            .or_else(|| shared.requests.pop().map(|r| r.input));
        let Some(mut buf) = buf else {
            return Err(PolicyError::Starved);
        };
        buf.fill(obs, self.newest.frame());
        let req = Request {
            epoch: self.epoch,
            tick,
            input: buf,
        };
        if let Err(old) = shared.requests.push(req) {
            let _ = shared.free_inputs.push(old.input);
        }
        self.in_flight = true;
        Ok(())
    }

    /// Takes delivered chunks into the ensemble; with `wait` and nothing
    /// delivered, sleeps a little first (lockstep only: simulated time).
    /// Whether one came; a failed prediction is an error.
    fn collect(&mut self, shared: &Shared, wait: bool) -> Result<bool, PolicyError> {
        let (mut got, mut failed) = (false, false);
        while let Some(r) = shared.replies.pop() {
            if r.epoch == self.epoch {
                if r.ok {
                    self.ensemble.insert(r.tick, &r.chunk);
                    self.stats.chunks += 1;
                } else {
                    self.stats.failed += 1;
                    failed = true;
                }
                got = true;
                self.in_flight = false;
            }
            let _ = shared.free_chunks.push(r.chunk);
        }
        if failed {
            return Err(PolicyError::ChunkFailed);
        }
        if !got && self.in_flight && shared.dead.load(Ordering::Acquire) {
            return Err(PolicyError::ChunkFailed);
        }
        if !got && wait {
            std::thread::sleep(Duration::from_micros(100));
        }
        Ok(got)
    }

    /// Lockstep: waits for the chunk in flight.
    fn wait_in_flight(&mut self, shared: &Shared) -> Result<(), PolicyError> {
        while self.in_flight {
            self.collect(shared, true)?;
        }
        Ok(())
    }
}

/// The service thread: predicts a chunk for each request it takes.
fn serve(mut model: Box<dyn ChunkModel>, shared: &Shared) {
    while !shared.stop.load(Ordering::Acquire) {
        let Some(req) = shared.requests.pop() else {
            std::thread::park_timeout(Duration::from_millis(1));
            continue;
        };
        let chunk = loop {
            if let Some(c) = shared.free_chunks.pop() {
                break Some(c);
            }
            if shared.stop.load(Ordering::Acquire) {
                break None;
            }
            std::thread::park_timeout(Duration::from_millis(1));
        };
        let Some(mut chunk) = chunk else { break };
        let input = &req.input;
        let ok = model.predict(&input.obs, input.frame(), &mut chunk).is_ok()
            && check_finite(&chunk).is_ok();
        let _ = shared.free_inputs.push(req.input);
        let reply = Reply {
            epoch: req.epoch,
            tick: req.tick,
            chunk,
            ok,
        };
        if let Err(r) = shared.replies.push(reply) {
            let _ = shared.free_chunks.push(r.chunk);
        }
    }
}

impl Policy for ChunkedPolicy {
    fn act(&mut self, obs: &[f32], action: &mut [f32]) -> Result<(), PolicyError> {
        if action.len() != self.dim {
            return Err(PolicyError::ActionSize {
                got: action.len(),
                want: self.dim,
            });
        }
        let tick = self.tick;
        self.tick += 1;
        let every = self.schedule.every.max(1) as u64;
        let flow = &mut self.flow;
        let mut result = Ok(());
        match &mut self.engine {
            Engine::Inline { model, chunk } => {
                if tick.is_multiple_of(every) || flow.ensemble.ticks_left(tick) == 0 {
                    let frame = flow.newest.frame();
                    let r = model
                        .predict(obs, frame, chunk)
                        .and_then(|()| check_finite(chunk));
                    match r {
                        Ok(()) => {
                            flow.ensemble.insert(tick, chunk);
                            flow.stats.chunks += 1;
                        }
                        Err(e) => {
                            flow.stats.failed += 1;
                            result = Err(e);
                        }
                    }
                }
            }
            Engine::Service { shared, worker } => {
                if let Some(w) = worker {
                    w.thread().unpark();
                }
                match self.schedule.timing {
                    Timing::Lockstep { latency } => {
                        // Deterministic: the chunk asked for at t is used
                        // from t + latency, waiting for it if need be.
                        if flow.due.is_some_and(|due| tick >= due) {
                            result = flow.wait_in_flight(shared);
                            flow.due = None;
                        }
                        if result.is_ok() && flow.due.is_none() && tick.is_multiple_of(every) {
                            result = flow.request(shared, tick, obs);
                            if result.is_ok() {
                                if latency == 0 {
                                    result = flow.wait_in_flight(shared);
                                } else {
                                    flow.due = Some(tick + latency as u64);
                                }
                            }
                        }
                    }
                    Timing::Wall | Timing::Inline => {
                        result = flow.collect(shared, false).map(|_| ());
                        if result.is_ok() && !flow.in_flight {
                            result = flow.request(shared, tick, obs);
                        }
                    }
                }
            }
        }
        result?;
        if flow.ensemble.action_at(tick, action) {
            Ok(())
        } else {
            flow.stats.starved_ticks += 1;
            Err(PolicyError::Starved)
        }
    }

    fn needs_warm_up(&self) -> bool {
        true
    }

    fn observe_frame(&mut self, camera: usize, frame: &ImageFrame) {
        let flow = &mut self.flow;
        if camera != flow.camera {
            return;
        }
        let Some(buf) = flow.newest.frame.as_mut() else {
            return;
        };
        if buf.copy_from(frame) {
            flow.newest.has_frame = true;
            flow.stats.frames += 1;
        } else {
            flow.stats.frames_refused += 1;
        }
    }

    fn warm_up(&mut self, obs: &[f32]) {
        if self.flow.stats.chunks == 0 {
            // A model that never answers leaves the ticks starved, counted.
            let _ = self.prime(obs, PRIME_TIMEOUT);
        }
    }

    fn reset(&mut self) {
        let flow = &mut self.flow;
        flow.ensemble.clear();
        self.tick = 0;
        flow.due = None;
        flow.in_flight = false;
        // A new episode starts without a frame: the loop offers one in the
        // same tick as the first observation.
        flow.newest.has_frame = false;
        // Chunks still coming for the old episode are dropped by epoch.
        flow.epoch += 1;
        if let Engine::Inline { model, .. } = &mut self.engine {
            model.reset();
        }
    }
}

impl Drop for ChunkedPolicy {
    fn drop(&mut self) {
        if let Engine::Service { shared, worker } = &mut self.engine {
            shared.stop.store(true, Ordering::Release);
            if let Some(w) = worker.take() {
                w.thread().unpark();
                let _ = w.join();
            }
        }
    }
}

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
