//! The messages of the joint-node protocol, as plain fixed-size values. The
//! byte layout of each is in `wire.rs`. Joint arrays hold `MAX_JOINTS`
//! entries; `n` says how many are in use.

/// Protocol version carried in every frame; a frame of another version is
/// rejected with `DecodeError::Version`.
pub const PROTOCOL_VERSION: u8 = 1;
/// Most joints one node serves.
pub const MAX_JOINTS: usize = 8;

/// How a joint is driven.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum JointMode {
    /// effort = effort target.
    #[default]
    Effort = 0,
    /// effort = kd·(velocity target − velocity) + effort target.
    Velocity = 1,
    /// effort = kp·(position target − position) + kd·(velocity target −
    /// velocity) + effort target.
    Position = 2,
}

impl JointMode {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(JointMode::Effort),
            1 => Some(JointMode::Velocity),
            2 => Some(JointMode::Position),
            _ => None,
        }
    }
}

/// Targets for every joint, from the controller.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct JointCommand {
    pub n: u8,
    pub mode: [JointMode; MAX_JOINTS],
    pub position: [f32; MAX_JOINTS],
    pub velocity: [f32; MAX_JOINTS],
    pub effort: [f32; MAX_JOINTS],
}

/// Bits of `JointState::status` and `Heartbeat::status`.
pub mod status {
    /// A NodeConfig has been accepted since boot.
    pub const CONFIGURED: u16 = 1 << 0;
    /// Commands are fresh and being applied.
    pub const ACTIVE: u16 = 1 << 1;
    /// The command watchdog expired: the node is in its safe state.
    pub const WATCHDOG: u16 = 1 << 2;
    /// The e-stop is latched.
    pub const ESTOP: u16 = 1 << 3;
    /// A joint limit cut an effort this tick.
    pub const LIMIT: u16 = 1 << 4;
    /// A sensor read non-finite this tick.
    pub const SENSOR_FAULT: u16 = 1 << 5;
}

/// Measured joint state, published by the node at its configured rate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct JointState {
    /// Node clock at the sample (µs).
    pub node_time_us: u64,
    /// Sequence number of the last JointCommand the node applied.
    pub ack_seq: u16,
    /// `status` bits.
    pub status: u16,
    pub n: u8,
    pub position: [f32; MAX_JOINTS],
    pub velocity: [f32; MAX_JOINTS],
    /// Efforts the node applied this tick.
    pub effort: [f32; MAX_JOINTS],
}

/// Liveness, both ways: the host sends one, the node answers with its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heartbeat {
    /// Sender's control clock (µs).
    pub time_us: u64,
    /// Milliseconds since the sender booted (the MCU: SysTick).
    pub uptime_ms: u32,
    /// Changes when the node reboots.
    pub boot_id: u32,
    /// `status` bits.
    pub status: u16,
    /// Frames decoded / rejected since boot.
    pub rx_ok: u32,
    pub rx_err: u32,
}

/// Fault codes of `Fault::code`.
pub mod fault {
    pub const WATCHDOG: u16 = 1;
    pub const ESTOP: u16 = 2;
    pub const SENSOR: u16 = 3;
    pub const LIMIT: u16 = 4;
    pub const BAD_FRAME: u16 = 5;
    pub const BAD_COMMAND: u16 = 6;
    pub const UNCONFIGURED: u16 = 7;
    pub const BAD_CONFIG: u16 = 8;
    /// A lockstep `SimStep` whose `dt_us` is out of range (refused, not run).
    pub const BAD_STEP: u16 = 9;

    pub fn name(code: u16) -> &'static str {
        match code {
            WATCHDOG => "watchdog",
            ESTOP => "estop",
            SENSOR => "sensor",
            LIMIT => "limit",
            BAD_FRAME => "bad_frame",
            BAD_COMMAND => "bad_command",
            UNCONFIGURED => "unconfigured",
            BAD_CONFIG => "bad_config",
            BAD_STEP => "bad_step",
            _ => "unknown",
        }
    }
}

/// A fault the node reports once, when it begins.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Fault {
    pub code: u16,
    /// The joint concerned, or 0xFF for the node as a whole.
    pub joint: u8,
    pub node_time_us: u64,
    /// Code-specific value (e.g. the command age for WATCHDOG, in ms).
    pub detail: f32,
}

/// What the node does when commands stop or an e-stop latches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum SafeMode {
    /// effort = −damping·velocity on every joint.
    #[default]
    Brake = 0,
    /// Hold the positions at the moment the safe state began (kp, kd).
    Hold = 1,
    /// No effort at all.
    Zero = 2,
}

impl SafeMode {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(SafeMode::Brake),
            1 => Some(SafeMode::Hold),
            2 => Some(SafeMode::Zero),
            _ => None,
        }
    }
}

/// Gains and limits of one joint.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct JointConfig {
    pub kp: f32,
    pub kd: f32,
    /// Brake damping (effort per unit velocity) in the safe state.
    pub damping: f32,
    /// |effort| ≤ max_effort; 0 makes the joint unactuated (a sensor only).
    pub max_effort: f32,
    pub position_min: f32,
    pub position_max: f32,
    /// Beyond this |velocity| no effort that speeds the joint up is applied.
    pub max_velocity: f32,
}

/// Largest accepted `NodeConfig::watchdog_us` (60 s): a longer watchdog is
/// no watchdog, and a config asking for one is refused.
pub const MAX_WATCHDOG_US: u32 = 60_000_000;
/// Largest accepted `NodeConfig::publish_period_us` (60 s).
pub const MAX_PUBLISH_PERIOD_US: u32 = 60_000_000;

/// The node's configuration, sent by the controller when it connects and
/// again whenever the node reports that it is unconfigured (after a reboot).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeConfig {
    /// No valid JointCommand for longer than this → safe state.
    pub watchdog_us: u32,
    /// JointState every this many µs of node time (0: never).
    pub publish_period_us: u32,
    pub safe_mode: SafeMode,
    pub n: u8,
    pub joints: [JointConfig; MAX_JOINTS],
}

/// Hardware-in-the-loop: the plant's sensor sample that drives one node tick
/// (sent by the host-side plant to an emulated node).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HwSample {
    /// Plant time of the sample (µs): the node's clock in HIL.
    pub time_us: u64,
    /// `HW_SNAPSHOT`: publish a JointState of this sample, run no control.
    pub flags: u8,
    pub n: u8,
    pub position: [f32; MAX_JOINTS],
    pub velocity: [f32; MAX_JOINTS],
}

/// `HwSample::flags`: answer with a JointState of the sample, no control tick.
pub const HW_SNAPSHOT: u8 = 1;

/// Hardware-in-the-loop: the efforts an emulated node wrote in its tick.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HwEffort {
    pub n: u8,
    pub effort: [f32; MAX_JOINTS],
}

/// Lockstep simulation: what one `SimStep` did to the plant.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepDone {
    /// Node time after the step (µs).
    pub time_us: u64,
    /// Control steps since the last `SimReset`.
    pub step: u32,
    pub reward: f32,
    /// `STEP_TERMINATED` | `STEP_TRUNCATED` | `STEP_IN_ENVELOPE`.
    pub flags: u8,
}

pub const STEP_TERMINATED: u8 = 1;
pub const STEP_TRUNCATED: u8 = 2;
pub const STEP_IN_ENVELOPE: u8 = 4;

/// Every message of the protocol. `Sim*` messages drive the simulated
/// plant's clock in lockstep hardware-in-the-loop; real hardware never sees
/// them, and link fault injection leaves them alone (time cannot be dropped).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Message {
    JointCommand(JointCommand),
    JointState(JointState),
    Heartbeat(Heartbeat),
    EStop,
    /// Clears a latched e-stop and the watchdog state.
    Reset,
    /// The controller ends its session with the node. A node reached over a
    /// network (UDP) then forgets which controller it answers, so the next
    /// one can bind; an MCU on a serial line ignores it.
    Bye,
    Fault(Fault),
    NodeConfig(NodeConfig),
    HwSample(HwSample),
    HwEffort(HwEffort),
    /// Advance the simulated plant by `dt_us` of node time.
    SimStep {
        dt_us: u32,
    },
    SimStepDone(StepDone),
    /// Start a new episode of the simulated plant from `seed`.
    SimReset {
        seed: u64,
    },
}

impl Message {
    /// The kind byte on the wire.
    pub fn kind(&self) -> u8 {
        match self {
            Message::JointCommand(_) => kind::JOINT_COMMAND,
            Message::JointState(_) => kind::JOINT_STATE,
            Message::Heartbeat(_) => kind::HEARTBEAT,
            Message::EStop => kind::ESTOP,
            Message::Reset => kind::RESET,
            Message::Bye => kind::BYE,
            Message::Fault(_) => kind::FAULT,
            Message::NodeConfig(_) => kind::NODE_CONFIG,
            Message::HwSample(_) => kind::HW_SAMPLE,
            Message::HwEffort(_) => kind::HW_EFFORT,
            Message::SimStep { .. } => kind::SIM_STEP,
            Message::SimStepDone(_) => kind::SIM_STEP_DONE,
            Message::SimReset { .. } => kind::SIM_RESET,
        }
    }

    /// Whether this is a lockstep-simulation clock message (`Sim*`).
    pub fn is_sim_clock(&self) -> bool {
        kind::is_sim_clock(self.kind())
    }
}

/// Kind bytes.
pub mod kind {
    pub const JOINT_COMMAND: u8 = 0x01;
    pub const JOINT_STATE: u8 = 0x02;
    pub const HEARTBEAT: u8 = 0x03;
    pub const ESTOP: u8 = 0x04;
    pub const RESET: u8 = 0x05;
    pub const FAULT: u8 = 0x06;
    pub const NODE_CONFIG: u8 = 0x07;
    pub const BYE: u8 = 0x08;
    pub const HW_SAMPLE: u8 = 0x20;
    pub const HW_EFFORT: u8 = 0x21;
    pub const SIM_STEP: u8 = 0x40;
    pub const SIM_STEP_DONE: u8 = 0x41;
    pub const SIM_RESET: u8 = 0x42;

    pub fn is_sim_clock(kind: u8) -> bool {
        (0x40..0x60).contains(&kind)
    }
}
