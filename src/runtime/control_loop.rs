//! `ControlLoop`: one tick reads the plant's sensors, builds the observation,
//! runs the policy, maps its action to actuator commands, passes them through
//! the safety filter, writes them, and records the tick. Every buffer is
//! allocated in `new`; a tick allocates nothing, takes no lock and does no
//! blocking I/O (the recorder is fed through a lock-free ring).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use ganglion_sim::{Plant, PlantHealth};

use super::alloc_count::{self, ArenaTick, POLICY_ARENA_BYTES, PolicyArena, Scope};
use super::live::LiveStats;
use super::safety::SafetyFilter;
use super::stats::TickStats;
use crate::config::{ActionMapping, RobotConfig};
use crate::policy::{Policy, PolicyError};
/// Policy calls before the arena serves the engine: the first runs allocate
/// what the engine keeps (plans, caches), which must not land in the arena.
const ARENA_WARM_UP_CALLS: u64 = 2;

use crate::record::{
    MAX_ACT, MAX_OBS, MAX_SENSORS, RecordSink, SafetyEvents, SafetyState, TaskFields, TickRecord,
};

/// How the loop keeps time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// The loop advances the simulated plant one period per tick; `paced`
    /// also sleeps to absolute wall-clock deadlines (real time).
    Lockstep { paced: bool },
    /// Hardware: the plant's time runs by itself; ticks start at absolute
    /// wall-clock deadlines.
    Wall,
}

impl ClockMode {
    pub fn name(&self) -> &'static str {
        match self {
            ClockMode::Lockstep { paced: true } => "lockstep, paced to wall time",
            ClockMode::Lockstep { paced: false } => "lockstep, as fast as possible",
            ClockMode::Wall => "wall clock",
        }
    }
    fn paced(&self) -> bool {
        !matches!(self, ClockMode::Lockstep { paced: false })
    }
}

/// Requests from other threads (operator, signal handler), read at tick start.
#[derive(Default, Debug)]
pub struct LoopControls {
    estop: AtomicBool,
    reset: AtomicBool,
    stop: AtomicBool,
}

impl LoopControls {
    /// Latches the e-stop at the next tick.
    pub fn request_estop(&self) {
        self.estop.store(true, Ordering::Release);
    }
    /// Clears a latched e-stop at the next tick.
    pub fn request_reset(&self) {
        self.reset.store(true, Ordering::Release);
    }
    /// Ends the run after the current tick.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// When a run ends.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunLimit {
    pub ticks: Option<u64>,
    /// Seconds of loop time (simulated time in lockstep).
    pub seconds: Option<f64>,
    /// Stop when a simulated plant reports the end of its episode.
    pub until_episode_end: bool,
}

pub struct ControlLoop {
    period: f64,
    mode: ClockMode,
    spin: Duration,
    stale_after: f64,
    plant: Box<dyn Plant>,
    policy: Box<dyn Policy>,
    /// The fallback controller (`safety.fallback`): takes over from the
    /// policy's first fault until an operator reset (`on_fallback`).
    fallback: Option<Box<dyn Policy>>,
    on_fallback: bool,
    obs_index: Vec<usize>,
    obs_offset: Vec<f32>,
    obs_scale: Vec<f32>,
    mapping: ActionMapping,
    filter: SafetyFilter,
    /// Events raised between ticks (the missed-cycle rule on releases the
    /// loop skipped), reported with the next tick's.
    pending_events: SafetyEvents,
    sink: Option<RecordSink>,
    cameras: Option<crate::camera::CameraRig>,
    controls: Arc<LoopControls>,
    pub stats: TickStats,
    live: Arc<LiveStats>,
    sensors: Vec<f32>,
    stamps: Vec<f64>,
    obs: Vec<f32>,
    raw: Vec<f32>,
    proposed: Vec<f32>,
    command: Vec<f32>,
    record: TickRecord,
    tick: u64,
    state: SafetyState,
    left_envelope_at: Option<f64>,
    /// Allocations in ticks after the policy's warm-up (loop, engine,
    /// engine's arena), counted on the loop's thread, and those ticks.
    allocs: (u64, u64, u64),
    counted_ticks: u64,
    arena: Option<PolicyArena>,
    policy_calls: u64,
    episode: u32,
    episode_return: f64,
}

impl ControlLoop {
    /// Wires a plant and a policy according to `cfg`. The plant should already
    /// be reset to its initial state.
    pub fn new(
        cfg: &RobotConfig,
        plant: Box<dyn Plant>,
        policy: Box<dyn Policy>,
        mode: ClockMode,
        sink: Option<RecordSink>,
    ) -> Result<Self> {
        let names = plant.sensor_names();
        let actuators = plant.actuator_names();
        let mut obs_index = Vec::with_capacity(cfg.observation.fields.len());
        for f in &cfg.observation.fields {
            match names.iter().position(|n| n == f) {
                Some(i) => obs_index.push(i),
                None => bail!(
                    "observation field `{f}` is not a sensor of the plant (sensors: {names:?})"
                ),
            }
        }
        if cfg.action.actuators.len() != actuators.len()
            || cfg
                .action
                .actuators
                .iter()
                .zip(actuators.iter())
                .any(|(a, b)| a != b)
        {
            bail!(
                "action.actuators {:?} must list the plant's actuators in order: {actuators:?}",
                cfg.action.actuators
            );
        }
        let action_dim = cfg.action.mapping.dim();
        if names.len() > MAX_SENSORS
            || obs_index.len() > MAX_OBS
            || actuators.len() > MAX_ACT
            || action_dim > MAX_ACT
        {
            bail!(
                "the loop supports at most {MAX_SENSORS} sensors, {MAX_OBS} observations and {MAX_ACT} actuators"
            );
        }
        let n_cmd = actuators.len();
        let mut record = TickRecord {
            n_sensors: names.len() as u8,
            n_obs: obs_index.len() as u8,
            n_action: action_dim as u8,
            n_command: n_cmd as u8,
            ..Default::default()
        };
        record.raw_action.fill(f32::NAN);
        // The config validates the rate; a config built in code is checked
        // here too, so the loop's waits can never overflow a Duration.
        if Duration::try_from_secs_f64(cfg.period_s()).is_err() || cfg.period_s() > 1e4 {
            bail!(
                "rate_hz = {} gives a period the loop cannot wait for",
                cfg.rate_hz
            );
        }
        let mut filter = SafetyFilter::new(&cfg.safety);
        filter.set_period(cfg.period_s());
        Ok(ControlLoop {
            period: cfg.period_s(),
            mode,
            spin: Duration::from_micros(cfg.clock.spin_us),
            stale_after: cfg.safety.stale_after_s,
            plant,
            policy,
            fallback: None,
            on_fallback: false,
            obs_offset: cfg.observation.offset.clone(),
            obs_scale: cfg.observation.scale.clone(),
            obs: vec![0.0; obs_index.len()],
            obs_index,
            mapping: cfg.action.mapping.clone(),
            filter,
            pending_events: SafetyEvents::default(),
            sink,
            cameras: None,
            controls: Arc::new(LoopControls::default()),
            stats: TickStats::new(),
            live: Arc::new(LiveStats::default()),
            sensors: vec![0.0; names.len()],
            stamps: vec![0.0; names.len()],
            raw: vec![0.0; action_dim],
            proposed: vec![0.0; n_cmd],
            command: vec![0.0; n_cmd],
            record,
            tick: 0,
            state: SafetyState::Normal,
            left_envelope_at: None,
            allocs: (0, 0, 0),
            counted_ticks: 0,
            arena: PolicyArena::new(POLICY_ARENA_BYTES),
            policy_calls: 0,
            episode: 0,
            episode_return: 0.0,
        })
    }

    pub fn controls(&self) -> Arc<LoopControls> {
        self.controls.clone()
    }

    /// Live tick statistics other threads may read while the loop runs.
    pub fn live(&self) -> Arc<LiveStats> {
        self.live.clone()
    }

    /// Shares another controls block (e.g. one a skill uses to end its run).
    pub fn set_controls(&mut self, controls: Arc<LoopControls>) {
        self.controls = controls;
    }

    /// Gives the plant back after a run (a skill sequence reuses one world).
    pub fn into_plant(self) -> Box<dyn Plant> {
        self.plant
    }

    pub fn ticks(&self) -> u64 {
        self.tick
    }

    pub fn state(&self) -> SafetyState {
        self.state
    }

    pub fn last_command(&self) -> &[f32] {
        &self.command
    }

    pub fn last_record(&self) -> &TickRecord {
        &self.record
    }

    pub fn plant(&self) -> &dyn Plant {
        self.plant.as_ref()
    }

    pub fn filter(&self) -> &SafetyFilter {
        &self.filter
    }

    pub fn left_envelope_at(&self) -> Option<f64> {
        self.left_envelope_at
    }

    /// Gives the loop its cameras: each due camera takes a frame in the
    /// tick (after the sensors are read, so frame and sensors show the same
    /// instant) and the recorder gets a copy. Frame buffers are the rig's,
    /// allocated before this call.
    pub fn set_cameras(&mut self, mut rig: crate::camera::CameraRig) {
        // Unpaced lockstep has no deadline: it waits for the recorder
        // rather than drop a frame a re-simulation would then have.
        rig.set_wait_for_recorder(!self.mode.paced());
        self.cameras = (!rig.is_empty()).then_some(rig);
    }

    pub fn cameras(&self) -> Option<&crate::camera::CameraRig> {
        self.cameras.as_ref()
    }

    /// Takes the record sink back (to finish the recorder after the run).
    pub fn take_sink(&mut self) -> Option<RecordSink> {
        self.sink.take()
    }

    /// Allocations per tick after the policy's warm-up (its first
    /// `ARENA_WARM_UP_CALLS` calls): from the system allocator in the loop's
    /// own code and inside the policy engine, and served from the policy
    /// arena.
    pub fn allocations(&self) -> (f64, f64, f64) {
        let ticks = self.counted_ticks.max(1) as f64;
        let (l, p, a) = self.allocs;
        (l as f64 / ticks, p as f64 / ticks, a as f64 / ticks)
    }

    /// Whether the policy arena serves the engine (None: no arena, the
    /// counting allocator is not installed).
    pub fn arena_serving(&self) -> Option<bool> {
        self.arena.as_ref().map(PolicyArena::serving)
    }

    /// Runs the policy (or the fallback controller) into `raw`; a fault
    /// (its event raised, `raw` all NaN) returns true. A non-finite output
    /// (NaN logits, inf actions) never reaches the mapping: an argmax over
    /// NaNs would pick an index.
    fn act(&mut self, fallback: bool, events: &mut SafetyEvents) -> bool {
        alloc_count::enter(Scope::Policy);
        let mut arena = self
            .arena
            .as_mut()
            .filter(|_| self.policy_calls >= ARENA_WARM_UP_CALLS);
        if let Some(a) = arena.as_deref_mut() {
            a.begin();
        }
        let mut result = match (fallback, self.fallback.as_mut()) {
            (true, Some(f)) => f.act(&self.obs, &mut self.raw),
            _ => self.policy.act(&self.obs, &mut self.raw),
        };
        if let Some(a) = arena
            && a.end() == ArenaTick::Overflowed
        {
            result = Err(PolicyError::ArenaOverflow(POLICY_ARENA_BYTES));
        }
        alloc_count::enter(Scope::Loop);
        self.policy_calls += 1;
        let event = match result {
            Ok(()) if self.raw.iter().all(|v| v.is_finite()) => return false,
            Ok(()) | Err(PolicyError::NonFinite { .. }) => SafetyEvents::POLICY_NAN,
            Err(PolicyError::Starved) => SafetyEvents::QUEUE_EMPTY,
            Err(_) => SafetyEvents::POLICY_ERROR,
        };
        events.set(event);
        self.raw.fill(f32::NAN);
        true
    }

    /// Sets the fallback controller (`safety.fallback`): it acts from the
    /// policy's first fault (event `fallback`) until an operator reset. Its
    /// output must have the policy's shape.
    pub fn set_fallback(&mut self, fallback: Box<dyn Policy>) {
        self.fallback = Some(fallback);
    }

    /// Whether the fallback controller has the robot.
    pub fn on_fallback(&self) -> bool {
        self.on_fallback
    }

    /// One tick at loop time `time`. `deadline` is the wall-clock release time
    /// when paced (for lateness and misses).
    pub fn tick(&mut self, time: f64, wall_time: f64, started: Instant, deadline: Option<Instant>) {
        let prev_scope = alloc_count::enter(Scope::Loop);
        let counted = self.policy_calls >= ARENA_WARM_UP_CALLS;
        let allocs_before = alloc_count::thread_counts();
        let mut events = std::mem::take(&mut self.pending_events);
        if self.controls.estop.swap(false, Ordering::AcqRel) {
            self.filter.latch_estop(&mut events);
        }
        if self.controls.reset.swap(false, Ordering::AcqRel) {
            self.filter.reset_estop(&mut events);
            if self.on_fallback {
                self.on_fallback = false;
                events.set(SafetyEvents::ESTOP_RESET);
            }
        }

        self.plant.read_sensors(&mut self.sensors, &mut self.stamps);
        if let Some(rig) = &mut self.cameras {
            rig.capture(self.tick, time, self.plant.as_ref(), self.sink.as_mut());
            // The policy sees each new frame before this tick's observation.
            alloc_count::enter(Scope::Policy);
            for (i, frame) in rig.new_frames() {
                self.policy.observe_frame(i, frame);
            }
            alloc_count::enter(Scope::Loop);
        }
        let mut fault = false;
        for (i, &s) in self.obs_index.iter().enumerate() {
            let v = self.sensors[s];
            if !v.is_finite() {
                events.set(SafetyEvents::NON_FINITE_SENSOR);
                fault = true;
            }
            if time - self.stamps[s] > self.stale_after {
                events.set(SafetyEvents::STALE_SENSOR);
                fault = true;
            }
            self.obs[i] = (v - self.obs_offset[i]) * self.obs_scale[i];
        }

        // The plant's own controller (a joint node) may have stopped or
        // faulted by itself: the policy's action would not be obeyed, and the
        // operator must see why.
        match self.plant.health() {
            PlantHealth::Ok => {}
            PlantHealth::EStop => {
                events.set(SafetyEvents::NODE_ESTOP);
                fault = true;
            }
            PlantHealth::Fault => {
                events.set(SafetyEvents::NODE_FAULT);
                fault = true;
            }
        }

        let mut policy_ns = 0;
        let mut policy_ran = false;
        if fault {
            self.raw.fill(f32::NAN);
        } else {
            let t = Instant::now();
            let on_fallback = self.on_fallback && self.fallback.is_some();
            fault = self.act(on_fallback, &mut events);
            // The policy's fault hands the robot to the fallback controller
            // this tick, latched until an operator reset.
            if fault && !on_fallback && self.fallback.is_some() {
                self.on_fallback = true;
                events.set(SafetyEvents::FALLBACK);
                fault = self.act(true, &mut events);
            }
            policy_ns = t.elapsed().as_nanos() as u64;
            policy_ran = true;
        }

        match &self.mapping {
            ActionMapping::Discrete { table } => {
                let a = self.raw[0];
                let row = if a.is_finite() && a >= 0.0 && a.fract() == 0.0 {
                    table.get(a as usize)
                } else {
                    None
                };
                match row {
                    Some(values) => self.proposed.copy_from_slice(values),
                    None => self.proposed.fill(f32::NAN),
                }
            }
            ActionMapping::Continuous { scale, offset } => {
                for i in 0..self.proposed.len() {
                    self.proposed[i] = self.raw[i] * scale[i] + offset[i];
                }
            }
        }

        self.state = self
            .filter
            .filter(&self.proposed, fault, &mut events, &mut self.command);
        self.filter
            .enforce_position_limits(&self.sensors, &mut events, &mut self.command);
        self.plant.write_commands(&self.command);

        let now = Instant::now();
        let compute_ns = now.duration_since(started).as_nanos() as u64;
        let lateness_ns = deadline.map_or(0, |d| {
            started.saturating_duration_since(d).as_nanos() as i64
        });
        if let Some(d) = deadline
            && now > d + Duration::from_secs_f64(self.period)
        {
            events.set(SafetyEvents::DEADLINE_MISS);
            self.stats.deadline_misses += 1;
        }
        self.filter.note_cycle(&mut events);
        self.filter.count(events);
        self.live.record(
            lateness_ns,
            compute_ns,
            events,
            self.stats.deadline_misses,
            self.state,
        );

        let r = &mut self.record;
        r.tick = self.tick;
        r.time = time;
        r.wall_time = wall_time;
        r.sensors[..self.sensors.len()].copy_from_slice(&self.sensors);
        r.obs[..self.obs.len()].copy_from_slice(&self.obs);
        r.raw_action[..self.raw.len()].copy_from_slice(&self.raw);
        r.command[..self.command.len()].copy_from_slice(&self.command);
        r.policy_ran = policy_ran;
        r.events = events;
        r.state = self.state;
        r.lateness_ns = lateness_ns;
        r.compute_ns = compute_ns;
        r.policy_ns = policy_ns;
        r.task = None;

        self.stats.ticks += 1;
        if deadline.is_some() {
            self.stats.lateness.record(lateness_ns.max(0) as u64);
        }
        self.stats.compute.record(compute_ns);
        if policy_ran {
            self.stats.policy.record(policy_ns);
        }
        self.tick += 1;
        if counted {
            let (l, p, a) = alloc_count::thread_counts();
            let (l0, p0, a0) = allocs_before;
            self.allocs.0 += l - l0;
            self.allocs.1 += p - p0;
            self.allocs.2 += a - a0;
            self.counted_ticks += 1;
        }
        alloc_count::enter(prev_scope);
    }

    /// Sends the current tick's record to the recorder (after the plant has
    /// advanced, so a simulated task's reward for this tick is in it).
    fn push_record(&mut self) {
        if let Some(t) = self.plant.task() {
            if self.record.policy_ran {
                self.policy.observe_reward(t.reward);
            }
            self.episode_return += t.reward as f64;
            self.record.task = Some(TaskFields {
                episode: self.episode,
                reward: t.reward,
                terminated: t.terminated,
                truncated: t.truncated,
            });
        }
        if let Some(sink) = &mut self.sink {
            sink.push(&self.record);
        }
    }

    /// Sum of the rewards a simulated task reported so far.
    pub fn episode_return(&self) -> f64 {
        self.episode_return
    }

    /// Gives the policy the plant's current observation, and the cameras'
    /// frames of this instant, before the first tick (a chunked policy
    /// fetches its first chunk), outside any tick.
    fn warm_up_policy(&mut self) {
        self.plant.read_sensors(&mut self.sensors, &mut self.stamps);
        for (i, &s) in self.obs_index.iter().enumerate() {
            self.obs[i] = (self.sensors[s] - self.obs_offset[i]) * self.obs_scale[i];
        }
        if let Some(rig) = &mut self.cameras {
            let time = match self.mode {
                ClockMode::Lockstep { .. } => self.plant.time(),
                ClockMode::Wall => 0.0,
            };
            rig.capture_for_warm_up(self.tick, time, self.plant.as_ref());
            for (i, frame) in rig.new_frames() {
                self.policy.observe_frame(i, frame);
            }
        }
        self.policy.warm_up(&self.obs);
    }

    /// Sets the episode number recorded with task signals.
    pub fn set_episode(&mut self, episode: u32) {
        self.episode = episode;
    }

    /// Runs ticks until `limit` or a stop request. Lateness never accumulates:
    /// tick k is released at `start + k·period`; a tick that overran the next
    /// release is a deadline miss, and whole periods already past are skipped.
    pub fn run(&mut self, limit: RunLimit) {
        // Before the clock starts: a policy's warm-up is not a late tick.
        if self.tick == 0 && self.policy.needs_warm_up() {
            self.warm_up_policy();
        }
        let t0 = Instant::now();
        let period = Duration::from_secs_f64(self.period);
        let mut deadline_index: u64 = 0;
        let start_time = match self.mode {
            ClockMode::Lockstep { .. } => self.plant.time(),
            ClockMode::Wall => 0.0,
        };
        loop {
            if self.controls.stop_requested() || limit.ticks.is_some_and(|n| self.tick >= n) {
                break;
            }
            let deadline = if self.mode.paced() {
                let d = t0 + period.mul_f64(deadline_index as f64);
                if !wait_until(d, self.spin, &self.controls) {
                    break;
                }
                Some(d)
            } else {
                None
            };
            let started = Instant::now();
            let wall = started.duration_since(t0).as_secs_f64();
            let time = match self.mode {
                ClockMode::Lockstep { .. } => self.plant.time(),
                ClockMode::Wall => wall,
            };
            // A limit that is not a number ends the run rather than never.
            if limit
                .seconds
                .is_some_and(|s| !s.is_finite() || time - start_time >= s - 1e-9)
            {
                break;
            }
            self.tick(time, wall, started, deadline);
            if let ClockMode::Lockstep { .. } = self.mode {
                self.plant.advance(self.period);
            }
            self.push_record();
            if limit.until_episode_end && self.plant.task().is_some_and(|t| t.done()) {
                break;
            }
            if self.left_envelope_at.is_none() && !self.plant.in_envelope() {
                self.left_envelope_at = Some(self.plant.time());
            }
            deadline_index += 1;
            if self.mode.paced() {
                // Skip releases that are already a whole period in the past.
                let now = Instant::now();
                while t0 + period.mul_f64(deadline_index as f64 + 1.0) < now {
                    deadline_index += 1;
                    self.stats.deadline_misses += 1;
                    // The latch (if any) shows in the next tick's events.
                    self.filter.note_skipped(&mut self.pending_events);
                }
            }
        }
    }
}

/// The longest single sleep while waiting for a tick: a stop request (a
/// signal) is seen within this long at any loop rate.
const WAIT_SLICE: Duration = Duration::from_millis(20);

/// Sleeps until shortly before `deadline`, then spins to it. Long waits
/// sleep in slices and return `false` as soon as a stop is requested.
fn wait_until(deadline: Instant, spin: Duration, controls: &LoopControls) -> bool {
    loop {
        if controls.stop_requested() {
            return false;
        }
        let now = Instant::now();
        if deadline <= now + spin {
            break;
        }
        std::thread::sleep((deadline - now - spin).min(WAIT_SLICE));
    }
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
    true
}
