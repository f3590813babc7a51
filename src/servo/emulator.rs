//! A Dynamixel bus emulator for tests, benchmarks and `ganglion servo
//! emulate`: N X-series servos behind a pseudo-terminal (or any serial
//! port), answering Ping, Read, Write, Sync Read and Sync Write over the
//! control-table fields in `table` (EEPROM writes refused while torque is
//! on, read-only fields refused, goals outside the position limits refused).
//!
//! Each servo has first-order dynamics: in position mode the position
//! follows the goal with a time constant, its speed limited; in velocity
//! mode the velocity does. Torque off lets it coast to a stop. The Bus
//! Watchdog turns torque off (and reads back −1) when no instruction
//! reaches the servo within its time — the same safe state as a hardware
//! error, which also turns torque off.
//!
//! Faults can be switched on per servo or for all: replies with a bad CRC,
//! silence (no replies), a hardware error (bits in Hardware Error Status
//! and the alert bit in every status packet). The emulator runs in its own
//! thread until stopped and counts what it handled.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::protocol::{
    ALERT, BROADCAST_ID, Decoder, ErrorCode, Instruction, MAX_PACKET, encode, inst,
};
pub use super::sim_servo::ServoSnapshot;
use super::sim_servo::{Servo, TABLE_LEN};
use super::table;
use crate::io::serial::{Pty, SerialPort};

/// The emulated servos and their dynamics.
#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    pub ids: Vec<u8>,
    /// Model Number every servo reports (1020: XM430-W350).
    pub model: u16,
    pub firmware: u8,
    /// Time constant of the first-order response (s).
    pub time_constant_s: f64,
    /// Speed limit in velocity units (0.229 rpm).
    pub max_velocity: i32,
    /// Present Position at start (ticks).
    pub initial_position: i32,
}

impl EmulatorOptions {
    /// Servos with ids `1..=n`.
    pub fn with_servos(n: u8) -> Self {
        EmulatorOptions {
            ids: (1..=n).collect(),
            ..Default::default()
        }
    }
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            ids: (1..=6).collect(),
            model: 1020,
            firmware: 52,
            time_constant_s: 0.05,
            max_velocity: 300,
            initial_position: table::CENTER_TICK,
        }
    }
}

/// A fault the emulator can be told to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectedFault {
    /// Replies go out with a corrupted CRC.
    BadChecksum,
    /// No replies at all.
    Silence,
    /// These Hardware Error Status bits are set (`table::hw`), torque goes
    /// off, status packets carry the alert bit.
    HardwareError(u8),
}

/// What the emulator has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct EmulatorCounters {
    /// Instruction packets decoded and handled.
    pub packets: u64,
    /// Status packets sent (corrupted ones included).
    pub replies: u64,
    /// Frames received with a bad CRC or length.
    pub bad_frames: u64,
    /// Replies corrupted or withheld, hardware errors raised.
    pub injected: u64,
    /// Bus watchdog expiries.
    pub watchdog_trips: u64,
}

struct Core {
    opts: EmulatorOptions,
    servos: Vec<Servo>,
    counters: EmulatorCounters,
    last_step: Instant,
}

impl Core {
    fn new(opts: EmulatorOptions) -> Core {
        let now = Instant::now();
        let servos = opts
            .ids
            .iter()
            .map(|&id| Servo::new(id, &opts, now))
            .collect();
        Core {
            opts,
            servos,
            counters: EmulatorCounters::default(),
            last_step: now,
        }
    }

    fn step(&mut self) {
        let now = Instant::now();
        let dt = now.duration_since(self.last_step).as_secs_f64();
        self.last_step = now;
        let mut trips = 0;
        for s in &mut self.servos {
            s.step(dt, &self.opts, now, &mut trips);
        }
        self.counters.watchdog_trips += trips;
    }

    /// Appends servo `i`'s status packet (unless it is silent) to `out`.
    fn reply(&mut self, i: usize, error: Option<ErrorCode>, data: &[u8], out: &mut Vec<u8>) {
        let s = &self.servos[i];
        if s.silent {
            self.counters.injected += 1;
            return;
        }
        let mut byte = error.map_or(0, ErrorCode::byte);
        if s.u8(table::HARDWARE_ERROR_STATUS) != 0 {
            byte |= ALERT;
        }
        let mut buf = [0u8; MAX_PACKET];
        let Ok(n) = encode(s.id, inst::STATUS, Some(byte), data, &mut buf) else {
            return;
        };
        if s.bad_crc {
            buf[n - 1] ^= 0xA5;
            self.counters.injected += 1;
        }
        out.extend_from_slice(&buf[..n]);
        self.counters.replies += 1;
    }

    fn read_reply(&mut self, i: usize, addr: u16, len: u16, out: &mut Vec<u8>) {
        let (a, end) = (addr as usize, addr as usize + len as usize);
        if end > TABLE_LEN || len == 0 {
            self.reply(i, Some(ErrorCode::DataRange), &[], out);
        } else {
            let data = self.servos[i].table;
            self.reply(i, None, &data[a..end], out);
        }
    }

    fn handle(&mut self, id: u8, instruction: Result<Instruction<'_>, ()>, out: &mut Vec<u8>) {
        self.counters.packets += 1;
        let now = Instant::now();
        let index = |servos: &[Servo], id: u8| servos.iter().position(|s| s.id == id);
        // Any instruction for a servo (or for all) feeds its watchdog.
        for s in self.servos.iter_mut() {
            if id == BROADCAST_ID || s.id == id {
                s.last_instruction = now;
            }
        }
        let Ok(instruction) = instruction else {
            if let Some(i) = index(&self.servos, id) {
                self.reply(i, Some(ErrorCode::DataLength), &[], out);
            }
            return;
        };
        match instruction {
            Instruction::Ping => {
                for i in 0..self.servos.len() {
                    if id == BROADCAST_ID || self.servos[i].id == id {
                        let s = &self.servos[i];
                        let mut data = [0u8; 3];
                        data[..2].copy_from_slice(&s.table[0..2]);
                        data[2] = s.u8(table::FIRMWARE_VERSION);
                        self.reply(i, None, &data, out);
                    }
                }
            }
            Instruction::Read { addr, len } => {
                if let Some(i) = index(&self.servos, id) {
                    self.read_reply(i, addr, len, out);
                }
            }
            Instruction::Write { addr, data } => {
                for i in 0..self.servos.len() {
                    if id == BROADCAST_ID || self.servos[i].id == id {
                        let r = self.servos[i].write(addr, data);
                        if id != BROADCAST_ID {
                            self.reply(i, r.err(), &[], out);
                        }
                    }
                }
            }
            Instruction::SyncRead { addr, len, ids } if id == BROADCAST_ID => {
                for &want in ids {
                    if let Some(i) = index(&self.servos, want) {
                        self.read_reply(i, addr, len, out);
                    }
                }
            }
            Instruction::SyncWrite { addr, len, entries } if id == BROADCAST_ID => {
                for e in entries.chunks_exact(len as usize + 1) {
                    if let Some(i) = index(&self.servos, e[0]) {
                        let _ = self.servos[i].write(addr, &e[1..]);
                    }
                }
            }
            Instruction::SyncRead { .. } | Instruction::SyncWrite { .. } => {}
            Instruction::Other(_) => {
                if let Some(i) = index(&self.servos, id) {
                    self.reply(i, Some(ErrorCode::Instruction), &[], out);
                }
            }
        }
    }
}

/// A running emulator; stops (and joins its thread) when dropped.
pub struct Emulator {
    core: Arc<Mutex<Core>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
    _pty: Option<Pty>,
}

impl Emulator {
    /// Serves a new pseudo-terminal; open `path()` as the bus device.
    pub fn start(opts: EmulatorOptions) -> Result<Emulator> {
        let pty = Pty::open()?;
        let port = pty.master.try_clone()?;
        let path = pty.path.clone();
        let mut emu = Emulator::serve(port, opts)?;
        emu.path = path;
        emu._pty = Some(pty);
        Ok(emu)
    }

    /// Serves an open port (the emulator's end of the bus).
    pub fn serve(mut port: SerialPort, opts: EmulatorOptions) -> Result<Emulator> {
        let path = PathBuf::from(port.name());
        let core = Arc::new(Mutex::new(Core::new(opts)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (core, stop) = (core.clone(), stop.clone());
            std::thread::Builder::new()
                .name("ganglion-servo-emu".into())
                .spawn(move || {
                    let mut dec = Decoder::new();
                    let mut buf = [0u8; 1024];
                    let mut out = Vec::with_capacity(4096);
                    while !stop.load(Ordering::Acquire) {
                        let n = port
                            .read_timeout(&mut buf, Duration::from_millis(2))
                            .unwrap_or(0);
                        out.clear();
                        {
                            let mut c = lock(&core);
                            c.step();
                            dec.feed(&buf[..n], |r| match r {
                                Ok(p) => {
                                    let i = p.instruction().map_err(|_| ());
                                    c.handle(p.id, i, &mut out);
                                }
                                Err(_) => c.counters.bad_frames += 1,
                            });
                        }
                        if !out.is_empty() {
                            let _ = port.write_all_timeout(&out, Duration::from_millis(100));
                        }
                    }
                })
                .context("starting the servo emulator thread")?
        };
        Ok(Emulator {
            core,
            stop,
            thread: Some(thread),
            path,
            _pty: None,
        })
    }

    /// The device to open as the bus.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn counters(&self) -> EmulatorCounters {
        lock(&self.core).counters
    }

    /// The state of servo `id`.
    pub fn servo(&self, id: u8) -> Option<ServoSnapshot> {
        lock(&self.core)
            .servos
            .iter()
            .find(|s| s.id == id)
            .map(Servo::snapshot)
    }

    /// Every servo's state, in id order of the options.
    pub fn servos(&self) -> Vec<ServoSnapshot> {
        lock(&self.core)
            .servos
            .iter()
            .map(Servo::snapshot)
            .collect()
    }

    /// Switches a fault on, for servo `id` or (`None`) all of them.
    pub fn inject(&self, fault: InjectedFault, id: Option<u8>) {
        let mut c = lock(&self.core);
        let mut raised = 0;
        for s in c
            .servos
            .iter_mut()
            .filter(|s| id.is_none_or(|id| s.id == id))
        {
            match fault {
                InjectedFault::BadChecksum => s.bad_crc = true,
                InjectedFault::Silence => s.silent = true,
                InjectedFault::HardwareError(bits) => {
                    s.set(table::HARDWARE_ERROR_STATUS, &[bits]);
                    s.set(table::TORQUE_ENABLE, &[0]);
                    raised += 1;
                }
            }
        }
        c.counters.injected += raised;
    }

    /// Switches every fault off (hardware errors cleared, as by a reboot;
    /// torque stays off).
    pub fn clear_faults(&self) {
        let mut c = lock(&self.core);
        for s in c.servos.iter_mut() {
            s.bad_crc = false;
            s.silent = false;
            s.set(table::HARDWARE_ERROR_STATUS, &[0]);
        }
    }

    /// Stops the thread; the final counters.
    pub fn stop(mut self) -> EmulatorCounters {
        self.halt();
        self.counters()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.halt();
    }
}

fn lock(core: &Mutex<Core>) -> MutexGuard<'_, Core> {
    core.lock().unwrap_or_else(|e| e.into_inner())
}
