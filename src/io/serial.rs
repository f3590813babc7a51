//! Serial devices for the byte links (a joint node on `/dev/ttyACM0`, a USB
//! UART, a servo bus): open a tty in raw mode at a baud rate (termios, no
//! line discipline: every byte passes, no echo, no flow control), read with
//! a timeout (poll), write without blocking. Also pseudo-terminals, so a
//! process can offer a serial device that another opens by path (the tests
//! and `ganglion node --link serial:pty` use them as the cable).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub use crate::config::endpoint::{DEFAULT_BAUD, baud_ok, known_bauds};

/// termios's constant for each of `config::endpoint::SERIAL_BAUDS`.
const BAUDS: &[(u32, libc::speed_t)] = &[
    (9_600, libc::B9600),
    (19_200, libc::B19200),
    (38_400, libc::B38400),
    (57_600, libc::B57600),
    (115_200, libc::B115200),
    (230_400, libc::B230400),
    (460_800, libc::B460800),
    (500_000, libc::B500000),
    (576_000, libc::B576000),
    (921_600, libc::B921600),
    (1_000_000, libc::B1000000),
    (1_152_000, libc::B1152000),
    (1_500_000, libc::B1500000),
    (2_000_000, libc::B2000000),
    (2_500_000, libc::B2500000),
    (3_000_000, libc::B3000000),
    (3_500_000, libc::B3500000),
    (4_000_000, libc::B4000000),
];

/// An open serial device (or pseudo-terminal end) in raw mode.
pub struct SerialPort {
    file: File,
    name: String,
}

impl SerialPort {
    /// Opens `device` at `baud`, raw, non-blocking.
    pub fn open(device: &Path, baud: u32) -> Result<SerialPort> {
        let Some(speed) = BAUDS.iter().find(|(b, _)| *b == baud).map(|(_, s)| *s) else {
            bail!(
                "serial {}: baud {baud} is not supported (known: {})",
                device.display(),
                known_bauds()
            );
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(device)
            .map_err(|e| {
                let hint = match e.kind() {
                    io::ErrorKind::NotFound => " (no such device: is it plugged in?)",
                    io::ErrorKind::PermissionDenied => {
                        " (permission denied: add your user to the `dialout` group)"
                    }
                    _ => "",
                };
                anyhow::anyhow!("opening serial device {}: {e}{hint}", device.display())
            })?;
        let port = SerialPort {
            file,
            name: device.display().to_string(),
        };
        port.make_raw(Some(speed))
            .with_context(|| format!("configuring serial device {}", port.name))?;
        Ok(port)
    }

    /// Raw mode (8N1, no echo, no flow control, reads return at once) at
    /// `speed` if given.
    fn make_raw(&self, speed: Option<libc::speed_t>) -> io::Result<()> {
        let fd = self.file.as_raw_fd();
        // SAFETY: termios is plain data, filled by tcgetattr before use;
        // fd is open for the life of `self`.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return Err(io::Error::last_os_error());
            }
            libc::cfmakeraw(&mut t);
            t.c_cflag |= libc::CLOCAL | libc::CREAD;
            t.c_cflag &= !(libc::CRTSCTS | libc::CSTOPB | libc::PARENB);
            t.c_iflag &= !(libc::IXON | libc::IXOFF | libc::IXANY);
            t.c_cc[libc::VMIN] = 0;
            t.c_cc[libc::VTIME] = 0;
            if let Some(s) = speed
                && (libc::cfsetispeed(&mut t, s) != 0 || libc::cfsetospeed(&mut t, s) != 0)
            {
                return Err(io::Error::last_os_error());
            }
            if libc::tcsetattr(fd, libc::TCSANOW, &t) != 0 {
                return Err(io::Error::last_os_error());
            }
            // Bytes that arrived before we configured the line are stale.
            libc::tcflush(fd, libc::TCIOFLUSH);
        }
        Ok(())
    }

    /// The device path, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A second handle on the same device (a reader thread's).
    pub fn try_clone(&self) -> Result<SerialPort> {
        Ok(SerialPort {
            file: self
                .file
                .try_clone()
                .with_context(|| format!("duplicating serial device {}", self.name))?,
            name: self.name.clone(),
        })
    }

    /// Waits up to `timeout` for bytes and reads what is there (0: none
    /// came). A hung-up line (the other end closed) waits out the timeout
    /// and reads nothing, so a reader thread keeps polling until the other
    /// end comes back.
    pub fn read_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let mut pfd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(e)
            };
        }
        if r == 0 {
            return Ok(0);
        }
        if pfd.revents & libc::POLLIN == 0 {
            // POLLHUP without data: nobody on the other end (yet).
            std::thread::sleep(timeout);
            return Ok(0);
        }
        match self.file.read(buf) {
            Ok(n) => Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(0)
            }
            // A pty master whose other end closed reads EIO.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                std::thread::sleep(timeout);
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes without blocking; returns how many bytes the driver took
    /// (fewer than asked when its buffer is full).
    pub fn write_nonblocking(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.file.write(bytes) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Writes all of `bytes`, waiting for room up to `timeout` (for tools,
    /// never a control tick).
    pub fn write_all_timeout(&mut self, mut bytes: &[u8], timeout: Duration) -> io::Result<()> {
        let until = std::time::Instant::now() + timeout;
        while !bytes.is_empty() {
            let n = self.write_nonblocking(bytes)?;
            bytes = &bytes[n..];
            if n == 0 {
                if std::time::Instant::now() > until {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("serial {}: the line took no bytes", self.name),
                    ));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        Ok(())
    }
}

/// A pseudo-terminal: the master end, held by this process, and the path
/// of the slave end that another process opens as a serial device.
pub struct Pty {
    pub master: SerialPort,
    pub path: PathBuf,
    /// The slave end, held open so the master never reads EIO between
    /// users, and set raw before any user opens it (no echo of early bytes).
    _slave: SerialPort,
}

impl Pty {
    pub fn open() -> Result<Pty> {
        // SAFETY: posix_openpt returns a new fd or -1; ownership passes to
        // the File; ptsname_r writes a NUL-terminated name into `name`.
        let (master, path) = unsafe {
            let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error()).context("opening a pseudo-terminal");
            }
            let file = File::from_raw_fd(fd);
            if libc::grantpt(fd) != 0 || libc::unlockpt(fd) != 0 {
                return Err(io::Error::last_os_error()).context("unlocking a pseudo-terminal");
            }
            let mut name = [0 as libc::c_char; 128];
            if libc::ptsname_r(fd, name.as_mut_ptr(), name.len()) != 0 {
                return Err(io::Error::last_os_error()).context("naming a pseudo-terminal");
            }
            let path = std::ffi::CStr::from_ptr(name.as_ptr())
                .to_string_lossy()
                .into_owned();
            let flags = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            (file, PathBuf::from(path))
        };
        let master = SerialPort {
            file: master,
            name: format!("{} (master)", path.display()),
        };
        let slave = SerialPort::open(&path, DEFAULT_BAUD)?;
        Ok(Pty {
            master,
            path,
            _slave: slave,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_cross_a_pty_unchanged() {
        let mut pty = Pty::open().unwrap();
        let mut user = SerialPort::open(&pty.path, 115_200).unwrap();
        // Every byte value, including the ones a cooked tty would eat.
        let sent: Vec<u8> = (0..=255u8).collect();
        user.write_all_timeout(&sent, Duration::from_secs(1))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while got.len() < sent.len() {
            let n = pty
                .master
                .read_timeout(&mut buf, Duration::from_secs(1))
                .unwrap();
            assert!(n > 0, "got {} of {} bytes", got.len(), sent.len());
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, sent);
        // And back, with nothing echoed.
        pty.master
            .write_all_timeout(&[0, 13, 10, 3], Duration::from_secs(1))
            .unwrap();
        let n = user.read_timeout(&mut buf, Duration::from_secs(1)).unwrap();
        assert_eq!(&buf[..n], &[0, 13, 10, 3]);
        assert_eq!(
            pty.master
                .read_timeout(&mut buf, Duration::from_millis(20))
                .unwrap(),
            0
        );
    }

    #[test]
    fn every_configurable_baud_has_a_termios_rate() {
        for b in crate::config::endpoint::SERIAL_BAUDS {
            assert!(BAUDS.iter().any(|(x, _)| x == b), "{b}");
        }
        assert_eq!(BAUDS.len(), crate::config::endpoint::SERIAL_BAUDS.len());
    }

    #[test]
    fn bad_devices_and_bauds_are_named() {
        let e = SerialPort::open(Path::new("/dev/ganglion-no-such-tty"), 115_200)
            .err()
            .unwrap();
        let msg = format!("{e:#}");
        assert!(msg.contains("/dev/ganglion-no-such-tty"), "{msg}");
        assert!(msg.contains("no such device"), "{msg}");
        let e = SerialPort::open(Path::new("/dev/null"), 12_345)
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("baud 12345"));
        // Not a tty at all.
        let e = SerialPort::open(Path::new("/dev/null"), 115_200)
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("configuring serial device /dev/null"));
    }
}
