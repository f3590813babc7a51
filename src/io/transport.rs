//! What carries the wire protocol's frames between a controller and a joint
//! node: UDP datagrams (one datagram, whole frames) or a serial line (a byte
//! stream; frames end at their COBS zero byte). `LinkEndpoint` (from
//! `config::endpoint`, since robot files name it) names the far
//! end (`udp:HOST:PORT`, `serial:DEVICE[@BAUD]`); `LinkTx` / `LinkRx` are the
//! controller's two halves (its tick sends, its reader thread receives);
//! `NodeWire` is the node process's end, which hands frames on one at a
//! time with the sender they came from.
//!
//! A serial write never blocks: when the driver's buffer takes only part of
//! a frame the rest is lost, like a dropped datagram, and the next frame
//! starts with an extra zero byte so the far decoder drops the torn piece
//! instead of gluing it to a good frame.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

pub use crate::config::endpoint::LinkEndpoint;

use super::serial::{DEFAULT_BAUD, Pty, SerialPort};

/// The controller's sending half.
pub enum LinkTx {
    Udp(UdpSocket),
    Serial { port: SerialPort, torn: bool },
}

/// The controller's receiving half (its reader thread's).
pub enum LinkRx {
    Udp(UdpSocket),
    Serial(SerialPort),
}

/// Opens the controller's end of a link to `endpoint`.
pub fn connect(endpoint: &LinkEndpoint) -> Result<(LinkTx, LinkRx)> {
    match endpoint {
        LinkEndpoint::Udp(address) => {
            let local = if address.ip().is_loopback() {
                "127.0.0.1:0"
            } else {
                "0.0.0.0:0"
            };
            let socket = UdpSocket::bind(local).context("binding the link's UDP socket")?;
            socket
                .connect(address)
                .with_context(|| format!("connecting the link to {address}"))?;
            let rx = socket.try_clone()?;
            rx.set_read_timeout(Some(Duration::from_millis(20)))?;
            socket.set_nonblocking(true)?;
            Ok((LinkTx::Udp(socket), LinkRx::Udp(rx)))
        }
        LinkEndpoint::Serial { device, baud } => {
            let port = SerialPort::open(device, *baud)?;
            let rx = port.try_clone()?;
            Ok((LinkTx::Serial { port, torn: false }, LinkRx::Serial(rx)))
        }
    }
}

impl LinkTx {
    /// Sends one encoded frame without blocking; a full buffer loses it.
    pub fn send(&mut self, frame: &[u8]) {
        match self {
            LinkTx::Udp(s) => {
                let _ = s.send(frame);
            }
            LinkTx::Serial { port, torn } => send_frame(port, torn, frame),
        }
    }
}

impl LinkRx {
    /// Waits up to 20 ms for bytes: a datagram, or what the line has.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            LinkRx::Udp(s) => s.recv(buf),
            LinkRx::Serial(p) => p.read_timeout(buf, Duration::from_millis(20)),
        }
    }

    /// Sends a keepalive frame from the reader thread (UDP only; see
    /// `wants_keepalive`).
    pub fn send_keepalive(&mut self, frame: &[u8]) {
        if let LinkRx::Udp(s) = self {
            let _ = s.send(frame);
        }
    }

    /// Whether each `recv` is whole frames (a datagram) or a piece of a
    /// stream, whose frames may span reads.
    pub fn is_datagram(&self) -> bool {
        matches!(self, LinkRx::Udp(_))
    }

    /// Whether the controller should keep a node binding alive with
    /// Heartbeats from the reader thread: only a datagram link has other
    /// senders to lose the node to, and a serial line must have a single
    /// writer so frames never interleave.
    pub fn wants_keepalive(&self) -> bool {
        self.is_datagram()
    }
}

/// Where a node process listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeLink {
    Udp(SocketAddr),
    /// A serial device (the node's side of a cable).
    Serial {
        device: PathBuf,
        baud: u32,
    },
    /// A new pseudo-terminal: the node holds its master; a controller opens
    /// the path the node announces.
    Pty,
}

impl NodeLink {
    /// `udp:HOST:PORT`, `serial:DEVICE[@BAUD]` or `serial:pty`.
    pub fn parse(text: &str) -> Result<NodeLink> {
        if text == "serial:pty" {
            return Ok(NodeLink::Pty);
        }
        match LinkEndpoint::parse(text) {
            Ok(LinkEndpoint::Udp(a)) => Ok(NodeLink::Udp(a)),
            Ok(LinkEndpoint::Serial { device, baud }) => Ok(NodeLink::Serial { device, baud }),
            Err(e) => Err(e.context("or serial:pty (a new pseudo-terminal)")),
        }
    }
}

/// The sender every frame from a serial line is attributed to: a line has
/// one peer, whoever is on the other end.
pub const SERIAL_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// Longest run of line bytes kept while waiting for a frame's end: a frame
/// is at most `MAX_ENCODED` bytes, so anything longer is noise.
const MAX_PENDING: usize = 4096;

/// The node process's end of its link.
pub enum NodeWire {
    Udp {
        socket: UdpSocket,
        /// The wait the socket is set up for (`None`: not yet), so a
        /// receive changes the socket's mode only when the wait changes.
        wait: Option<Duration>,
    },
    Serial {
        port: SerialPort,
        /// Bytes read past the last whole frame.
        pending: Vec<u8>,
        torn: bool,
        /// A pseudo-terminal the node created (kept open while it serves).
        _pty: Option<Pty>,
    },
}

impl NodeWire {
    /// Opens the link; returns it and the endpoint a controller connects to.
    pub fn open(link: &NodeLink) -> Result<(NodeWire, LinkEndpoint)> {
        match link {
            NodeLink::Udp(bind) => {
                let socket = UdpSocket::bind(bind)
                    .with_context(|| format!("binding the node's UDP socket to {bind}"))?;
                let local = socket.local_addr()?;
                Ok((
                    NodeWire::Udp { socket, wait: None },
                    LinkEndpoint::Udp(local),
                ))
            }
            NodeLink::Serial { device, baud } => {
                let port = SerialPort::open(device, *baud)?;
                Ok((
                    NodeWire::serial(port, None),
                    LinkEndpoint::Serial {
                        device: device.clone(),
                        baud: *baud,
                    },
                ))
            }
            NodeLink::Pty => {
                let pty = Pty::open()?;
                let endpoint = LinkEndpoint::Serial {
                    device: pty.path.clone(),
                    baud: DEFAULT_BAUD,
                };
                let port = pty.master.try_clone()?;
                Ok((NodeWire::serial(port, Some(pty)), endpoint))
            }
        }
    }

    fn serial(port: SerialPort, pty: Option<Pty>) -> NodeWire {
        NodeWire::Serial {
            port,
            pending: Vec::with_capacity(MAX_PENDING),
            torn: false,
            _pty: pty,
        }
    }

    /// The next datagram, or the next whole frame off the line, into `buf`,
    /// waiting up to `wait` (zero: only what is there). `None`: nothing yet.
    pub fn recv(
        &mut self,
        buf: &mut [u8],
        wait: Duration,
    ) -> io::Result<Option<(usize, SocketAddr)>> {
        match self {
            NodeWire::Udp { socket, wait: set } => {
                if *set != Some(wait) {
                    socket.set_nonblocking(wait.is_zero())?;
                    if !wait.is_zero() {
                        socket.set_read_timeout(Some(wait))?;
                    }
                    *set = Some(wait);
                }
                match socket.recv_from(buf) {
                    Ok((n, src)) => Ok(Some((n, src))),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                                | io::ErrorKind::ConnectionRefused
                        ) =>
                    {
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
            NodeWire::Serial { port, pending, .. } => {
                if let Some(n) = take_frame(pending, buf) {
                    return Ok(Some((n, SERIAL_PEER)));
                }
                let mut chunk = [0u8; 1024];
                let n = port.read_timeout(&mut chunk, wait)?;
                if pending.len() + n > MAX_PENDING {
                    // No frame end in all that: noise. Start over.
                    pending.clear();
                }
                pending.extend_from_slice(&chunk[..n]);
                Ok(take_frame(pending, buf).map(|n| (n, SERIAL_PEER)))
            }
        }
    }

    /// Sends one encoded frame to `peer` without blocking.
    pub fn send_to(&mut self, frame: &[u8], peer: SocketAddr) {
        match self {
            NodeWire::Udp { socket, .. } => {
                // A full socket buffer loses the frame, as a link would.
                let _ = socket.send_to(frame, peer);
            }
            NodeWire::Serial { port, torn, .. } => send_frame(port, torn, frame),
        }
    }

    pub fn is_serial(&self) -> bool {
        matches!(self, NodeWire::Serial { .. })
    }
}

/// Writes one encoded frame to a serial line without blocking. If the last
/// one was torn (the driver took only part of it), a 0x00 first ends the
/// torn piece at the far decoder; `torn` then says whether this one was.
fn send_frame(port: &mut SerialPort, torn: &mut bool, frame: &[u8]) {
    if *torn && port.write_nonblocking(&[0]).unwrap_or(0) == 0 {
        return;
    }
    let n = port.write_nonblocking(frame).unwrap_or(0);
    *torn = n > 0 && n < frame.len();
}

/// Moves the first whole frame (through its zero byte) from `pending` into
/// `buf`; a frame longer than `buf` is cut (it then fails its CRC).
fn take_frame(pending: &mut Vec<u8>, buf: &mut [u8]) -> Option<usize> {
    let end = pending.iter().position(|&b| b == 0)?;
    let n = (end + 1).min(buf.len());
    buf[..n].copy_from_slice(&pending[..n]);
    pending.drain(..=end);
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_print() {
        let e = LinkEndpoint::parse("serial:/dev/ttyACM0").unwrap();
        assert_eq!(e.to_string(), "serial:/dev/ttyACM0@1000000");
        let e = LinkEndpoint::parse("serial:/dev/ttyUSB1@115200").unwrap();
        assert_eq!(
            e,
            LinkEndpoint::Serial {
                device: "/dev/ttyUSB1".into(),
                baud: 115_200
            }
        );
        assert_eq!(
            LinkEndpoint::parse("udp:127.0.0.1:9000")
                .unwrap()
                .to_string(),
            "udp:127.0.0.1:9000"
        );
        for (bad, says) in [
            ("serial:/dev/ttyACM0@fast", "not a number"),
            ("serial:/dev/ttyACM0@123", "baud 123"),
            ("serial:", "no device"),
            ("tcp:1.2.3.4:5", "not a link"),
        ] {
            let msg = format!("{:#}", LinkEndpoint::parse(bad).unwrap_err());
            assert!(msg.contains(says), "{bad}: {msg}");
        }
        assert_eq!(NodeLink::parse("serial:pty").unwrap(), NodeLink::Pty);
    }

    #[test]
    fn a_node_wire_splits_a_stream_into_frames() {
        let (mut wire, endpoint) = NodeWire::open(&NodeLink::Pty).unwrap();
        let LinkEndpoint::Serial { device, .. } = &endpoint else {
            panic!("{endpoint}")
        };
        let mut user = SerialPort::open(device, DEFAULT_BAUD).unwrap();
        // Two frames in one write, then a frame in two writes.
        user.write_all_timeout(&[1, 2, 0, 3, 0, 4], Duration::from_secs(1))
            .unwrap();
        let mut buf = [0u8; 64];
        let mut frames = Vec::new();
        for _ in 0..50 {
            if let Some((n, src)) = wire.recv(&mut buf, Duration::from_millis(20)).unwrap() {
                assert_eq!(src, SERIAL_PEER);
                frames.push(buf[..n].to_vec());
            }
            if frames.len() == 2 {
                break;
            }
        }
        assert_eq!(frames, vec![vec![1, 2, 0], vec![3, 0]]);
        user.write_all_timeout(&[5, 0], Duration::from_secs(1))
            .unwrap();
        let mut got = None;
        for _ in 0..50 {
            if let Some((n, _)) = wire.recv(&mut buf, Duration::from_millis(20)).unwrap() {
                got = Some(buf[..n].to_vec());
                break;
            }
        }
        assert_eq!(got, Some(vec![4, 5, 0]));
    }
}
