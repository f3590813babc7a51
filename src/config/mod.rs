//! Robot configuration: one TOML file describes a robot run (plant, policy,
//! observation and action mappings, safety, recording, real-time setup), in
//! the spirit of copper-rs's single config. `load` parses and validates it and
//! reports every problem with file, line and field.

mod types;

pub use types::*;
