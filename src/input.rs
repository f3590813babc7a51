//! Input from outside the process, checked once where it enters: files are
//! read only when they are regular files under a size cap for their kind
//! (never a FIFO, a device or a directory, and never a read that blocks), and
//! numbers from the command line (durations, timeouts) are parsed into values
//! that cannot be NaN, infinite, negative or too large to represent as a
//! `Duration`. Everything past this module can trust what it is given.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// What a file is for; each kind has its own size cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Config,
    Card,
    Model,
    Recording,
    Urdf,
    Suite,
    Dataset,
    Program,
}

impl FileKind {
    /// The largest file of this kind that is read.
    pub fn max_bytes(self) -> u64 {
        match self {
            FileKind::Config => 1 << 20,
            FileKind::Card => 1 << 20,
            FileKind::Model => 1 << 30,
            FileKind::Recording => 4 << 30,
            FileKind::Urdf => 16 << 20,
            FileKind::Suite => 4 << 20,
            FileKind::Dataset => 1 << 20,
            FileKind::Program => 1 << 20,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FileKind::Config => "robot config",
            FileKind::Card => "model card",
            FileKind::Model => "model file",
            FileKind::Recording => "recording",
            FileKind::Urdf => "URDF file",
            FileKind::Suite => "suite file",
            FileKind::Dataset => "dataset manifest",
            FileKind::Program => "program",
        }
    }
}

/// Why a file from outside was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{kind} {path} not found")]
    NotFound { kind: &'static str, path: String },
    #[error("{kind} {path} is a directory, not a file")]
    Directory { kind: &'static str, path: String },
    #[error("{kind} {path} is not a regular file (a FIFO, socket or device); refusing to read it")]
    NotRegular { kind: &'static str, path: String },
    #[error("{kind} {path} is {size} bytes, over the {max}-byte limit for a {kind}")]
    TooLarge {
        kind: &'static str,
        path: String,
        size: u64,
        max: u64,
    },
    #[error("{kind} {path} is not UTF-8 text (first bad byte at offset {offset})")]
    NotText {
        kind: &'static str,
        path: String,
        offset: usize,
    },
    #[error("{kind} {path} cannot be read: {source}")]
    Io {
        kind: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// Checks that `path` names a regular file within the cap for `kind`,
/// without opening it (so a FIFO is never opened and nothing blocks).
pub fn check_file(path: &Path, kind: FileKind) -> Result<u64, FileError> {
    let k = kind.name();
    let p = || path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => FileError::NotFound { kind: k, path: p() },
        _ => FileError::Io {
            kind: k,
            path: p(),
            source: e,
        },
    })?;
    if meta.is_dir() {
        return Err(FileError::Directory { kind: k, path: p() });
    }
    if !meta.is_file() {
        return Err(FileError::NotRegular { kind: k, path: p() });
    }
    if meta.len() > kind.max_bytes() {
        return Err(FileError::TooLarge {
            kind: k,
            path: p(),
            size: meta.len(),
            max: kind.max_bytes(),
        });
    }
    Ok(meta.len())
}

/// Reads a whole file of `kind`: regular files only, at most the kind's cap.
/// The file is opened non-blocking and checked again once open, so a path
/// swapped for a FIFO between the check and the open cannot block the read.
pub fn read_file(path: &Path, kind: FileKind) -> Result<Vec<u8>, FileError> {
    let (file, size) = open_file(path, kind)?;
    let k = kind.name();
    let io = |source| FileError::Io {
        kind: k,
        path: path.display().to_string(),
        source,
    };
    let max = kind.max_bytes();
    let mut bytes = Vec::with_capacity(size.min(max) as usize);
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(FileError::TooLarge {
            kind: k,
            path: path.display().to_string(),
            size: bytes.len() as u64,
            max,
        });
    }
    Ok(bytes)
}

/// Opens a file of `kind` for reading after `check_file`, non-blocking, and
/// checks again once open that it is a regular file; with its size.
fn open_file(path: &Path, kind: FileKind) -> Result<(std::fs::File, u64), FileError> {
    use std::os::unix::fs::OpenOptionsExt;
    let size = check_file(path, kind)?;
    let k = kind.name();
    let io = |source| FileError::Io {
        kind: k,
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            kind: k,
            path: path.display().to_string(),
        });
    }
    Ok((file, size))
}

/// The sha256 of a file of `kind` as lowercase hex, read in 1 MiB pieces
/// (a 1 GiB model is hashed without holding it), with `read_file`'s checks.
/// The one file hash: model cards, fetched language models, recordings.
pub fn sha256_file(path: &Path, kind: FileKind) -> Result<String, FileError> {
    use sha2::Digest;
    let (mut file, _) = open_file(path, kind)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|source| FileError::Io {
            kind: kind.name(),
            path: path.display().to_string(),
            source,
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The sha256 of bytes as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// As `read_file`, for text (UTF-8) files.
pub fn read_text(path: &Path, kind: FileKind) -> Result<String, FileError> {
    let bytes = read_file(path, kind)?;
    String::from_utf8(bytes).map_err(|e| FileError::NotText {
        kind: kind.name(),
        path: path.display().to_string(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// The longest duration accepted from the command line (about 11.5 days).
pub const MAX_SECONDS: f64 = 1e6;

/// A duration from outside: finite, not negative, at most `MAX_SECONDS`.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Seconds(f64);

impl Seconds {
    pub fn new(v: f64) -> Result<Self, String> {
        if !v.is_finite() {
            return Err(format!("must be a finite number of seconds, got {v}"));
        }
        if v < 0.0 {
            return Err(format!("must not be negative, got {v}"));
        }
        if v > MAX_SECONDS {
            return Err(format!("must be at most {MAX_SECONDS} s, got {v}"));
        }
        Ok(Seconds(v))
    }

    pub fn get(self) -> f64 {
        self.0
    }

    pub fn duration(self) -> Duration {
        // In range by construction: 0 ≤ v ≤ MAX_SECONDS.
        Duration::from_secs_f64(self.0)
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} s", self.0)
    }
}

/// clap value parser for a duration in seconds (`--seconds`, `--timeout`).
pub fn parse_seconds(s: &str) -> Result<Seconds, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    Seconds::new(v)
}

/// clap value parser for a duration that must be above zero.
pub fn parse_positive_seconds(s: &str) -> Result<Seconds, String> {
    let v = parse_seconds(s)?;
    if v.get() == 0.0 {
        return Err("must be greater than 0".into());
    }
    Ok(v)
}

/// clap value parser for a loop rate in Hz, within the limits a robot
/// config accepts.
pub fn parse_rate_hz(s: &str) -> Result<f64, String> {
    use crate::config::{MAX_RATE_HZ, MIN_RATE_HZ};
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a rate in Hz"))?;
    if !(MIN_RATE_HZ..=MAX_RATE_HZ).contains(&v) {
        return Err(format!(
            "must be between {MIN_RATE_HZ} and {MAX_RATE_HZ} Hz, got {v}"
        ));
    }
    Ok(v)
}

/// Writes `s` for a terminal: control characters (escape codes, bidi marks,
/// newlines) become `\u{…}` escapes, and at most `max_chars` characters are
/// shown. Text from outside is never echoed raw.
pub fn printable(s: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        if is_unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Control characters and the Unicode bidi/format characters that change how
/// text is shown (right-to-left marks, overrides, isolates, zero-widths).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x2069 | 0xFEFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_refuse_nan_inf_negative_and_huge() {
        for bad in ["nan", "inf", "-inf", "-1", "1e300", "x", ""] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_seconds("2.5").map(|s| s.get()), Ok(2.5));
        assert!(parse_positive_seconds("0").is_err());
        assert_eq!(
            parse_seconds("1e6").map(|s| s.duration().as_secs()),
            Ok(1_000_000)
        );
    }

    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            read_file(&fifo, FileKind::Config),
            Err(FileError::NotRegular { .. })
        ));
        assert!(matches!(
            read_file(dir.path(), FileKind::Model),
            Err(FileError::Directory { .. })
        ));
        assert!(matches!(
            read_file(Path::new("/dev/zero"), FileKind::Card),
            Err(FileError::NotRegular { .. })
        ));
        assert!(matches!(
            read_file(&dir.path().join("missing"), FileKind::Card),
            Err(FileError::NotFound { .. })
        ));
        let big = dir.path().join("big.toml");
        std::fs::write(
            &big,
            vec![b'#'; (FileKind::Config.max_bytes() + 1) as usize],
        )
        .expect("write");
        assert!(matches!(
            read_file(&big, FileKind::Config),
            Err(FileError::TooLarge { .. })
        ));
    }

    #[test]
    fn printable_escapes_control_and_bidi() {
        assert_eq!(printable("re\u{1b}[31md", 100), "re\\u{1b}[31md");
        assert_eq!(printable("a\u{202e}b", 100), "a\\u{202e}b");
        assert_eq!(printable("abcdef", 3), "abc…");
    }
}
