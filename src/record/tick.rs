//! What the control loop records each tick: a fixed-size, `Copy` record that goes
//! through a lock-free ring without touching the heap, and the safety-event bits.

/// Capacity limits of one record (the loop rejects configs beyond them).
pub const MAX_SENSORS: usize = 48;
pub const MAX_OBS: usize = 48;
pub const MAX_ACT: usize = 8;

/// Safety events raised in a tick, as bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SafetyEvents(pub u32);

impl SafetyEvents {
    pub const NON_FINITE_SENSOR: u32 = 1 << 0;
    pub const STALE_SENSOR: u32 = 1 << 1;
    pub const POLICY_ERROR: u32 = 1 << 2;
    pub const NON_FINITE_ACTION: u32 = 1 << 3;
    pub const CLAMPED: u32 = 1 << 4;
    pub const RATE_LIMITED: u32 = 1 << 5;
    pub const ESTOP: u32 = 1 << 6;
    pub const ESTOP_RESET: u32 = 1 << 7;
    pub const DEADLINE_MISS: u32 = 1 << 8;
    pub const RECORD_DROP: u32 = 1 << 9;
    pub const JOINT_LIMIT: u32 = 1 << 10;
    /// The policy produced a non-finite output (NaN/inf logits or actions).
    pub const POLICY_NAN: u32 = 1 << 11;
    /// The joint node (HIL link) reports its own e-stop latched.
    pub const NODE_ESTOP: u32 = 1 << 12;
    /// The joint node reports a fault (watchdog, bad frame, limits).
    pub const NODE_FAULT: u32 = 1 << 13;
    /// A chunked policy had no action for the tick (its model is slower
    /// than its chunks last): the safe action applied.
    pub const QUEUE_EMPTY: u32 = 1 << 14;
    /// `safety.max_missed_cycles` bad cycles in a row (missed deadlines or
    /// stale sensors): the e-stop latched, until an operator reset.
    pub const MISSED_CYCLES: u32 = 1 << 15;
    /// The motion stage cut a command's acceleration (`safety.max_accel`).
    pub const ACCEL_LIMITED: u32 = 1 << 16;
    /// The motion stage cut a command's jerk (`safety.max_jerk`).
    pub const JERK_LIMITED: u32 = 1 << 17;
    /// A command slowed so that it can still stop before its hard limit.
    pub const SOFT_LIMIT: u32 = 1 << 18;
    /// The policy faulted and the fallback controller (`safety.fallback`)
    /// took over, until an operator reset.
    pub const FALLBACK: u32 = 1 << 19;
    /// A command that would carry the tool out of the workspace box
    /// (`safety.workspace`) was cut to the boundary.
    pub const WORKSPACE: u32 = 1 << 20;

    /// Every event, with its name as recorded and reported.
    pub const ALL: [(u32, &'static str); 21] = [
        (Self::NON_FINITE_SENSOR, "non_finite_sensor"),
        (Self::STALE_SENSOR, "stale_sensor"),
        (Self::POLICY_ERROR, "policy_error"),
        (Self::NON_FINITE_ACTION, "non_finite_action"),
        (Self::CLAMPED, "clamped"),
        (Self::RATE_LIMITED, "rate_limited"),
        (Self::ESTOP, "estop"),
        (Self::ESTOP_RESET, "estop_reset"),
        (Self::DEADLINE_MISS, "deadline_miss"),
        (Self::RECORD_DROP, "record_drop"),
        (Self::JOINT_LIMIT, "joint_limit"),
        (Self::POLICY_NAN, "policy_nan"),
        (Self::NODE_ESTOP, "node_estop"),
        (Self::NODE_FAULT, "node_fault"),
        (Self::QUEUE_EMPTY, "action_queue_empty"),
        (Self::MISSED_CYCLES, "missed_cycles"),
        (Self::ACCEL_LIMITED, "accel_limited"),
        (Self::JERK_LIMITED, "jerk_limited"),
        (Self::SOFT_LIMIT, "soft_limit"),
        (Self::FALLBACK, "fallback"),
        (Self::WORKSPACE, "workspace"),
    ];

    pub fn set(&mut self, bit: u32) {
        self.0 |= bit;
    }
    pub fn has(&self, bit: u32) -> bool {
        self.0 & bit != 0
    }
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
    /// Names of the raised events, in `ALL` order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        Self::ALL
            .iter()
            .filter(|(b, _)| self.has(*b))
            .map(|(_, n)| *n)
    }
    pub fn from_name(name: &str) -> Option<u32> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(b, _)| *b)
    }
}

/// The safety filter's state after a tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SafetyState {
    /// Policy actions pass (clamped and rate-limited).
    #[default]
    Normal,
    /// A fault this tick: the configured safe action was sent.
    Safe,
    /// Latched e-stop: the e-stop action is sent until an explicit reset.
    EStopped,
}

impl SafetyState {
    pub fn name(&self) -> &'static str {
        match self {
            SafetyState::Normal => "normal",
            SafetyState::Safe => "safe",
            SafetyState::EStopped => "estop",
        }
    }
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "normal" => Some(SafetyState::Normal),
            "safe" => Some(SafetyState::Safe),
            "estop" => Some(SafetyState::EStopped),
            _ => None,
        }
    }
}

/// Task feedback from a simulated plant for the transition a tick started:
/// the reward, and whether the episode ended after it. Recordings carry it so
/// that every recording is a dataset.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TaskFields {
    pub episode: u32,
    pub reward: f32,
    pub terminated: bool,
    pub truncated: bool,
}

/// One tick of the control loop. Times are seconds; `time` is the loop clock
/// (simulation time in lockstep, time since start on a wall clock), and
/// `wall_time` is always wall time since start (not deterministic).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TickRecord {
    pub tick: u64,
    pub time: f64,
    pub wall_time: f64,
    pub n_sensors: u8,
    pub n_obs: u8,
    /// Policy action width (1 for a discrete index).
    pub n_action: u8,
    /// Actuator command width.
    pub n_command: u8,
    pub sensors: [f32; MAX_SENSORS],
    pub obs: [f32; MAX_OBS],
    /// The policy's raw output in its action layout (NaN when it did not run).
    pub raw_action: [f32; MAX_ACT],
    /// The filtered actuator command that was sent.
    pub command: [f32; MAX_ACT],
    pub policy_ran: bool,
    pub events: SafetyEvents,
    pub state: SafetyState,
    /// Tick start − deadline (ns); 0 in unpaced lockstep.
    pub lateness_ns: i64,
    /// Tick start to command written (ns).
    pub compute_ns: u64,
    /// Time inside `Policy::act` (ns).
    pub policy_ns: u64,
    /// Records dropped by a full ring before this one.
    pub dropped_before: u64,
    /// Reward and episode status, when the plant is a simulated task.
    pub task: Option<TaskFields>,
}

impl Default for TickRecord {
    fn default() -> Self {
        TickRecord {
            tick: 0,
            time: 0.0,
            wall_time: 0.0,
            n_sensors: 0,
            n_obs: 0,
            n_action: 0,
            n_command: 0,
            sensors: [0.0; MAX_SENSORS],
            obs: [0.0; MAX_OBS],
            raw_action: [0.0; MAX_ACT],
            command: [0.0; MAX_ACT],
            policy_ran: false,
            events: SafetyEvents::default(),
            state: SafetyState::Normal,
            lateness_ns: 0,
            compute_ns: 0,
            policy_ns: 0,
            dropped_before: 0,
            task: None,
        }
    }
}

impl TickRecord {
    pub fn sensors(&self) -> &[f32] {
        &self.sensors[..self.n_sensors as usize]
    }
    pub fn obs(&self) -> &[f32] {
        &self.obs[..self.n_obs as usize]
    }
    pub fn raw_action(&self) -> &[f32] {
        &self.raw_action[..self.n_action as usize]
    }
    pub fn command(&self) -> &[f32] {
        &self.command[..self.n_command as usize]
    }
}
