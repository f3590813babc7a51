//! One emulated X-series servo: its control table (as bytes), the rules a
//! write must pass (EEPROM locked while torque is on, read-only fields,
//! goals inside the position limits, no torque during a hardware error),
//! the bus watchdog, and first-order dynamics (position mode: the position
//! follows the goal with a time constant, its speed limited; velocity mode:
//! the velocity does; torque off: it coasts to a stop). The emulator
//! (`emulator`) holds one per id and speaks the protocol for them.

use std::time::{Duration, Instant};

use super::emulator::EmulatorOptions;
use super::protocol::ErrorCode;
use super::table::{self, mode};

pub(super) const TABLE_LEN: usize = 256;
/// Ticks per second in one velocity unit (0.229 rpm).
const TICKS_S_PER_UNIT: f64 = table::RPM_PER_UNIT / 60.0 * table::TICKS_PER_REV;

/// One servo's state as the emulator holds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServoSnapshot {
    pub id: u8,
    pub torque: bool,
    pub mode: u8,
    pub position: i32,
    pub velocity: i32,
    pub load: i16,
    pub goal_position: i32,
    pub goal_velocity: i32,
    pub hardware_error: u8,
    /// Bus Watchdog as the servo reports it (−1: tripped).
    pub watchdog: i8,
}

pub(super) struct Servo {
    pub(super) id: u8,
    pub(super) table: [u8; TABLE_LEN],
    pos: f64,
    vel: f64,
    /// When an instruction last reached it (for the bus watchdog).
    pub(super) last_instruction: Instant,
    /// Fault switches: corrupt replies' CRC, send no replies.
    pub(super) bad_crc: bool,
    pub(super) silent: bool,
}

impl Servo {
    /// A servo as it powers up: position mode, torque off, limits 0–4095,
    /// at `opts.initial_position`.
    pub(super) fn new(id: u8, opts: &EmulatorOptions, now: Instant) -> Servo {
        let mut s = Servo {
            id,
            table: [0; TABLE_LEN],
            pos: opts.initial_position as f64,
            vel: 0.0,
            last_instruction: now,
            bad_crc: false,
            silent: false,
        };
        s.set(table::MODEL_NUMBER, &opts.model.to_le_bytes());
        s.set(table::FIRMWARE_VERSION, &[opts.firmware]);
        s.set(table::ID, &[id]);
        s.set(table::OPERATING_MODE, &[mode::POSITION]);
        s.set(table::MAX_POSITION_LIMIT, &4095i32.to_le_bytes());
        s.set(table::MIN_POSITION_LIMIT, &0i32.to_le_bytes());
        s.set(table::GOAL_POSITION, &opts.initial_position.to_le_bytes());
        s.set(
            table::PRESENT_POSITION,
            &opts.initial_position.to_le_bytes(),
        );
        s
    }

    pub(super) fn u8(&self, addr: u16) -> u8 {
        self.table[addr as usize]
    }
    pub(super) fn i32(&self, addr: u16) -> i32 {
        let a = addr as usize;
        i32::from_le_bytes([
            self.table[a],
            self.table[a + 1],
            self.table[a + 2],
            self.table[a + 3],
        ])
    }
    pub(super) fn set(&mut self, addr: u16, bytes: &[u8]) {
        let a = addr as usize;
        self.table[a..a + bytes.len()].copy_from_slice(bytes);
    }
    pub(super) fn torque(&self) -> bool {
        self.u8(table::TORQUE_ENABLE) != 0
    }

    pub(super) fn snapshot(&self) -> ServoSnapshot {
        ServoSnapshot {
            id: self.id,
            torque: self.torque(),
            mode: self.u8(table::OPERATING_MODE),
            position: self.i32(table::PRESENT_POSITION),
            velocity: self.i32(table::PRESENT_VELOCITY),
            load: i16::from_le_bytes([
                self.table[table::PRESENT_LOAD as usize],
                self.table[table::PRESENT_LOAD as usize + 1],
            ]),
            goal_position: self.i32(table::GOAL_POSITION),
            goal_velocity: self.i32(table::GOAL_VELOCITY),
            hardware_error: self.u8(table::HARDWARE_ERROR_STATUS),
            watchdog: self.u8(table::BUS_WATCHDOG) as i8,
        }
    }

    /// Whether `addr..addr + len` may be written now; the refusal's code.
    fn check_write(&self, addr: u16, data: &[u8]) -> Result<(), ErrorCode> {
        let (a, end) = (addr as usize, addr as usize + data.len());
        if end > TABLE_LEN {
            return Err(ErrorCode::DataRange);
        }
        let read_only = |lo: u16, hi: u16| a < hi as usize && end > lo as usize;
        if read_only(table::MODEL_NUMBER, table::ID)
            || read_only(
                table::HARDWARE_ERROR_STATUS,
                table::HARDWARE_ERROR_STATUS + 1,
            )
            || read_only(table::PRESENT_LOAD, TABLE_LEN as u16)
        {
            return Err(ErrorCode::Access);
        }
        if a < table::TORQUE_ENABLE as usize && self.torque() {
            return Err(ErrorCode::Access);
        }
        if a <= table::GOAL_POSITION as usize
            && end >= table::GOAL_POSITION as usize + 4
            && self.u8(table::OPERATING_MODE) == mode::POSITION
        {
            let at = table::GOAL_POSITION as usize - a;
            let goal = i32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            if goal < self.i32(table::MIN_POSITION_LIMIT)
                || goal > self.i32(table::MAX_POSITION_LIMIT)
            {
                return Err(ErrorCode::DataLimit);
            }
        }
        if a <= table::TORQUE_ENABLE as usize
            && end > table::TORQUE_ENABLE as usize
            && data[table::TORQUE_ENABLE as usize - a] != 0
            && self.u8(table::HARDWARE_ERROR_STATUS) != 0
        {
            // A servo in hardware-error shutdown stays off until rebooted.
            return Err(ErrorCode::ResultFail);
        }
        Ok(())
    }

    pub(super) fn write(&mut self, addr: u16, data: &[u8]) -> Result<(), ErrorCode> {
        self.check_write(addr, data)?;
        self.set(addr, data);
        Ok(())
    }

    pub(super) fn step(&mut self, dt: f64, opts: &EmulatorOptions, now: Instant, trips: &mut u64) {
        let wd = self.u8(table::BUS_WATCHDOG) as i8;
        if wd > 0
            && self.torque()
            && now.duration_since(self.last_instruction)
                > Duration::from_millis(wd as u64 * table::WATCHDOG_UNIT_MS as u64)
        {
            self.set(table::TORQUE_ENABLE, &[0]);
            self.set(table::BUS_WATCHDOG, &[0xFF]);
            *trips += 1;
        }
        if dt <= 0.0 {
            return;
        }
        let tau = opts.time_constant_s.max(1e-4);
        let vmax = opts.max_velocity as f64;
        let decay = (-dt / tau).exp();
        let mut load = 0.0;
        if self.torque() && self.u8(table::OPERATING_MODE) == mode::POSITION {
            let goal = self.i32(table::GOAL_POSITION) as f64;
            let target = goal + (self.pos - goal) * decay;
            let max_step = vmax * TICKS_S_PER_UNIT * dt;
            let step = (target - self.pos).clamp(-max_step, max_step);
            self.pos += step;
            self.vel = step / dt / TICKS_S_PER_UNIT;
            load = 2.0 * (goal - self.pos);
        } else {
            let goal = if self.torque() {
                self.i32(table::GOAL_VELOCITY) as f64
            } else {
                0.0
            };
            let v = (goal + (self.vel - goal) * decay).clamp(-vmax, vmax);
            if self.torque() {
                load = 5.0 * (goal - v);
            }
            self.vel = v;
            self.pos += v * TICKS_S_PER_UNIT * dt;
        }
        let load = load.clamp(-1000.0, 1000.0).round() as i16;
        self.set(table::PRESENT_LOAD, &load.to_le_bytes());
        self.set(
            table::PRESENT_VELOCITY,
            &(self.vel.round() as i32).to_le_bytes(),
        );
        self.set(
            table::PRESENT_POSITION,
            &(self.pos.round() as i32).to_le_bytes(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servo(opts: &EmulatorOptions) -> Servo {
        Servo::new(1, opts, Instant::now())
    }

    #[test]
    fn position_follows_the_goal_with_limited_speed() {
        let opts = EmulatorOptions::default();
        let mut s = servo(&opts);
        let t0 = Instant::now();
        let mut trips = 0;
        s.write(table::TORQUE_ENABLE, &[1]).unwrap();
        s.write(table::GOAL_POSITION, &3048i32.to_le_bytes())
            .unwrap();
        // 10 ms steps: the speed limit (300 units ≈ 4690 ticks/s) binds first.
        s.step(0.01, &opts, t0, &mut trips);
        let p1 = s.snapshot().position;
        assert!((2048 + 40..=2048 + 48).contains(&p1), "{p1}");
        assert_eq!(s.snapshot().velocity, 300);
        for _ in 0..200 {
            s.step(0.01, &opts, t0, &mut trips);
        }
        assert_eq!(s.snapshot().position, 3048);
        // EEPROM is locked while torque is on; goals outside the limits refused.
        assert_eq!(s.write(table::OPERATING_MODE, &[1]), Err(ErrorCode::Access));
        assert_eq!(
            s.write(table::GOAL_POSITION, &5000i32.to_le_bytes()),
            Err(ErrorCode::DataLimit)
        );
        assert_eq!(
            s.write(table::PRESENT_POSITION, &[0]),
            Err(ErrorCode::Access)
        );
        // The bus watchdog (1 × 20 ms) trips without instructions.
        s.write(table::BUS_WATCHDOG, &[1]).unwrap();
        s.step(0.01, &opts, t0 + Duration::from_millis(30), &mut trips);
        assert_eq!(trips, 1);
        assert!(!s.torque());
        assert_eq!(s.snapshot().watchdog, -1);
    }
}
