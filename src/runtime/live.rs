//! Live tick statistics for other threads (telemetry): the loop stores each
//! tick's timing and safety events into atomics and a small ring of recent
//! samples; a reader computes rates and percentiles over a window without
//! ever blocking the loop. Recording is a few relaxed atomic stores.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::record::{SafetyEvents, SafetyState};

/// Recent ticks kept for percentiles.
pub const WINDOW: usize = 1024;

pub struct LiveStats {
    ticks: AtomicU64,
    deadline_misses: AtomicU64,
    state: AtomicU8,
    events: [AtomicU64; SafetyEvents::ALL.len()],
    lateness_ns: [AtomicU64; WINDOW],
    compute_ns: [AtomicU64; WINDOW],
}

impl Default for LiveStats {
    fn default() -> Self {
        LiveStats {
            ticks: AtomicU64::new(0),
            deadline_misses: AtomicU64::new(0),
            state: AtomicU8::new(0),
            events: std::array::from_fn(|_| AtomicU64::new(0)),
            lateness_ns: std::array::from_fn(|_| AtomicU64::new(0)),
            compute_ns: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A reader's copy.
#[derive(Clone, Debug, Default)]
pub struct LiveSnapshot {
    pub ticks: u64,
    pub deadline_misses: u64,
    pub state: &'static str,
    /// Counts per event name (every name, zeros included).
    pub events: Vec<(&'static str, u64)>,
}

impl LiveStats {
    /// One tick (called by the loop).
    #[inline]
    pub fn record(
        &self,
        lateness_ns: i64,
        compute_ns: u64,
        events: SafetyEvents,
        misses: u64,
        state: SafetyState,
    ) {
        let k = self.ticks.load(Ordering::Relaxed);
        let i = (k % WINDOW as u64) as usize;
        self.lateness_ns[i].store(lateness_ns.max(0) as u64, Ordering::Relaxed);
        self.compute_ns[i].store(compute_ns, Ordering::Relaxed);
        for (j, (bit, _)) in SafetyEvents::ALL.iter().enumerate() {
            if events.has(*bit) {
                self.events[j].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.deadline_misses.store(misses, Ordering::Relaxed);
        let s = match state {
            SafetyState::Normal => 0,
            SafetyState::Safe => 1,
            SafetyState::EStopped => 2,
        };
        self.state.store(s, Ordering::Relaxed);
        self.ticks.store(k + 1, Ordering::Release);
    }

    pub fn snapshot(&self) -> LiveSnapshot {
        LiveSnapshot {
            ticks: self.ticks.load(Ordering::Acquire),
            deadline_misses: self.deadline_misses.load(Ordering::Relaxed),
            state: match self.state.load(Ordering::Relaxed) {
                0 => SafetyState::Normal.name(),
                1 => SafetyState::Safe.name(),
                _ => "estop",
            },
            events: SafetyEvents::ALL
                .iter()
                .zip(&self.events)
                .map(|((_, n), c)| (*n, c.load(Ordering::Relaxed)))
                .collect(),
        }
    }

    /// Quantile `q` (µs) of the lateness and compute time of the last `n`
    /// ticks (at most `WINDOW`): (lateness, compute).
    pub fn recent_quantile_us(&self, n: u64, q: f64) -> (f64, f64) {
        let ticks = self.ticks.load(Ordering::Acquire);
        let n = n.min(ticks).min(WINDOW as u64) as usize;
        if n == 0 {
            return (0.0, 0.0);
        }
        let mut late = Vec::with_capacity(n);
        let mut comp = Vec::with_capacity(n);
        for back in 1..=n as u64 {
            let i = ((ticks - back) % WINDOW as u64) as usize;
            late.push(self.lateness_ns[i].load(Ordering::Relaxed));
            comp.push(self.compute_ns[i].load(Ordering::Relaxed));
        }
        let pick = |v: &mut Vec<u64>| {
            v.sort_unstable();
            let idx = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
            v[idx] as f64 / 1e3
        };
        (pick(&mut late), pick(&mut comp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_quantiles() {
        let live = LiveStats::default();
        for k in 0..100u64 {
            let ev = if k % 10 == 0 {
                SafetyEvents(SafetyEvents::STALE_SENSOR)
            } else {
                SafetyEvents::default()
            };
            live.record(k as i64 * 1000, 2000, ev, k / 50, SafetyState::Normal);
        }
        let s = live.snapshot();
        assert_eq!(s.ticks, 100);
        assert_eq!(s.deadline_misses, 1);
        assert_eq!(
            s.events.iter().find(|(n, _)| *n == "stale_sensor"),
            Some(&("stale_sensor", 10))
        );
        let (late, comp) = live.recent_quantile_us(100, 0.99);
        assert_eq!(late, 98.0);
        assert_eq!(comp, 2.0);
        // Only the last 10 ticks: lateness 90..99 µs.
        assert_eq!(live.recent_quantile_us(10, 0.5).0, 94.0);
    }
}
