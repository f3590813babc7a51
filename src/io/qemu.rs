//! The real firmware image in qemu-system-arm (`lm3s6965evb`), its UART0
//! connected to a TCP socket on the host: launch, write frames to the
//! emulated UART, and a reader thread that decodes what the firmware sends.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use crossbeam::channel::{Receiver, bounded};
use ganglion_firmware::{DecodeError, Frame, FrameDecoder};

/// The emulator binary used unless told otherwise.
pub const QEMU: &str = "qemu-system-arm";
/// How `cargo` builds the image `ganglion node --qemu` runs.
pub const BUILD_COMMAND: &str =
    "cargo build -p ganglion-firmware --target thumbv7m-none-eabi --release";

/// Whether `program` runs (`--version`).
pub fn qemu_available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Where `BUILD_COMMAND` puts the image, for a cargo target dir.
pub fn firmware_in(target_dir: &Path) -> PathBuf {
    target_dir.join("thumbv7m-none-eabi/release/ganglion-firmware")
}

/// The cargo target dir this binary was built in (`$CARGO_TARGET_DIR`, else
/// two levels above the running executable, e.g. `target/debug/ganglion`).
pub fn target_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(d));
    }
    let exe = std::env::current_exe().ok()?;
    let mut dir = exe.parent()?;
    if dir.ends_with("deps") {
        dir = dir.parent()?;
    }
    dir.parent().map(Path::to_path_buf)
}

/// The firmware image in the default place, if it is there.
pub fn default_firmware() -> Option<PathBuf> {
    target_dir()
        .map(|t| firmware_in(&t))
        .filter(|p| p.is_file())
}

/// A running emulated node.
pub struct QemuNode {
    child: Child,
    stream: TcpStream,
    frames: Receiver<Result<Frame, DecodeError>>,
    reader: Option<JoinHandle<()>>,
}

impl QemuNode {
    /// Starts `qemu` on `firmware` and connects to its UART0.
    pub fn launch(qemu: &str, firmware: &Path) -> Result<Self> {
        if !firmware.is_file() {
            bail!(
                "firmware image {} not found; build it with `{BUILD_COMMAND}`",
                firmware.display()
            );
        }
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the UART socket")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let mut child = Command::new(qemu)
            .args(["-machine", "lm3s6965evb", "-cpu", "cortex-m3", "-nographic"])
            .args(["-monitor", "none", "-serial"])
            .arg(format!("tcp:127.0.0.1:{port},nodelay=on"))
            .arg("-kernel")
            .arg(firmware)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {qemu} (is qemu-system-arm installed?)"))?;
        let started = Instant::now();
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e).context("accepting qemu's UART connection"),
            }
            if let Some(status) = child.try_wait()? {
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                bail!(
                    "{qemu} exited ({status}) before connecting its UART: {}",
                    err.trim()
                );
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{qemu} did not connect its UART within 20 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        stream.set_nonblocking(false)?;
        stream.set_nodelay(true)?;
        let mut rx = stream.try_clone()?;
        let (tx, frames) = bounded(4096);
        let reader = std::thread::Builder::new()
            .name("qemu-uart".into())
            .spawn(move || {
                let mut dec = FrameDecoder::new();
                let mut buf = [0u8; 1024];
                loop {
                    match rx.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let mut closed = false;
                            dec.feed(&buf[..n], |r| closed |= tx.send(r).is_err());
                            if closed {
                                break;
                            }
                        }
                    }
                }
            })?;
        Ok(QemuNode {
            child,
            stream,
            frames,
            reader: Some(reader),
        })
    }

    /// Writes bytes to the emulated UART.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream
            .write_all(bytes)
            .context("writing to the qemu node's UART")
    }

    /// Frames (or decode errors) from the firmware, in order.
    pub fn frames(&self) -> &Receiver<Result<Frame, DecodeError>> {
        &self.frames
    }
}

impl Drop for QemuNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}
