//! The byte link between the control loop and firmware joint nodes
//! (hardware-in-the-loop): the joint layout of each plant (`joints`), the
//! node's `Hardware` over a simulated plant (`plant_hw`), the node process
//! over UDP or with the real firmware in qemu-system-arm (`node`, `qemu`),
//! link fault injection (`fault`), and the controller's `Plant` over the link
//! (`link`). Both ends share the wire protocol of `ganglion_firmware`.

pub mod fault;
pub mod hil;
pub mod joints;
pub mod link;
pub mod node;
pub mod plant_hw;
pub mod qemu;
pub mod zenoh;

pub use fault::{FaultKind, FaultPlan, FaultStats, LinkFaults};
pub use joints::{JointLayout, layout};
pub use link::{LinkOptions, LinkPlant};
pub use node::{NodeBackendKind, NodeClock, NodeOptions, NodeSummary, serve};
pub use plant_hw::PlantHardware;
