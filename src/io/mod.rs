//! Links between the control loop and robots outside the process. The byte
//! link to firmware joint nodes (hardware-in-the-loop): the node's
//! `Hardware` over a simulated plant (`plant_hw`, with the joint layout from
//! `config::joints`), the node process over UDP or with the real firmware in
//! qemu-system-arm (`node_process`, its `node_backend`, `qemu`), the one controller a
//! node answers (`node_peer`), link fault injection (`link_fault`), the
//! controller's `Plant` over the link (`link`), what carries the frames
//! (`transport`: UDP, or a serial line through `serial`, pseudo-terminals
//! included), and HIL runs as a library for
//! the benchmark and tests (`hil`); both ends share the wire protocol of
//! `ganglion_firmware`. Past one machine, `zenoh` carries sensors, commands,
//! telemetry, the e-stop and distributed rollouts (the transport; the
//! learning side is `learn::worker`) between processes and hosts.

pub mod hil;
pub mod link;
pub mod link_fault;
mod node_backend;
pub mod node_peer;
pub mod node_process;
pub mod plant_hw;
pub mod qemu;
pub mod serial;
pub mod transport;
pub mod zenoh;

pub use crate::config::joints::{JointLayout, layout};
pub use link::{LinkOptions, LinkPlant};
pub use link_fault::{FaultKind, FaultPlan, FaultStats, LinkFaults};
pub use node_peer::{NodeBinding, PeerStats};
pub use node_process::{NodeBackendKind, NodeClock, NodeOptions, NodeSummary, serve, serve_bound};
pub use plant_hw::PlantHardware;
pub use transport::{LinkEndpoint, NodeLink};
