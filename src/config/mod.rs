//! Robot configuration: one TOML file describes a robot run (plant, policy,
//! observation and action mappings, safety, recording, real-time setup), in
//! the spirit of copper-rs's single config. `load` parses and validates it and
//! reports every problem with file, line and field. The format is documented
//! at the top of `robots/cartpole.toml`.

mod action;
mod camera;
mod chunking;
pub mod endpoint;
mod error;
pub mod joints;
mod link;
mod overrides;
mod policy;
mod reader;
mod robot_file;
pub mod servo;
mod span;
mod types;
mod validate;
pub mod zenoh;

use std::path::Path;

use toml::de::DeTable;

pub use camera::{
    CAMERA_LINKS, CameraConfig, CameraMount, CameraSourceConfig, MAX_CAMERA_SIDE, MAX_CAMERAS,
    MIN_CAMERA_SIDE,
};
pub use chunking::{Chunking, MAX_CHUNK};
pub use endpoint::LinkEndpoint;
pub use error::{ConfigErrors, ConfigProblem};
pub use overrides::{Override, load_with_overrides};
pub use robot_file::{URDF_ARM, URDF_PLANTS};
pub use span::field_line;
pub use types::*;
pub use validate::{MAX_NAME_LEN, MAX_RATE_HZ, MAX_RING_CAPACITY, MIN_RATE_HZ, MIN_RING_CAPACITY};

use reader::Reporter;

/// Reads, parses and validates the robot config at `path`. Relative paths in
/// it resolve against the file's directory.
pub fn load(path: &Path) -> Result<RobotConfig, ConfigErrors> {
    load_with(path, Integrity::Verify)
}

/// Whether a config's policy file must be the one its model card describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Integrity {
    /// The model's sha256 must equal the card's (the default everywhere).
    Verify,
    /// Run a model whose sha256 differs from its card (`--allow-unverified`;
    /// recorded in the recording's metadata).
    AllowUnverified,
}

/// As `load`, choosing whether the model's sha256 is checked.
pub fn load_with(path: &Path, integrity: Integrity) -> Result<RobotConfig, ConfigErrors> {
    match crate::input::read_text(path, crate::input::FileKind::Config) {
        Ok(text) => parse_with(path, &text, integrity),
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
    parse_with(path_for_messages, text, Integrity::Verify)
}

/// As `parse`, choosing whether the model's sha256 is checked.
pub fn parse_with(
    path_for_messages: &Path,
    text: &str,
    integrity: Integrity,
) -> Result<RobotConfig, ConfigErrors> {
    let mut rep = Reporter::new(path_for_messages, text);
    rep.verify_model = integrity == Integrity::Verify;
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
    let omitted = rep.omitted;
    let file = rep.file().to_path_buf();
    let mut problems = rep.problems;
    problems.sort_by_key(|p| p.line.unwrap_or(0));
    if omitted > 0 {
        problems.push(ConfigProblem {
            file,
            line: None,
            field: String::new(),
            message: format!("… and {omitted} more problem(s) not shown"),
        });
    }
    ConfigErrors { problems }
}
