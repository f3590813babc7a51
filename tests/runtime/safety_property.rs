//! Property test of the safety filter with every stage on (clamp, rate,
//! acceleration, jerk, soft limits, safe action, e-stop): a million ticks of
//! random, non-finite and adversarial policy outputs, with faults and
//! e-stops among them, on a six-actuator arm; no command goes beyond any
//! position, velocity, acceleration or jerk limit. Differences are taken
//! on the f32 commands as sent, so each limit is checked up to the
//! rounding of an f32 command (a few ulps of the command's size).

use ganglion::config::{SafeAction, SafetyConfig};
use ganglion::record::SafetyEvents;
use ganglion::runtime::safety::SafetyFilter;

use crate::common::XorShift as Rng;

const N: usize = 6;
const DT: f64 = 0.01;

fn cfg() -> SafetyConfig {
    SafetyConfig {
        min: vec![-2.9, -1.8, -2.9, -3.0, -2.9, -0.5],
        max: vec![2.9, 1.8, 2.9, 0.0, 2.9, 3.7],
        // Velocity limits of 2.0–2.6 rad/s at 100 Hz.
        max_delta: vec![0.0218, 0.0218, 0.0218, 0.0218, 0.0261, 0.0261],
        stale_after_s: 0.1,
        safe_action: SafeAction::HoldLast,
        estop_action: SafeAction::Pose {
            name: "park".into(),
            values: vec![0.0, -0.8, 0.0, -2.4, 0.0, 1.6],
        },
        joint_limits: Vec::new(),
        max_missed_cycles: 20,
        max_accel: vec![15.0, 7.5, 10.0, 12.5, 15.0, 20.0],
        max_jerk: vec![500.0, 250.0, 400.0, 450.0, 500.0, 700.0],
        fallback: None,
        workspace: None,
    }
}

/// One adversarial proposal for actuator `i`, chosen by `kind`.
fn proposal(rng: &mut Rng, kind: u64, i: usize, c: &SafetyConfig, tick: u64) -> f32 {
    match kind {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => (rng.unit() - 0.5) * 2e30,
        4 => {
            if (tick / 7).is_multiple_of(2) {
                c.max[i]
            } else {
                c.min[i]
            }
        }
        5 => f32::MIN_POSITIVE * 0.5,
        6 => c.max[i] + f32::EPSILON,
        _ => c.min[i] + rng.unit() * (c.max[i] - c.min[i]),
    }
}

#[test]
fn a_million_adversarial_outputs_stay_within_every_limit() {
    let c = cfg();
    let mut filter = SafetyFilter::new(&c);
    filter.set_period(DT);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = [0.0f32; N];
    let mut proposed = [0.0f32; N];
    // The last three commands per actuator, as f64.
    let mut hist = [[0.0f64; 3]; N];
    let mut worst = [0.0f64; 4];
    for tick in 0..1_000_000u64 {
        // A run of one kind of output, sometimes mixed per actuator.
        let kind = (tick / 50 + rng.next() % 2) % 8;
        for (i, p) in proposed.iter_mut().enumerate() {
            let k = if rng.next().is_multiple_of(5) {
                rng.next() % 8
            } else {
                kind
            };
            *p = proposal(&mut rng, k, i, &c, tick);
        }
        let mut events = SafetyEvents::default();
        match rng.next() % 5000 {
            0 => filter.latch_estop(&mut events),
            1 => filter.reset_estop(&mut events),
            _ => {}
        }
        let fault = rng.next().is_multiple_of(1000);
        filter.filter(&proposed, fault, &mut events, &mut out);
        for i in 0..N {
            let u = f64::from(out[i]);
            assert!(
                u.is_finite() && out[i] >= c.min[i] && out[i] <= c.max[i],
                "tick {tick} actuator {i}: {u} outside [{}, {}]",
                c.min[i],
                c.max[i]
            );
            let [u1, u2, u3] = hist[i];
            if tick >= 3 {
                // One ulp of the commands involved bounds each rounding.
                let q = f64::from(f32::EPSILON)
                    * u.abs().max(u1.abs()).max(u2.abs()).max(u3.abs()).max(1.0);
                let v = (u - u1) / DT;
                let a = (u - 2.0 * u1 + u2) / (DT * DT);
                let j = (u - 3.0 * u1 + 3.0 * u2 - u3) / (DT * DT * DT);
                let checks = [
                    (v.abs(), f64::from(c.max_delta[i]) / DT, 2.0 * q / DT),
                    (a.abs(), f64::from(c.max_accel[i]), 4.0 * q / (DT * DT)),
                    (j.abs(), f64::from(c.max_jerk[i]), 8.0 * q / (DT * DT * DT)),
                ];
                for (k, (got, limit, rounding)) in checks.into_iter().enumerate() {
                    let over = got - limit;
                    assert!(
                        over <= limit * 1e-6 + rounding,
                        "tick {tick} actuator {i}: {} {got} over the limit {limit} (command {u})",
                        ["velocity", "acceleration", "jerk"][k]
                    );
                    worst[k] = worst[k].max(got / limit);
                }
            }
            hist[i] = [u, u1, u2];
        }
    }
    // The limits were reached, not just respected from afar.
    assert!(
        worst.iter().take(3).all(|w| *w > 0.9),
        "worst ratios {worst:?}"
    );
}
