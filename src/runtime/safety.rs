//! The safety filter: the only way from a policy's proposal to an actuator.
//! Non-finite guard, clamp to limits, rate limit, safe action on faults
//! (stale or non-finite sensors, policy errors), and a latched e-stop that only
//! an explicit reset clears; with `max_accel` (and `max_jerk`) set, the
//! motion stage (`motion_limits`) bounds acceleration and jerk and slows
//! commands before their limits, the safe and e-stop actions included (they
//! brake towards their target rather than jump). After it, the position
//! limits: joint limits, and with `safety.workspace` the tool's box
//! (`workspace`). Allocation-free after construction.

use super::motion_limits::MotionStage;
use super::workspace::WorkspaceStage;
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
    /// Control period (s) for the joint limits; 0 until set.
    period: f32,
    /// How many ticks raised each event, indexed like `SafetyEvents::ALL`.
    counters: [u64; SafetyEvents::ALL.len()],
    /// Bad cycles in a row that latch the e-stop (0: never), and the
    /// current run of them.
    max_missed: u32,
    missed_run: u32,
    /// Acceleration and jerk limits, when configured.
    motion: Option<MotionStage>,
    /// The tool's workspace box, when configured.
    workspace: Option<WorkspaceStage>,
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
            period: 0.0,
            counters: [0; SafetyEvents::ALL.len()],
            max_missed: cfg.max_missed_cycles,
            missed_run: 0,
            motion: (!cfg.max_accel.is_empty())
                .then(|| MotionStage::new(&cfg.max_accel, &cfg.max_jerk)),
            workspace: cfg.workspace.as_ref().map(WorkspaceStage::new),
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
            self.missed_run = 0;
            events.set(SafetyEvents::ESTOP_RESET);
        }
    }

    /// Ends a tick for the missed-cycle rule: a tick that missed its
    /// deadline or read a stale sensor extends the run of bad cycles, any
    /// other ends it; the run reaching `max_missed_cycles` latches the
    /// e-stop (event `missed_cycles`), so the next tick sends the e-stop
    /// action.
    pub fn note_cycle(&mut self, events: &mut SafetyEvents) {
        let bad = events.has(SafetyEvents::DEADLINE_MISS) || events.has(SafetyEvents::STALE_SENSOR);
        self.missed_run = if bad {
            self.missed_run.saturating_add(1)
        } else {
            0
        };
        self.check_missed(events);
    }

    /// Releases the loop skipped because it ran a whole period late: each
    /// is a missed cycle.
    pub fn note_skipped(&mut self, events: &mut SafetyEvents) {
        self.missed_run = self.missed_run.saturating_add(1);
        self.check_missed(events);
    }

    fn check_missed(&mut self, events: &mut SafetyEvents) {
        if self.max_missed > 0 && self.missed_run >= self.max_missed && !self.latched {
            events.set(SafetyEvents::MISSED_CYCLES);
            self.latch_estop(events);
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
        if let Some(m) = self.motion.as_mut().filter(|_| self.period > 0.0) {
            let bounds = (&self.min[..], &self.max[..], &self.max_delta[..]);
            m.apply(&self.last, bounds, self.period, events, out);
        }
        self.last.copy_from_slice(out);
        state
    }

    /// The control period (s), so that joint limits can bound a speed
    /// command by the distance left to the limit.
    pub fn set_period(&mut self, period: f64) {
        self.period = period as f32;
    }

    /// Bounds each speed command on a limited joint so that one period at
    /// that speed stays inside the joint's position limits and the joint
    /// can still brake to rest before the limit at the deceleration its
    /// rate limit allows (`max_delta` per period: a real servo cannot stop
    /// at once, and a cut to zero at the limit would overshoot it);
    /// `sensors`: the plant's sensor values this tick. Past a limit, only
    /// motion back in is allowed. Then cuts commands that would carry the
    /// tool out of the workspace box (also braking included). Runs after
    /// `filter`, in every state: a limit holds even in a safe action. A
    /// non-finite position stops the joint.
    pub fn enforce_position_limits(
        &mut self,
        sensors: &[f32],
        events: &mut SafetyEvents,
        out: &mut [f32],
    ) {
        let dt = if self.period > 0.0 {
            self.period
        } else {
            f32::INFINITY
        };
        for l in &self.joint_limits {
            let (Some(&pos), Some(cmd)) = (sensors.get(l.sensor), out.get_mut(l.actuator)) else {
                continue;
            };
            let decel = self
                .max_delta
                .get(l.actuator)
                .map_or(f32::INFINITY, |d| d / dt);
            // The fastest speed towards a limit `room` away: there within
            // the period at most, and able to stop there.
            let fastest = |room: f32| {
                if room > 0.0 {
                    (room / dt).min((2.0 * decel * room).sqrt())
                } else {
                    0.0
                }
            };
            let (lo, hi) = if pos.is_finite() {
                (
                    -fastest(pos - (l.min + l.margin)),
                    fastest(l.max - l.margin - pos),
                )
            } else {
                (0.0, 0.0)
            };
            let bounded = cmd.clamp(lo, hi);
            if bounded != *cmd {
                *cmd = bounded;
                events.set(SafetyEvents::JOINT_LIMIT);
                if let Some(last) = self.last.get_mut(l.actuator) {
                    *last = bounded;
                }
            }
        }
        if let Some(w) = self.workspace.as_mut()
            && w.apply(sensors, self.period, &self.max_delta, events, out)
        {
            for a in w.actuators() {
                if let (Some(last), Some(v)) = (self.last.get_mut(a), out.get(a)) {
                    *last = *v;
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
            max_missed_cycles: 20,
            max_accel: Vec::new(),
            max_jerk: Vec::new(),
            fallback: None,
            workspace: None,
        }
    }

    #[test]
    fn joint_limits_bound_speed_by_the_distance_left() {
        let mut c = cfg();
        c.joint_limits = vec![JointLimit {
            actuator: 1,
            sensor: 0,
            min: -1.0,
            max: 1.0,
            margin: 0.0,
        }];
        let mut f = SafetyFilter::new(&c);
        f.set_period(0.1);
        let mut ev = SafetyEvents::default();
        // 0.05 rad left: at most 0.5 rad/s towards the limit, any speed away.
        let mut out = [0.0, 1.0];
        f.enforce_position_limits(&[0.95], &mut ev, &mut out);
        assert!((out[1] - 0.5).abs() < 1e-5 && ev.has(SafetyEvents::JOINT_LIMIT));
        let mut ev = SafetyEvents::default();
        let mut out = [0.0, -1.0];
        f.enforce_position_limits(&[0.95], &mut ev, &mut out);
        assert_eq!(out[1], -1.0);
        assert!(ev.is_empty());
        // Past the limit: no further out; a NaN position stops the joint.
        let mut out = [0.0, 0.3];
        f.enforce_position_limits(&[1.2], &mut ev, &mut out);
        assert_eq!(out[1], 0.0);
        let mut out = [0.0, -0.3];
        f.enforce_position_limits(&[f32::NAN], &mut ev, &mut out);
        assert_eq!(out[1], 0.0);
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
