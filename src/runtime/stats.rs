//! Tick statistics: fixed-size histograms (1 µs buckets up to 100 ms, exact
//! max) for lateness, compute time and policy time, and deadline misses.
//! Recording a sample never allocates.

use serde::Serialize;

const BUCKETS: usize = 100_000;

/// A histogram of durations in nanoseconds with 1 µs resolution.
#[derive(Clone)]
pub struct Histogram {
    buckets: Vec<u32>,
    overflow: u64,
    count: u64,
    sum_ns: f64,
    max_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// The `q` quantile (0 ≤ q ≤ 1) of samples sorted ascending, interpolated
/// linearly between the two nearest ranks (numpy's default), so the 0.5
/// quantile of an even count is the mean of the middle two; NaN when empty.
/// The one quantile helper for sample lists (benchmarks, planner timings);
/// `Histogram` is for the control loop, where nothing may allocate.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Sorts `v` ascending (NaN last) for `quantile_sorted`.
pub fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            buckets: vec![0; BUCKETS],
            overflow: 0,
            count: 0,
            sum_ns: 0.0,
            max_ns: 0,
        }
    }

    #[inline]
    pub fn record(&mut self, ns: u64) {
        let b = (ns / 1000) as usize;
        if b < BUCKETS {
            self.buckets[b] = self.buckets[b].saturating_add(1);
        } else {
            self.overflow += 1;
        }
        self.count += 1;
        self.sum_ns += ns as f64;
        self.max_ns = self.max_ns.max(ns);
    }

    /// The upper edge (µs) of the bucket holding quantile `q`; the exact max
    /// for values beyond the last bucket.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((self.count as f64 * q).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (b, n) in self.buckets.iter().enumerate() {
            seen += *n as u64;
            if seen >= rank {
                return ((b + 1) as f64).min(self.max_ns as f64 / 1000.0);
            }
        }
        self.max_ns as f64 / 1000.0
    }

    /// Samples above `us` (to the histogram's 1 µs resolution).
    pub fn count_above_us(&self, us: f64) -> u64 {
        let from = (us.max(0.0) as usize).min(BUCKETS);
        self.buckets[from..].iter().map(|&n| n as u64).sum::<u64>() + self.overflow
    }

    pub fn summary(&self) -> Summary {
        Summary {
            count: self.count,
            mean_us: if self.count == 0 {
                0.0
            } else {
                self.sum_ns / self.count as f64 / 1000.0
            },
            p50_us: self.quantile_us(0.5),
            p90_us: self.quantile_us(0.9),
            p99_us: self.quantile_us(0.99),
            p999_us: self.quantile_us(0.999),
            max_us: self.max_ns as f64 / 1000.0,
        }
    }
}

/// Everything the loop measures about its ticks.
#[derive(Clone, Default)]
pub struct TickStats {
    pub ticks: u64,
    pub lateness: Histogram,
    pub compute: Histogram,
    pub policy: Histogram,
    pub deadline_misses: u64,
}

impl TickStats {
    pub fn new() -> Self {
        Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_sorted_interpolates_between_ranks() {
        assert!(quantile_sorted(&[], 0.5).is_nan());
        assert_eq!(quantile_sorted(&[3.0], 0.99), 3.0);
        let v = sorted(vec![4.0, 1.0, 3.0, 2.0]);
        assert_eq!(quantile_sorted(&v, 0.5), 2.5);
        assert_eq!(quantile_sorted(&v, 0.0), 1.0);
        assert_eq!(quantile_sorted(&v, 1.0), 4.0);
        assert!((quantile_sorted(&v, 0.9) - 3.7).abs() < 1e-12);
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let mut h = Histogram::new();
        for us in 1..=1000u64 {
            h.record(us * 1000 - 500);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_us - 500.0).abs() <= 1.0, "{s:?}");
        assert!((s.p99_us - 990.0).abs() <= 1.0, "{s:?}");
        assert!((s.max_us - 999.5).abs() < 1e-9);
        h.record(5_000_000_000);
        assert_eq!(h.summary().max_us, 5_000_000.0);
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(Histogram::new().summary().p99_us, 0.0);
    }
}
