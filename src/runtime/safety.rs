//! The safety filter: the only way from a policy's proposal to an actuator.
//! Non-finite guard, clamp to limits, rate limit, safe action on faults
//! (stale or non-finite sensors, policy errors), and a latched e-stop that only
//! an explicit reset clears. Allocation-free after construction.

use crate::config::{JointLimit, SafeAction, SafetyConfig};
use crate::record::{SafetyEvents, SafetyState};

pub struct SafetyFilter {
    min: Vec<f32>,
    max: Vec<f32>,
    max_delta: Vec<f32>,
    safe: SafeAction,
    estop: SafeAction,
    /// The last command sent (what "hold" holds).
    last: Vec<f32>,
    latched: bool,
    joint_limits: Vec<JointLimit>,
    /// How many ticks raised each event, indexed like `SafetyEvents::ALL`.
    counters: [u64; SafetyEvents::ALL.len()],
}

impl SafetyFilter {
    pub fn new(cfg: &SafetyConfig) -> Self {
        let n = cfg.min.len();
        SafetyFilter {
            min: cfg.min.clone(),
            max: cfg.max.clone(),
            max_delta: cfg.max_delta.clone(),
            safe: cfg.safe_action.clone(),
            estop: cfg.estop_action.clone(),
            // Start from zero, or from the middle of the range if zero is outside it.
            last: (0..n)
                .map(|i| 0.0f32.clamp(cfg.min[i], cfg.max[i]))
                .collect(),
            latched: false,
            joint_limits: cfg.joint_limits.clone(),
            counters: [0; SafetyEvents::ALL.len()],
        }
    }

    pub fn is_latched(&self) -> bool {
        self.latched
    }

    /// Latches the e-stop (idempotent).
    pub fn latch_estop(&mut self, events: &mut SafetyEvents) {
        if !self.latched {
            self.latched = true;
        }
        events.set(SafetyEvents::ESTOP);
    }

    /// Clears a latched e-stop; the only way out of it.
    pub fn reset_estop(&mut self, events: &mut SafetyEvents) {
        if self.latched {
            self.latched = false;
            events.set(SafetyEvents::ESTOP_RESET);
        }
    }

    fn write_action(&self, which: &SafeAction, out: &mut [f32]) {
        match which {
            SafeAction::HoldLast => out.copy_from_slice(&self.last),
            SafeAction::Zero => out.fill(0.0),
            SafeAction::Pose { values, .. } => out.copy_from_slice(values),
        }
        for ((v, lo), hi) in out.iter_mut().zip(&self.min).zip(&self.max) {
            *v = v.clamp(*lo, *hi);
        }
    }

    /// Filters `proposed` into `out`. `fault` says the tick's inputs cannot be
    /// trusted (the caller has raised the matching event). Safe and e-stop
    /// actions are applied at once, not rate-limited: a fault acts this tick.
    pub fn filter(
        &mut self,
        proposed: &[f32],
        fault: bool,
        events: &mut SafetyEvents,
        out: &mut [f32],
    ) -> SafetyState {
        let state = if self.latched {
            self.write_action(&self.estop, out);
            SafetyState::EStopped
        } else if fault || proposed.iter().any(|v| !v.is_finite()) {
            if !fault {
                events.set(SafetyEvents::NON_FINITE_ACTION);
            }
            self.write_action(&self.safe, out);
            SafetyState::Safe
        } else {
            for i in 0..out.len() {
                let mut v = proposed[i];
                if v < self.min[i] || v > self.max[i] {
                    v = v.clamp(self.min[i], self.max[i]);
                    events.set(SafetyEvents::CLAMPED);
                }
                let lo = self.last[i] - self.max_delta[i];
                let hi = self.last[i] + self.max_delta[i];
                if v < lo || v > hi {
                    v = v.clamp(lo, hi);
                    events.set(SafetyEvents::RATE_LIMITED);
                }
                out[i] = v;
            }
            SafetyState::Normal
        };
        self.last.copy_from_slice(out);
        state
    }

    /// Stops any speed command that would drive a joint further past its
    /// position limit (`sensors`: the plant's sensor values this tick). Runs
    /// after `filter`, in every state: a limit holds even in a safe action.
    pub fn enforce_joint_limits(
        &mut self,
        sensors: &[f32],
        events: &mut SafetyEvents,
        out: &mut [f32],
    ) {
        for l in &self.joint_limits {
            let (Some(&pos), Some(cmd)) = (sensors.get(l.sensor), out.get_mut(l.actuator)) else {
                continue;
            };
            let blocked = (pos <= l.min + l.margin && *cmd < 0.0)
                || (pos >= l.max - l.margin && *cmd > 0.0)
                || !pos.is_finite();
            if blocked && *cmd != 0.0 {
                *cmd = 0.0;
                events.set(SafetyEvents::JOINT_LIMIT);
                if let Some(last) = self.last.get_mut(l.actuator) {
                    *last = 0.0;
                }
            }
        }
    }

    /// Adds a tick's events to the per-event counters.
    pub fn count(&mut self, events: SafetyEvents) {
        for (k, (bit, _)) in SafetyEvents::ALL.iter().enumerate() {
            if events.has(*bit) {
                self.counters[k] += 1;
            }
        }
    }

    /// (event name, ticks that raised it), for reports.
    pub fn counters(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        SafetyEvents::ALL
            .iter()
            .zip(self.counters.iter())
            .map(|((_, name), c)| (*name, *c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SafetyConfig {
        SafetyConfig {
            min: vec![-10.0, -1.0],
            max: vec![10.0, 1.0],
            max_delta: vec![5.0, 2.0],
            stale_after_s: 0.1,
            safe_action: SafeAction::Zero,
            estop_action: SafeAction::Pose {
                name: "park".into(),
                values: vec![1.0, -1.0],
            },
            joint_limits: Vec::new(),
        }
    }

    #[test]
    fn clamps_then_rate_limits() {
        let mut f = SafetyFilter::new(&cfg());
        let mut out = [0.0; 2];
        let mut ev = SafetyEvents::default();
        let s = f.filter(&[30.0, 0.5], false, &mut ev, &mut out);
        assert_eq!(s, SafetyState::Normal);
        assert_eq!(out, [5.0, 0.5]); // clamped to 10, then limited to 0 + 5
        assert!(ev.has(SafetyEvents::CLAMPED) && ev.has(SafetyEvents::RATE_LIMITED));
        let mut ev = SafetyEvents::default();
        f.filter(&[8.0, 0.5], false, &mut ev, &mut out);
        assert_eq!(out, [8.0, 0.5]);
        assert!(ev.is_empty());
    }

    #[test]
    fn non_finite_and_faults_give_the_safe_action_at_once() {
        let mut f = SafetyFilter::new(&cfg());
        let mut out = [0.0; 2];
        let mut ev = SafetyEvents::default();
        f.filter(&[4.0, 1.0], false, &mut ev, &mut out);
        let mut ev = SafetyEvents::default();
        let s = f.filter(&[f32::NAN, 0.0], false, &mut ev, &mut out);
        assert_eq!((s, out), (SafetyState::Safe, [0.0, 0.0]));
        assert!(ev.has(SafetyEvents::NON_FINITE_ACTION));
        let mut ev = SafetyEvents::default();
        let s = f.filter(&[4.0, 1.0], true, &mut ev, &mut out);
        assert_eq!((s, out), (SafetyState::Safe, [0.0, 0.0]));
    }

    #[test]
    fn estop_latches_until_reset() {
        let mut f = SafetyFilter::new(&cfg());
        let mut out = [0.0; 2];
        let mut ev = SafetyEvents::default();
        f.latch_estop(&mut ev);
        for _ in 0..5 {
            let s = f.filter(&[2.0, 0.0], false, &mut ev, &mut out);
            assert_eq!((s, out), (SafetyState::EStopped, [1.0, -1.0]));
        }
        let mut ev = SafetyEvents::default();
        f.reset_estop(&mut ev);
        assert!(ev.has(SafetyEvents::ESTOP_RESET));
        let s = f.filter(&[2.0, 0.0], false, &mut ev, &mut out);
        assert_eq!((s, out), (SafetyState::Normal, [2.0, 0.0]));
    }

    #[test]
    fn hold_last_holds() {
        let mut c = cfg();
        c.safe_action = SafeAction::HoldLast;
        let mut f = SafetyFilter::new(&c);
        let mut out = [0.0; 2];
        let mut ev = SafetyEvents::default();
        f.filter(&[3.0, 0.25], false, &mut ev, &mut out);
        f.filter(&[9.0, 0.0], true, &mut ev, &mut out);
        assert_eq!(out, [3.0, 0.25]);
    }
}
