//! The real-time control loop: clock, tick, safety filter, statistics,
//! allocation accounting, real-time thread setup, and fault injection for
//! drills. `ControlLoop` runs on one dedicated thread; everything else talks to
//! it through lock-free slots and rings.

pub mod alloc_count;
pub mod control_loop;
pub mod live;
pub mod motion_limits;
pub mod plant_fault;
pub mod rt;
pub mod safety;
pub mod session;
pub mod stats;
pub mod workspace;

pub use control_loop::{ClockMode, ControlLoop, LoopControls, RunLimit};
pub use safety::SafetyFilter;
pub use session::{AllocReport, RecordTo, RunReport, Session, SessionOptions};
pub use stats::{Histogram, Summary, TickStats};
