//! The servo bus plant's worker thread: it owns the bus and runs one cycle
//! per control period (Sync Write of the goals, Sync Read of the present
//! block), publishes samples, classifies failed transactions into faults,
//! latches the first and applies the safe action (torque off). See
//! `plant` for the contract.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam::channel::Sender;

use super::bus::{Bus, BusError};
use super::plant::{
    CommandMode, MAX_JOINTS, Sample, ServoBusConfig, ServoFault, ServoFaultKind, Shared,
};
use super::protocol::BROADCAST_ID;
use super::table;

pub(super) struct Worker {
    pub(super) bus: Bus,
    pub(super) ids: Vec<u8>,
    pub(super) cfg: ServoBusConfig,
    pub(super) shared: Arc<Shared>,
    pub(super) tx: Sender<Sample>,
    pub(super) epoch: Instant,
    /// The goals last sent (rad), for the speed limit in position mode.
    pub(super) goal: [f32; MAX_JOINTS],
    pub(super) garbled_run: u32,
    pub(super) status_run: u32,
}

impl Worker {
    pub(super) fn run(mut self) {
        let period = Duration::from_secs_f64(1.0 / self.cfg.rate_hz);
        let mut next = Instant::now();
        let mut cycle = 0u64;
        while !self.shared.stop.load(Ordering::Acquire) {
            cycle += 1;
            self.shared.cycles.store(cycle, Ordering::Release);
            if self.shared.faulted.load(Ordering::Acquire) {
                self.safe_action(cycle);
            } else if let Err(fault) = self.cycle(cycle, period) {
                self.latch(fault);
                self.safe_action(cycle);
            }
            next += period;
            let now = Instant::now();
            match next.checked_duration_since(now) {
                Some(wait) => std::thread::sleep(wait),
                None => next = now,
            }
        }
        // The session ends: the same safe state as a fault.
        let _ = self.bus.torque(BROADCAST_ID, false);
    }

    fn safe_action(&mut self, cycle: u64) {
        let _ = self.bus.torque(BROADCAST_ID, false);
        let _ = self.shared.first_safe_cycle.compare_exchange(
            0,
            cycle,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.shared.safe_actions.fetch_add(1, Ordering::Release);
    }

    fn latch(&mut self, fault: ServoFault) {
        self.shared
            .fault_code
            .store(fault.kind.code() as u32, Ordering::Release);
        *self.shared.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(fault);
        self.shared.faulted.store(true, Ordering::Release);
    }

    fn fault(
        &self,
        kind: ServoFaultKind,
        servo: Option<u8>,
        cycle: u64,
        message: String,
    ) -> ServoFault {
        ServoFault {
            kind,
            servo,
            joint: servo
                .and_then(|id| self.cfg.joints.iter().find(|j| j.id == id))
                .map(|j| j.name.clone()),
            time_s: self.epoch.elapsed().as_secs_f64(),
            cycle,
            message,
        }
    }

    /// One Sync Write + Sync Read; a fault ends the cycle.
    fn cycle(&mut self, cycle: u64, period: Duration) -> Result<(), ServoFault> {
        let n = self.ids.len();
        if self.shared.commanded.load(Ordering::Acquire) {
            let mut values = [0i32; MAX_JOINTS];
            for (i, j) in self.cfg.joints.iter().enumerate() {
                let c = f32::from_bits(self.shared.commands[i].load(Ordering::Relaxed));
                values[i] = match self.cfg.mode {
                    CommandMode::Position => {
                        let step = j.max_velocity * period.as_secs_f32();
                        self.goal[i] += (c - self.goal[i]).clamp(-step, step);
                        j.units().rad_to_ticks(self.goal[i])
                    }
                    CommandMode::Velocity => j.units().rad_s_to_units(c),
                };
            }
            let addr = match self.cfg.mode {
                CommandMode::Position => table::GOAL_POSITION,
                CommandMode::Velocity => table::GOAL_VELOCITY,
            };
            if let Err(e) = self.bus.sync_write_i32(&self.ids, addr, &values[..n]) {
                return self.error(e, cycle);
            }
        }
        let mut block = [0u8; 10 * MAX_JOINTS];
        let mut alerts = [false; MAX_JOINTS];
        let r = self.bus.sync_read(
            &self.ids,
            table::PRESENT_LOAD,
            table::PRESENT_BLOCK_LEN,
            &mut block,
            &mut alerts,
        );
        if let Err(e) = r {
            return self.error(e, cycle);
        }
        self.garbled_run = 0;
        self.status_run = 0;
        if let Some(i) = alerts[..n].iter().position(|&a| a) {
            let id = self.ids[i];
            let (bits, what) = match self.bus.hardware_error(id) {
                Ok(b) => (b, table::hardware_error_names(b)),
                Err(e) => (0, format!("unread ({e})")),
            };
            return Err(self.fault(
                ServoFaultKind::HardwareError(bits),
                Some(id),
                cycle,
                format!("hardware error status {bits:#04x}: {what}"),
            ));
        }
        let stamp = self.epoch.elapsed().as_secs_f64();
        let sample = Sample::from_block(&self.cfg.joints, &block, stamp);
        // A full channel means the loop is not reading: drop the sample.
        let _ = self.tx.try_send(sample);
        Ok(())
    }

    /// Counts a failed transaction; `Err` when it makes a fault.
    fn error(&mut self, e: BusError, cycle: u64) -> Result<(), ServoFault> {
        self.shared.errors.fetch_add(1, Ordering::Relaxed);
        let limit = self.cfg.bad_reply_limit.max(1);
        let kind = match &e {
            BusError::NoReply { .. } => Some(ServoFaultKind::Timeout),
            BusError::Io { .. } | BusError::Request(_) => Some(ServoFaultKind::Line),
            BusError::Status { .. } => {
                self.status_run += 1;
                (self.status_run >= limit).then_some(ServoFaultKind::StatusError)
            }
            garbled => {
                self.garbled_run += 1;
                (self.garbled_run >= limit).then_some(
                    if matches!(garbled, BusError::BadCrc { .. }) {
                        ServoFaultKind::BadChecksum
                    } else {
                        ServoFaultKind::BadReply
                    },
                )
            }
        };
        match kind {
            Some(kind) => Err(self.fault(kind, e.id(), cycle, e.to_string())),
            None => Ok(()),
        }
    }
}
