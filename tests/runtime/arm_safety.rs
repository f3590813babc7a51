//! Safety on the arm, checked where it matters: in the joint states the
//! commands lead to. The tabletop arm of `robots/tabletop.toml` (built from
//! its URDF, with the file's speed, rate and joint limits and workspace
//! box, plus acceleration and jerk limits set with `--set` overrides) is
//! driven through the safety filter by random, non-finite and adversarial
//! policy outputs, with faults and e-stops among them. After each period
//! of rapier physics every joint is within its limit, none is faster than
//! its speed limit, and the cup is within the workspace box, up to the
//! tolerances below; the commands as sent stay inside their limits, and
//! keep their rate, acceleration and jerk limits except where a position
//! stage (joint limit, workspace) cut them to stop: a stop beats
//! smoothness. The tolerances are what the simulated arm does, not what a
//! stiff servo would: the position stages brake at the rate limit's
//! deceleration, which keeps base and shoulder within 8 mrad of their
//! limits, but the elbow and the wrist are back-driven by the other
//! joints' accelerations (their servos are soft in rapier's multibody) as
//! far as their hard stops, 50 mrad out, and the cup up to 48 mm past the
//! box (docs/robots.md).

use std::path::{Path, PathBuf};

use ganglion::config::{self, Integrity, RobotConfig};
use ganglion::record::SafetyEvents;
use ganglion::runtime::safety::SafetyFilter;
use ganglion::sim::tabletop::arm::TabletopArm;
use ganglion::sim::{Plant, SceneSpec, TabletopPlant};

use crate::common::XorShift as Rng;

const DT: f64 = 0.04;
/// Position (rad: the gap to the URDF's hard stops, plus 1 mrad), speed
/// (rad/s) and cup position (m) tolerances.
const TOL_Q: f32 = 0.051;
const TOL_V: f32 = 0.3;
const TOL_P: f32 = 0.05;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn arm_config() -> RobotConfig {
    let sets = [
        "safety.max_accel=[8.0, 8.0, 8.0, 16.0, 50.0]",
        "safety.max_jerk=[400.0, 400.0, 400.0, 800.0, 2500.0]",
    ]
    .map(String::from);
    config::load_with_overrides(&repo("robots/tabletop.toml"), Integrity::Verify, &sets)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One adversarial proposal for actuator `i` of `n`, chosen by `kind`.
fn proposal(rng: &mut Rng, kind: u64, i: usize, cfg: &RobotConfig, tick: u64) -> f32 {
    let (lo, hi) = (cfg.safety.min[i], cfg.safety.max[i]);
    match kind {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => (rng.unit() - 0.5) * 2e30,
        // Bang-bang between the limits.
        4 => {
            if (tick / 9).is_multiple_of(2) {
                hi
            } else {
                lo
            }
        }
        // Dive: every pitch joint down, to drive the cup into the table.
        5 => lo,
        // Climb and reach out, to the joints' stops.
        6 => hi,
        _ => lo + rng.unit() * (hi - lo),
    }
}

fn run(ticks: u64) {
    let cfg = arm_config();
    let ws = cfg
        .safety
        .workspace
        .clone()
        .expect("the file has a workspace box");
    let arm = TabletopArm::load(&repo("robots/tabletop.urdf")).expect("the URDF");
    let scene = SceneSpec::parse("blocks=red,green; bowls=blue").expect("scene");
    let mut plant = TabletopPlant::with_arm(Some(scene), 1, &arm);
    let mut filter = SafetyFilter::new(&cfg.safety);
    filter.set_period(DT);
    let n = cfg.action.actuators.len();
    let mut sensors = vec![0.0f32; plant.sensor_names().len()];
    let mut stamps = vec![0.0f64; sensors.len()];
    let (mut proposed, mut out) = (vec![0.0f32; n], vec![0.0f32; n]);
    let mut hist = vec![[0.0f64; 3]; n];
    let mut rng = Rng(0x051f_15ee_d0dd_ba11);
    let mut since_cut = 0u32;
    let (mut cuts, mut workspace_cuts, mut worst_z) = (0u64, 0u64, f32::INFINITY);
    // The furthest past a joint limit (rad) and past the box (m).
    let (mut worst_q, mut worst_p, mut worst_v) = ([0.0f32; 4], 0.0f32, 0.0f32);
    let speed: Vec<f32> = cfg.safety.max.clone();
    for tick in 0..ticks {
        if tick % 1500 == 0 {
            plant.reset(tick / 1500 + 1);
            filter = SafetyFilter::new(&cfg.safety);
            filter.set_period(DT);
            hist.iter_mut().for_each(|h| *h = [0.0; 3]);
            since_cut = 0;
        }
        plant.read_sensors(&mut sensors, &mut stamps);
        let kind = (tick / 40 + rng.next() % 2) % 8;
        for (i, p) in proposed.iter_mut().enumerate() {
            let k = if rng.next().is_multiple_of(4) {
                rng.next() % 8
            } else {
                kind
            };
            *p = proposal(&mut rng, k, i, &cfg, tick);
        }
        // No suction: a held block pressed into the table back-drives the
        // joints' servos (they are stiff, not rigid), which no command
        // filter can prevent; the arm alone touches nothing.
        proposed[n - 1] = 0.0;
        let mut events = SafetyEvents::default();
        match rng.next() % 3000 {
            0 => filter.latch_estop(&mut events),
            1 => filter.reset_estop(&mut events),
            _ => {}
        }
        let fault = rng.next().is_multiple_of(800);
        filter.filter(&proposed, fault, &mut events, &mut out);
        filter.enforce_position_limits(&sensors, &mut events, &mut out);
        let cut = events.has(SafetyEvents::JOINT_LIMIT) || events.has(SafetyEvents::WORKSPACE);
        cuts += u64::from(cut);
        workspace_cuts += u64::from(events.has(SafetyEvents::WORKSPACE));
        since_cut = if cut { 0 } else { since_cut.saturating_add(1) };
        for i in 0..n {
            let u = f64::from(out[i]);
            assert!(
                u.is_finite() && out[i] >= cfg.safety.min[i] && out[i] <= cfg.safety.max[i],
                "tick {tick} actuator {i}: command {u} outside its limits"
            );
            let [u1, u2, u3] = hist[i];
            if since_cut >= 3 {
                let ulp = f64::from(f32::EPSILON) * 8.0 * u.abs().max(1.0);
                let a = (u - 2.0 * u1 + u2) / (DT * DT);
                let j = (u - 3.0 * u1 + 3.0 * u2 - u3) / (DT * DT * DT);
                let checks = [
                    ((u - u1).abs(), f64::from(cfg.safety.max_delta[i]), "rate"),
                    (a.abs(), f64::from(cfg.safety.max_accel[i]), "acceleration"),
                    (j.abs(), f64::from(cfg.safety.max_jerk[i]), "jerk"),
                ];
                for (got, limit, what) in checks {
                    assert!(
                        got <= limit * (1.0 + 1e-5) + ulp / (DT * DT * DT),
                        "tick {tick} actuator {i}: {what} {got} over {limit}"
                    );
                }
            }
            hist[i] = [u, u1, u2];
        }
        plant.write_commands(&out);
        plant.advance(DT);
        // What the commands led to.
        plant.read_sensors(&mut sensors, &mut stamps);
        for l in &cfg.safety.joint_limits {
            let q = sensors[l.sensor];
            let tol = TOL_Q;
            let past = (l.min - q).max(q - l.max);
            worst_q[l.sensor] = worst_q[l.sensor].max(past);
            assert!(
                q >= l.min - tol && q <= l.max + tol,
                "tick {tick}: joint {} at {q}, limits [{}, {}]",
                l.sensor,
                l.min,
                l.max
            );
        }
        for k in 0..4 {
            let v = sensors[4 + k];
            worst_v = worst_v.max(v.abs() - speed[k]);
            assert!(
                v.abs() <= speed[k] + TOL_V,
                "tick {tick}: joint {k} at {v} rad/s, limit {}",
                speed[k]
            );
        }
        let q: Vec<f32> = sensors[..4].to_vec();
        let cup = ws.chain.position(&q);
        let sim_cup = &sensors[8..11];
        for k in 0..3 {
            assert!(
                (cup[k] - sim_cup[k]).abs() < 1e-3,
                "fk {cup:?} vs sim {sim_cup:?}"
            );
            assert!(
                cup[k] >= ws.min[k] - TOL_P && cup[k] <= ws.max[k] + TOL_P,
                "tick {tick}: cup {cup:?} outside the box {:?}..{:?}",
                ws.min,
                ws.max
            );
        }
        worst_z = worst_z.min(cup[2]);
        for ((c, lo), hi) in cup.iter().zip(ws.min).zip(ws.max) {
            worst_p = worst_p.max(lo - c).max(c - hi);
        }
    }
    // The limits were reached, not respected from afar.
    assert!(cuts > ticks / 100, "{cuts} cuts in {ticks} ticks");
    assert!(
        workspace_cuts > ticks / 1000,
        "{workspace_cuts} workspace cuts"
    );
    assert!(worst_z < ws.min[2] + 0.01, "lowest cup {worst_z}");
    eprintln!(
        "{ticks} ticks: {cuts} cut ({workspace_cuts} by the box); furthest past each joint's limit \
         {:.1?} mrad, past the box {:.1} mm, over a speed limit {:.3} rad/s",
        worst_q.map(|w| w * 1000.0),
        worst_p * 1000.0,
        worst_v
    );
}

#[test]
fn adversarial_outputs_keep_the_simulated_arm_within_its_limits() {
    run(30_000);
}

/// The full million (`cargo test --release --test runtime -- --ignored arm_safety`).
/// Fails today: at tick 47,921 the back-driven wrist reaches 3.31 rad/s,
/// past the 0.3 rad/s tolerance (docs/robots.md, "Not yet").
#[test]
#[ignore]
fn a_million_adversarial_outputs_on_the_simulated_arm() {
    run(1_000_000);
}

/// Always drives the shoulder down and straightens the elbow at full
/// speed: the stretched arm dives into the table.
struct Dive;

impl ganglion::policy::Policy for Dive {
    fn act(
        &mut self,
        _obs: &[f32],
        action: &mut [f32],
    ) -> Result<(), ganglion::policy::PolicyError> {
        action.copy_from_slice(&[0.0, -1.5, 1.5, 0.0, 0.0]);
        Ok(())
    }
}

#[test]
fn a_dive_into_the_table_is_cut_at_the_box_and_recorded() {
    use ganglion::record::{Recorder, RecordingHeader, read_recording};
    use ganglion::runtime::{ClockMode, ControlLoop, RunLimit};

    let cfg = ganglion::skills::executor::tabletop_config(&repo("models/arm-reach.onnx"), 2)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let floor = cfg.safety.workspace.as_ref().expect("a box").min[2];
    let plant = TabletopPlant::new(Some(SceneSpec::parse("blocks=red").expect("scene")), 2);
    let header = RecordingHeader {
        sensor_names: plant.sensor_names().iter().map(|s| s.to_string()).collect(),
        obs_dim: cfg.observation.fields.len(),
        action_dim: cfg.action.actuators.len(),
        actuator_names: cfg.action.actuators.clone(),
        metadata: Default::default(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dive.mcap");
    let (recorder, sink) = Recorder::start(
        &path,
        header,
        4096,
        std::time::Duration::from_millis(50),
        false,
    )
    .expect("recorder");
    let mode = ClockMode::Lockstep { paced: false };
    let mut lp =
        ControlLoop::new(&cfg, Box::new(plant), Box::new(Dive), mode, Some(sink)).expect("loop");
    lp.run(RunLimit {
        ticks: Some(150),
        ..Default::default()
    });
    drop(lp.take_sink());
    recorder.finish().expect("finish");
    let rec = read_recording(&path).expect("read");
    assert_eq!(rec.ticks.len(), 150);
    let first = rec
        .ticks
        .iter()
        .position(|t| t.events.has(SafetyEvents::WORKSPACE))
        .expect("the dive reaches the box");
    let lowest = rec
        .ticks
        .iter()
        .map(|t| t.sensors[10])
        .fold(f32::INFINITY, f32::min);
    assert!(
        lowest >= floor - TOL_P,
        "the cup went down to {lowest}, the floor is {floor}"
    );
    assert!(
        lowest < floor + 0.01,
        "the cup stopped at {lowest}, far above {floor}"
    );
    // From the first cut on, the arm holds above the floor: shoulder and
    // elbow speeds are cut on every tick that would go lower.
    let cut_after = rec.ticks[first..]
        .iter()
        .filter(|t| t.events.has(SafetyEvents::WORKSPACE))
        .count();
    let rest = rec.ticks.len() - first;
    assert!(
        2 * cut_after >= rest,
        "{cut_after} cuts in the {rest} ticks from {first}"
    );
}
