//! Recording: every tick of the control loop goes through a lock-free ring to a
//! recorder thread that writes MCAP (JSON messages with JSON Schemas, one
//! channel per stream), which Foxglove opens. Recordings are also datasets and
//! can be replayed. Camera frames go through a ring of their own and are
//! written as Foxglove protobuf images (`camera`, `foxglove`).

pub mod camera;
pub mod foxglove;
mod json;
pub mod reader;
pub mod schema;
pub mod tick;
pub mod writer;

pub use reader::{
    Mismatch, RecordedTick, Recording, compare_payloads, parse_recording, read_recording,
    read_recording_with_images,
};
pub use tick::{MAX_ACT, MAX_OBS, MAX_SENSORS, SafetyEvents, SafetyState, TaskFields, TickRecord};
pub use writer::{RecordSink, RecordSummary, Recorder, RecordingHeader};
