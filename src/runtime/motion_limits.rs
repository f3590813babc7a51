//! The safety filter's motion stage: acceleration and jerk limits on the
//! command signal, and soft position limits that slow a command down before
//! its hard limit. Each command is treated as a trajectory sampled once per
//! period; for a position-commanded joint its first, second and third
//! differences are the joint's velocity, acceleration and jerk (Franka and
//! ros2_control limit the same four). A tick's command moves from the last
//! one by a velocity chosen from the interval the acceleration and jerk
//! limits allow, as close to the proposal as possible; the soft limit keeps
//! only velocities from which the command can still brake to a stop inside
//! `[min, max]` under those same limits, so the hard clamp after it never
//! has to act on a trajectory that started inside. Allocation-free after
//! construction.

use crate::record::SafetyEvents;

/// Per-actuator limits and the trajectory so far.
pub struct MotionStage {
    accel: Vec<f64>,
    jerk: Vec<f64>,
    /// The trajectory so far, in f64 (an f32 command cannot resolve a
    /// jerk at a fast rate): the last command, its velocity and its
    /// acceleration over the last tick.
    pos: Vec<f64>,
    vel: Vec<f64>,
    acc: Vec<f64>,
}

/// Most steps a braking check simulates before calling the brake too long.
const MAX_BRAKE_STEPS: usize = 100_000;
/// Bisection steps when the proposal's velocity cannot brake in time.
const BISECTIONS: usize = 40;

/// One actuator's bounds for a tick.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    pub min: f64,
    pub max: f64,
    /// Largest velocity (command units per second).
    pub vmax: f64,
    pub accel: f64,
    /// `f64::INFINITY` when jerk is not limited.
    pub jerk: f64,
}

impl MotionStage {
    /// `accel` per actuator (> 0); `jerk` per actuator, or empty for none.
    pub fn new(accel: &[f32], jerk: &[f32]) -> MotionStage {
        let n = accel.len();
        MotionStage {
            accel: accel.iter().map(|a| f64::from(*a)).collect(),
            jerk: if jerk.is_empty() {
                vec![f64::INFINITY; n]
            } else {
                jerk.iter().map(|j| f64::from(*j)).collect()
            },
            pos: vec![f64::NAN; n],
            vel: vec![0.0; n],
            acc: vec![0.0; n],
        }
    }

    /// Moves `out` (the proposals, already inside `[min, max]`) to what
    /// the limits allow from `last`, with `dt` the period (s) and
    /// `max_delta` the per-tick step limit; raises `accel_limited`,
    /// `jerk_limited` or `soft_limit` where a limit changed a command.
    pub fn apply(
        &mut self,
        last: &[f32],
        (min, max, max_delta): (&[f32], &[f32], &[f32]),
        dt: f32,
        events: &mut SafetyEvents,
        out: &mut [f32],
    ) {
        let dt = f64::from(dt);
        for i in 0..out.len().min(self.accel.len()) {
            // The last command as sent; the stage's own f64 trajectory when
            // it agrees (something after the stage may have changed it).
            let sent = f64::from(last[i]);
            let agrees = (self.pos[i] - sent).abs() <= 1e-6 * sent.abs().max(1.0);
            if !agrees {
                self.pos[i] = sent;
            }
            let b = Bounds {
                min: f64::from(min[i]),
                max: f64::from(max[i]),
                vmax: f64::from(max_delta[i]) / dt,
                accel: self.accel[i],
                jerk: self.jerk[i],
            };
            let u0 = self.pos[i];
            let (u, why) = step(u0, self.vel[i], self.acc[i], f64::from(out[i]), b, dt);
            if let Some(bit) = why {
                events.set(bit);
            }
            let v = (u - u0) / dt;
            self.acc[i] = (v - self.vel[i]) / dt;
            self.vel[i] = v;
            self.pos[i] = u;
            out[i] = u as f32;
        }
    }
}

/// The next command from `u0` (moving at `v0`, accelerating at `a0`)
/// towards `target`, and the event that names the limit which changed it.
pub fn step(u0: f64, v0: f64, a0: f64, target: f64, b: Bounds, dt: f64) -> (f64, Option<u32>) {
    // The velocities the acceleration and jerk limits allow this tick.
    let a_lo = (a0 - b.jerk * dt).max(-b.accel);
    let a_hi = (a0 + b.jerk * dt).min(b.accel);
    let (a_lo, a_hi) = if a_lo <= a_hi {
        (a_lo, a_hi)
    } else {
        // Past the acceleration limit (a reset, a limit lowered): back
        // towards it as fast as jerk allows.
        let a = a0.clamp(-b.accel, b.accel);
        (a, a)
    };
    let (v_lo, v_hi) = (v0 + a_lo * dt, v0 + a_hi * dt);
    let wanted = (target - u0) / dt;
    let mut v = wanted.clamp(v_lo, v_hi);
    let mut why = None;
    if v != wanted {
        let by_accel = wanted > v0 + b.accel * dt || wanted < v0 - b.accel * dt;
        why = Some(if by_accel || b.jerk.is_infinite() {
            SafetyEvents::ACCEL_LIMITED
        } else {
            SafetyEvents::JERK_LIMITED
        });
    }
    // Keep only a velocity from which the command can still brake to rest
    // inside `[min, max]` and whose acceleration can still be ramped out
    // before the speed limit (`soft_limit` when that changes it); then,
    // without an event, one it can brake from before the target, so that
    // it settles on the target instead of overshooting it.
    let a_of = |v: f64| (v - v0) / dt;
    // `slack` widens (> 0) or narrows (< 0) the box: a velocity is chosen
    // a hair inside it and an edge accepted a hair outside, so that the
    // next tick's rounding cannot lose what this tick found.
    let eps = 1e-9 * (b.max - b.min).abs().max(1.0);
    let stops = |v: f64, lo: f64, hi: f64, slack: f64| {
        let box_ = Bounds {
            min: lo - slack,
            max: hi + slack,
            ..b
        };
        can_stop(u0 + v * dt, v, a_of(v), box_, dt)
    };
    let safe = |v: f64, slack: f64| speed_holds(v, a_of(v), b, dt) && stops(v, b.min, b.max, slack);
    if !safe(v, eps) {
        v = nearest_ok(v, (v_lo, v_hi), &|v, s| safe(v, s * eps));
        why = Some(SafetyEvents::SOFT_LIMIT);
    }
    let (lo, hi) = if target >= u0 {
        (b.min, target)
    } else {
        (target, b.max)
    };
    let settles = |v: f64, slack: f64| safe(v, slack) && stops(v, lo, hi, slack);
    if !settles(v, eps) && (settles(v_lo, eps) || settles(v_hi, eps)) {
        v = nearest_ok(v, (v_lo, v_hi), &|v, s| settles(v, s * eps));
    }
    ((u0 + v * dt).clamp(b.min, b.max), why)
}

/// The velocity in `[lo, hi]` nearest `v` for which `ok` holds, bisecting
/// from each edge where it holds (`ok(v, 1.0)`: with the slack; `ok(v,
/// -1.0)`: a hair inside); with neither edge acceptable, the edge that
/// slows the command.
fn nearest_ok(v: f64, (lo, hi): (f64, f64), ok: &dyn Fn(f64, f64) -> bool) -> f64 {
    let bisect = |edge: f64| {
        let (mut good, mut bad) = (edge, v);
        for _ in 0..BISECTIONS {
            let mid = 0.5 * (good + bad);
            if ok(mid, -1.0) {
                good = mid;
            } else {
                bad = mid;
            }
        }
        good
    };
    match (ok(lo, 1.0), ok(hi, 1.0)) {
        (true, true) => {
            let (a, b) = (bisect(lo), bisect(hi));
            if (a - v).abs() <= (b - v).abs() { a } else { b }
        }
        (true, false) => bisect(lo),
        (false, true) => bisect(hi),
        (false, false) => {
            if v > 0.0 {
                lo
            } else {
                hi
            }
        }
    }
}

/// Whether a command moving at `v` and accelerating at `a` is within the
/// speed limit and stays so while its acceleration is ramped to zero at
/// the jerk limit.
fn speed_holds(v: f64, a: f64, b: Bounds, dt: f64) -> bool {
    let slack = 1e-9 * b.vmax.max(1.0);
    if v.abs() > b.vmax + slack {
        return false;
    }
    if b.jerk.is_infinite() || a == 0.0 {
        return true;
    }
    let (mut v, mut a) = (v, a);
    for _ in 0..MAX_BRAKE_STEPS {
        a = if a > 0.0 {
            (a - b.jerk * dt).max(0.0)
        } else {
            (a + b.jerk * dt).min(0.0)
        };
        if a == 0.0 {
            return true;
        }
        v += a * dt;
        if v.abs() > b.vmax + slack {
            return false;
        }
    }
    false
}

/// Whether a command at `u`, moving at `v` and accelerating at `a`, can
/// come to rest inside `[min, max]` by braking as hard as the limits allow
/// (the filter's own discrete steps).
fn can_stop(u: f64, v: f64, a: f64, b: Bounds, dt: f64) -> bool {
    if !(u >= b.min && u <= b.max) {
        return false;
    }
    let dir = if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        return true;
    };
    let (mut u, mut v, mut a) = (u, v, a);
    for _ in 0..MAX_BRAKE_STEPS {
        // Brake: acceleration against the motion, ramped at the jerk limit.
        a = if dir > 0.0 {
            (a - b.jerk * dt).max(-b.accel)
        } else {
            (a + b.jerk * dt).min(b.accel)
        };
        v += a * dt;
        if v * dir <= 0.0 {
            return true;
        }
        u += v * dt;
        if u > b.max || u < b.min {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds {
        Bounds {
            min: -1.0,
            max: 1.0,
            vmax: 2.0,
            accel: 4.0,
            jerk: 40.0,
        }
    }

    /// Drives one actuator with `targets`, checking every limit on the
    /// commands it leads to.
    fn drive(targets: impl Iterator<Item = f64>, b: Bounds, dt: f64) -> usize {
        let (mut u, mut v, mut a) = (0.0f64, 0.0f64, 0.0f64);
        let mut changed = 0;
        for t in targets {
            let (n, why) = step(u, v, a, t.clamp(b.min, b.max), b, dt);
            changed += usize::from(why.is_some());
            let nv = (n - u) / dt;
            let na = (nv - v) / dt;
            let tol = 1e-6;
            assert!(n >= b.min && n <= b.max, "position {n}");
            assert!(nv.abs() <= b.vmax * (1.0 + tol) + tol, "velocity {nv}");
            assert!(
                na.abs() <= b.accel * (1.0 + tol) + tol,
                "accel {na} (v {v} -> {nv})"
            );
            assert!(
                (na - a).abs() <= b.jerk * dt * (1.0 + tol) + tol,
                "jerk {} at u {u} v {v} a {a} -> {na}",
                (na - a) / dt
            );
            (u, v, a) = (n, nv, na);
        }
        changed
    }

    #[test]
    fn bang_bang_targets_stay_within_every_limit() {
        let b = bounds();
        let targets = (0..2000).map(|k| if (k / 150) % 2 == 0 { 5.0 } else { -5.0 });
        assert!(drive(targets, b, 0.01) > 0);
    }

    #[test]
    fn random_targets_stay_within_every_limit() {
        let mut s = 0x2545_f491_u32;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (f64::from(s) / f64::from(u32::MAX)) * 6.0 - 3.0
        };
        for dt in [0.002, 0.01, 0.05] {
            let targets: Vec<f64> = (0..20_000).map(|_| rnd()).collect();
            drive(targets.into_iter(), bounds(), dt);
        }
    }

    #[test]
    fn a_target_inside_the_limits_is_reached() {
        let b = bounds();
        let (mut u, mut v, mut a) = (0.0f64, 0.0f64, 0.0f64);
        for _ in 0..400 {
            let (n, _) = step(u, v, a, 0.5, b, 0.01);
            let nv = (n - u) / 0.01;
            (a, v, u) = ((nv - v) / 0.01, nv, n);
        }
        assert!((u - 0.5).abs() < 1e-3 && v.abs() < 1e-2, "u {u} v {v}");
    }
}
