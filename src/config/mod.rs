//! Robot configuration: one TOML file describes a robot run (plant, policy,
//! observation and action mappings, safety, recording, real-time setup), in
//! the spirit of copper-rs's single config. `load` parses and validates it and
//! reports every problem with file, line and field. The format is documented
//! at the top of `robots/cartpole.toml`.

mod action;
mod error;
mod link;
mod reader;
mod span;
mod types;
mod validate;
mod zenoh;

use std::path::Path;

use toml::de::DeTable;

pub use error::{ConfigErrors, ConfigProblem};
pub use span::field_line;
pub use types::*;
pub use validate::{MAX_RATE_HZ, MAX_RING_CAPACITY, MIN_RING_CAPACITY};

use reader::Reporter;

/// Reads, parses and validates the robot config at `path`. Relative paths in
/// it resolve against the file's directory.
pub fn load(path: &Path) -> Result<RobotConfig, ConfigErrors> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) => {
            let mut rep = Reporter::new(path, "");
            rep.report("", None, format!("cannot read: {e}"));
            Err(finish(rep))
        }
    }
}

/// Parses and validates config `text` (e.g. one embedded in a recording).
/// `path_for_messages` names it in problems, and relative paths in it
/// resolve against that path's directory.
pub fn parse(path_for_messages: &Path, text: &str) -> Result<RobotConfig, ConfigErrors> {
    let mut rep = Reporter::new(path_for_messages, text);
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let msg = e.message().trim().replace('\n', "; ");
            rep.report("", e.span(), format!("TOML syntax error: {msg}"));
            return Err(finish(rep));
        }
    };
    let config = validate::robot_config(path_for_messages, text, &doc, &mut rep);
    match config {
        Some(config) if rep.problems.is_empty() => Ok(config),
        _ => {
            if rep.problems.is_empty() {
                // Every path that yields None reports first; never hide that.
                rep.report("", None, "invalid config");
            }
            Err(finish(rep))
        }
    }
}

/// The problems in line order (those without a line first).
fn finish(rep: Reporter) -> ConfigErrors {
    let mut problems = rep.problems;
    problems.sort_by_key(|p| p.line.unwrap_or(0));
    ConfigErrors { problems }
}
