//! Where a link's far end is (`LinkEndpoint`): `udp:HOST:PORT` or
//! `serial:DEVICE[@BAUD]`, and the baud rates a serial link may run at. Here
//! (not in `io`) because robot files name them; `io::transport` opens them.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

/// Default serial link speed (the firmware's UART runs at 1 Mbaud).
pub const DEFAULT_BAUD: u32 = 1_000_000;

/// The baud rates a serial link accepts (what Linux termios can set).
pub const SERIAL_BAUDS: &[u32] = &[
    9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 500_000, 576_000, 921_600, 1_000_000,
    1_152_000, 1_500_000, 2_000_000, 2_500_000, 3_000_000, 3_500_000, 4_000_000,
];

/// The accepted baud rates, for error messages.
pub fn known_bauds() -> String {
    SERIAL_BAUDS
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a serial link may run at `baud`.
pub fn baud_ok(baud: u32) -> bool {
    SERIAL_BAUDS.contains(&baud)
}

/// `HOST:PORT` as a socket address, or an error saying what is expected.
pub fn socket_addr(text: &str) -> Result<SocketAddr> {
    text.parse()
        .with_context(|| format!("`{text}` is not a socket address (expected e.g. 127.0.0.1:9000)"))
}

/// Where the other end of a link is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEndpoint {
    Udp(SocketAddr),
    Serial { device: PathBuf, baud: u32 },
}

impl fmt::Display for LinkEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkEndpoint::Udp(a) => write!(f, "udp:{a}"),
            LinkEndpoint::Serial { device, baud } => {
                write!(f, "serial:{}@{baud}", device.display())
            }
        }
    }
}

impl LinkEndpoint {
    /// Parses `udp:HOST:PORT` or `serial:DEVICE[@BAUD]` (default 1 Mbaud).
    pub fn parse(text: &str) -> Result<LinkEndpoint> {
        if let Some(addr) = text.strip_prefix("udp:") {
            return Ok(LinkEndpoint::Udp(socket_addr(addr)?));
        }
        if let Some(rest) = text.strip_prefix("serial:") {
            let (device, baud) = serial_spec(rest)?;
            return Ok(LinkEndpoint::Serial { device, baud });
        }
        bail!(
            "`{text}` is not a link (expected udp:HOST:PORT, e.g. udp:127.0.0.1:9000, or \
             serial:DEVICE[@BAUD], e.g. serial:/dev/ttyACM0@1000000)"
        )
    }

    /// The UDP address, if a UDP link.
    pub fn udp(&self) -> Option<SocketAddr> {
        match self {
            LinkEndpoint::Udp(a) => Some(*a),
            LinkEndpoint::Serial { .. } => None,
        }
    }
}

/// `DEVICE[@BAUD]`.
pub fn serial_spec(text: &str) -> Result<(PathBuf, u32)> {
    let (device, baud) = match text.rsplit_once('@') {
        Some((d, b)) => {
            let baud: u32 = b
                .parse()
                .with_context(|| format!("serial:{text}: baud `{b}` is not a number"))?;
            (d, baud)
        }
        None => (text, DEFAULT_BAUD),
    };
    if device.is_empty() {
        bail!("serial:{text}: no device (expected e.g. serial:/dev/ttyACM0@1000000)");
    }
    if !baud_ok(baud) {
        bail!(
            "serial:{text}: baud {baud} is not supported (known: {})",
            known_bauds()
        );
    }
    Ok((PathBuf::from(device), baud))
}
