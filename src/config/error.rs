//! The problems `config::load` reports: each with the file, the 1-based line
//! (when one is known), the dotted field path and a message, displayed as
//! `robots/cartpole.toml:12: safety.max_delta[0]: must be > 0`.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a robot config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The config file, as it was named to `load` / `parse`.
    pub file: PathBuf,
    /// 1-based line of the field (or of its section when the field is
    /// missing); `None` when no line applies (e.g. a missing top-level key).
    pub line: Option<usize>,
    /// Dotted path of the field, with array indices: `safety.max_delta[0]`.
    /// Empty for problems with the file as a whole (unreadable, bad syntax).
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in one config file (never empty when returned by
/// `load` / `parse`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(line: Option<usize>, field: &str) -> ConfigProblem {
        ConfigProblem {
            file: PathBuf::from("robots/cartpole.toml"),
            line,
            field: field.to_string(),
            message: "must be > 0".to_string(),
        }
    }

    #[test]
    fn display_formats() {
        assert_eq!(
            problem(Some(12), "safety.max_delta").to_string(),
            "robots/cartpole.toml:12: safety.max_delta: must be > 0"
        );
        assert_eq!(
            problem(None, "rate_hz").to_string(),
            "robots/cartpole.toml: rate_hz: must be > 0"
        );
        assert_eq!(
            problem(Some(3), "").to_string(),
            "robots/cartpole.toml:3: must be > 0"
        );
        let errs = ConfigErrors {
            problems: vec![problem(Some(1), "a"), problem(None, "b")],
        };
        assert_eq!(
            errs.to_string(),
            "robots/cartpole.toml:1: a: must be > 0\nrobots/cartpole.toml: b: must be > 0"
        );
    }
}
