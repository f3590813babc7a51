//! A lock-free latest-value slot (a seqlock over atomics): a service thread
//! stores the newest frame with its receipt time, the control loop copies the
//! newest one out. Neither side allocates, locks or waits on the other; a
//! reader that races a write retries (bounded) and otherwise keeps the value
//! it had.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::Instant;

use super::wire::{Frame, MAX_VALUES};

/// The newest frame of one stream.
pub struct LatestSlot {
    /// Even: stable; odd: a write is in progress. 0: never written.
    version: AtomicU64,
    seq: AtomicU64,
    time_bits: AtomicU64,
    flags: AtomicU32,
    n: AtomicU32,
    values: [AtomicU32; MAX_VALUES],
    /// Receipt time, ns after `epoch`.
    received_ns: AtomicU64,
    epoch: Instant,
    writes: AtomicU64,
}

/// A frame copied out of a slot, with when it arrived.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latest {
    pub frame: Frame,
    /// Seconds after the slot's epoch.
    pub received_s: f64,
}

impl LatestSlot {
    pub fn new(epoch: Instant) -> Self {
        LatestSlot {
            version: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            time_bits: AtomicU64::new(0),
            flags: AtomicU32::new(0),
            n: AtomicU32::new(0),
            values: std::array::from_fn(|_| AtomicU32::new(0)),
            received_ns: AtomicU64::new(0),
            epoch,
            writes: AtomicU64::new(0),
        }
    }

    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Frames stored so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Stores `frame`, received at `at`. Concurrent writers serialise on the
    /// version word (a writer spins only while another one is mid-store).
    pub fn store(&self, frame: &Frame, at: Instant) {
        let mut v = self.version.load(Ordering::Relaxed);
        loop {
            if v % 2 == 1 {
                std::hint::spin_loop();
                v = self.version.load(Ordering::Relaxed);
                continue;
            }
            match self
                .version
                .compare_exchange_weak(v, v + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        fence(Ordering::Release);
        self.seq.store(frame.seq, Ordering::Relaxed);
        self.time_bits
            .store(frame.time.to_bits(), Ordering::Relaxed);
        self.flags.store(frame.flags, Ordering::Relaxed);
        self.n.store(frame.n as u32, Ordering::Relaxed);
        for (slot, x) in self.values.iter().zip(frame.values()) {
            slot.store(x.to_bits(), Ordering::Relaxed);
        }
        let ns = at.saturating_duration_since(self.epoch).as_nanos() as u64;
        self.received_ns.store(ns, Ordering::Relaxed);
        self.version.store(v + 2, Ordering::Release);
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Version of the newest stored frame (0: none yet); changes on every store.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Copies the newest frame out; `None` if none was stored or every try
    /// raced a write.
    pub fn load(&self) -> Option<Latest> {
        for _ in 0..64 {
            let v1 = self.version.load(Ordering::Acquire);
            if v1 == 0 {
                return None;
            }
            if v1 % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut frame = Frame {
                seq: self.seq.load(Ordering::Relaxed),
                time: f64::from_bits(self.time_bits.load(Ordering::Relaxed)),
                flags: self.flags.load(Ordering::Relaxed),
                n: (self.n.load(Ordering::Relaxed) as usize).min(MAX_VALUES),
                values: [0.0; MAX_VALUES],
            };
            for (x, slot) in frame.values.iter_mut().zip(&self.values).take(frame.n) {
                *x = f32::from_bits(slot.load(Ordering::Relaxed));
            }
            let ns = self.received_ns.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.version.load(Ordering::Relaxed) == v1 {
                return Some(Latest {
                    frame,
                    received_s: ns as f64 * 1e-9,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn empty_then_latest() {
        let slot = LatestSlot::new(Instant::now());
        assert!(slot.load().is_none());
        slot.store(&Frame::new(1, 0.5, 3, &[1.0, 2.0]), Instant::now());
        slot.store(&Frame::new(2, 0.6, 0, &[3.0]), Instant::now());
        let l = slot.load().expect("stored");
        assert_eq!(l.frame.seq, 2);
        assert_eq!(l.frame.values(), &[3.0]);
        assert_eq!(slot.writes(), 2);
    }

    #[test]
    fn readers_never_see_torn_frames() {
        // Every frame the writer stores has all values equal to its seq; a
        // torn read would mix two frames.
        let slot = Arc::new(LatestSlot::new(Instant::now()));
        let w = {
            let slot = slot.clone();
            std::thread::spawn(move || {
                for k in 1..=20_000u64 {
                    let v = [k as f32; MAX_VALUES];
                    slot.store(&Frame::new(k, k as f64, 0, &v), Instant::now());
                }
            })
        };
        let mut last = 0;
        while last < 20_000 {
            if let Some(l) = slot.load() {
                let k = l.frame.seq;
                assert!(k >= last, "went back from {last} to {k}");
                assert!(l.frame.values().iter().all(|&x| x == k as f32));
                assert_eq!(l.frame.time, k as f64);
                last = k;
            }
        }
        w.join().expect("writer");
    }
}
