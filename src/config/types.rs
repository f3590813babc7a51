//! The validated robot configuration: what `config::load` returns. Every path
//! is resolved relative to the config file; every vector has been checked
//! against the plant's sensors and actuators and the policy's card.

use std::path::PathBuf;

/// One robot run, from one TOML file.
#[derive(Clone, Debug, PartialEq)]
pub struct RobotConfig {
    /// The file it came from and its text (embedded in recordings, so a
    /// recording can be re-simulated without the file).
    pub source_path: PathBuf,
    pub source_text: String,
    pub robot: String,
    pub rate_hz: f64,
    pub plant: PlantConfig,
    pub policy: PolicyConfig,
    pub observation: ObservationConfig,
    pub action: ActionConfig,
    pub safety: SafetyConfig,
    pub record: RecordConfig,
    pub realtime: RealtimeConfig,
    pub clock: ClockConfig,
    /// `[[camera]]` tables (empty: no cameras).
    pub cameras: Vec<super::camera::CameraConfig>,
}

impl RobotConfig {
    pub fn period_s(&self) -> f64 {
        1.0 / self.rate_hz
    }
}

/// What the loop drives. An enum so the firmware and zenoh plants of later
/// issues slot in beside the simulator.
#[derive(Clone, Debug, PartialEq)]
pub enum PlantConfig {
    /// `kind = "sim:…"` (e.g. `sim:cartpole`, `sim:reacher`): a rapier world
    /// as a plant, driven in lockstep.
    Sim {
        /// The plant kind, one of `ganglion_sim::PLANT_KINDS`.
        kind: String,
        /// Seed of the initial state.
        seed: u64,
        /// Lockstep pacing: real time, or as fast as possible.
        pace: Pace,
        /// The URDF the plant's robot is built from (`plant.urdf`; `None`:
        /// the kind's shipped robot).
        urdf: Option<PathBuf>,
        /// `sim:urdf`: how every joint takes its command (`plant.drive`);
        /// `None` for the other kinds.
        drive: Option<ganglion_sim::urdf::DriveKind>,
    },
    /// `kind = "link:udp"` or `"link:serial"`: a joint node over the wire
    /// protocol (a firmware
    /// node, or `ganglion node` for hardware-in-the-loop).
    Link {
        /// Where the node is: `address` (UDP) or `device` + `baud` (serial).
        endpoint: super::endpoint::LinkEndpoint,
        /// The joint layout: the plant kind the node serves (`sim:cartpole`).
        joints: String,
        clock: LinkClock,
        /// The node's command watchdog (ms).
        watchdog_ms: u32,
        /// What the node does when commands stop.
        node_safe: ganglion_firmware::SafeMode,
        /// JointState period asked of the node (µs): the control period.
        publish_period_us: u32,
        /// Seed of a simulated node plant's episodes (lockstep).
        seed: u64,
        /// Lockstep pacing.
        pace: Pace,
    },
    /// `kind = "zenoh"`: a robot over zenoh (`ganglion sim serve`, or any
    /// process speaking `io::zenoh`'s key space); wall clock.
    Zenoh {
        /// The robot's name in the key space `ganglion/{robot}/…`.
        robot: String,
        /// The sensor/actuator layout: a plant kind (`sim:cartpole`).
        layout: String,
        connect: Vec<String>,
        listen: Vec<String>,
        multicast: bool,
        connect_timeout_ms: u64,
        tls: Option<ZenohTls>,
    },
    /// `kind = "servo:dynamixel"`: a chain of smart servos on a serial
    /// bus (`servo::ServoBusPlant`); wall clock.
    Servo(super::servo::ServoBusConfig),
}

/// TLS files of a zenoh plant (resolved paths).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZenohTls {
    pub ca: PathBuf,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub mutual: bool,
}

/// How a link plant keeps time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkClock {
    /// The loop advances the node's simulated plant one period per tick.
    Lockstep,
    /// The node runs on its own clock; the loop on the wall clock.
    Wall,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// Advance the sim one period per tick, sleeping to keep wall time.
    Realtime,
    /// Advance the sim as fast as the loop runs.
    Fast,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    Mlp,
    DecisionTransformer,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PolicyConfig {
    pub path: PathBuf,
    pub kind: PolicyKind,
    /// The model card (default: beside `path`, `.card.toml`).
    pub card: PathBuf,
    /// Decision Transformer: the return to condition on.
    pub target_return: Option<f32>,
    /// A chunk-predicting model, and how it runs (`chunk = …`).
    pub chunking: Option<super::Chunking>,
}

/// Observation = (sensor[field] − offset) × scale, in `fields` order.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservationConfig {
    pub fields: Vec<String>,
    pub offset: Vec<f32>,
    pub scale: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ActionMapping {
    /// Discrete policy: action index i → actuator values `table[i]`.
    Discrete { table: Vec<Vec<f32>> },
    /// Continuous policy: command = action × scale + offset.
    Continuous { scale: Vec<f32>, offset: Vec<f32> },
}

impl ActionMapping {
    /// Width of the policy's action: one index, or one value per scale.
    pub fn dim(&self) -> usize {
        match self {
            ActionMapping::Discrete { .. } => 1,
            ActionMapping::Continuous { scale, .. } => scale.len(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ActionConfig {
    pub actuators: Vec<String>,
    pub mapping: ActionMapping,
}

/// What the safety filter sends when it overrides the policy.
#[derive(Clone, Debug, PartialEq)]
pub enum SafeAction {
    /// Keep sending the last command that was sent.
    HoldLast,
    Zero,
    /// A named pose from `[safety.poses]`: one value per actuator.
    Pose {
        name: String,
        values: Vec<f32>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct SafetyConfig {
    /// Per-actuator limits.
    pub min: Vec<f32>,
    pub max: Vec<f32>,
    /// Per-actuator largest change per tick (> 0).
    pub max_delta: Vec<f32>,
    /// A sensor older than this (seconds of loop time) is stale.
    pub stale_after_s: f64,
    /// Sent on a fault (stale or non-finite sensor, policy error or NaN).
    pub safe_action: SafeAction,
    /// Sent while the e-stop is latched.
    pub estop_action: SafeAction,
    /// Position limits of speed-commanded joints: a command that would drive
    /// a joint further past its limit is stopped (empty: none).
    pub joint_limits: Vec<JointLimit>,
    /// This many bad cycles in a row (a missed deadline or a stale sensor)
    /// latch the e-stop until an operator reset (Franka stops after 20
    /// missed packets); 0: never.
    pub max_missed_cycles: u32,
    /// Per-actuator limits on the command's acceleration (units/s²) and
    /// jerk (units/s³), with soft position limits from them (the motion
    /// stage, `runtime::motion_limits`); empty: not limited. `max_jerk`
    /// needs `max_accel`.
    pub max_accel: Vec<f32>,
    pub max_jerk: Vec<f32>,
    /// The fallback controller (a model file, its card beside it) that
    /// takes over from the policy's first fault until an operator reset;
    /// `None`: the safe action on each faulty tick.
    pub fallback: Option<PathBuf>,
    /// A box the tool link must stay in (`[safety.workspace]`; forward
    /// kinematics from the plant's URDF); `None`: no box.
    pub workspace: Option<WorkspaceBox>,
}

/// `[safety.workspace]`: the tool link's origin stays within `min..max`
/// (m, the URDF root's frame). A command whose predicted joint positions
/// would carry it out is cut to the boundary.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkspaceBox {
    pub min: [f32; 3],
    pub max: [f32; 3],
    /// From the root to the tool link; joint positions indexed like the
    /// URDF's movable joints.
    pub chain: ganglion_sim::urdf::Chain,
    /// The movable joints on the chain, and how each is read and commanded.
    pub joints: Vec<WorkspaceJoint>,
}

/// One joint of a workspace chain.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorkspaceJoint {
    /// Index in the chain's joint vector.
    pub index: usize,
    /// The plant sensor of its position (`joint.position`).
    pub sensor: usize,
    /// Its command, when it has one: the actuator index and whether the
    /// command is a speed (`joint.velocity`; else a position,
    /// `joint.position`).
    pub actuator: Option<(usize, bool)>,
}

/// `safety.max_missed_cycles` when the file does not say.
pub const DEFAULT_MAX_MISSED_CYCLES: u32 = 20;

/// A position limit on a speed-commanded joint: when the joint's position
/// sensor is within `margin` of `min` (`max`), a command on `actuator` below
/// (above) zero becomes zero. Indices are the plant's actuator and sensor
/// indices.
#[derive(Clone, Debug, PartialEq)]
pub struct JointLimit {
    pub actuator: usize,
    pub sensor: usize,
    pub min: f32,
    pub max: f32,
    pub margin: f32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordConfig {
    /// Record to this file unless `--record` says otherwise (None: no recording).
    pub path: Option<PathBuf>,
    /// Flush a chunk to disk at least this often.
    pub flush_every_ms: u64,
    /// Ticks the ring holds before it drops.
    pub ring_capacity: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RealtimeConfig {
    pub enabled: bool,
    /// SCHED_FIFO priority (1–99).
    pub priority: i32,
    /// Pin the loop thread to this CPU.
    pub cpu: Option<usize>,
    /// mlockall(MCL_CURRENT | MCL_FUTURE).
    pub lock_memory: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClockConfig {
    /// Busy-wait this long before each wall-clock deadline (after sleeping).
    pub spin_us: u64,
}

impl Default for RecordConfig {
    /// No recording path, flush every 100 ms, a 4096-tick ring.
    fn default() -> Self {
        RecordConfig {
            path: None,
            flush_every_ms: 100,
            ring_capacity: 4096,
        }
    }
}

impl Default for RealtimeConfig {
    /// Off; when enabled: priority 80, no CPU pinning, memory locked.
    fn default() -> Self {
        RealtimeConfig {
            enabled: false,
            priority: 80,
            cpu: None,
            lock_memory: true,
        }
    }
}

impl Default for ClockConfig {
    /// Spin the last 50 µs before each deadline.
    fn default() -> Self {
        ClockConfig { spin_us: 200 }
    }
}
