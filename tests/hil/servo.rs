//! The Dynamixel servo bus against its emulator on a pseudo-terminal:
//! 10,000 Sync Write + Sync Read cycles with no frame lost or misparsed and
//! the servos following their goals (acceptance A), and each injected
//! fault — bad checksum, silence, a hardware error bit — latched by the
//! plant with its kind and servo, the bus put in its safe state (torque
//! off) on the cycle that detected it, and the sensors gone stale
//! (acceptance B). Then the shipped `robots/arm-servo.toml`: it loads, its
//! broken fields are named at their lines, and, pointed at the emulator
//! with `--set plant.device=…`, it runs the control loop with its policy.
//! Every wait has a deadline; nothing asserts on wall time.

use crate::common;
use std::time::{Duration, Instant};

use ganglion::assemble::{build_plant, load_any_policy};
use ganglion::config::{self, PlantConfig};
use ganglion::record::{SafetyEvents, SafetyState};
use ganglion::runtime::{ClockMode, ControlLoop, RunLimit};

use ganglion::io::serial::SerialPort;
use ganglion::servo::bus::present_block;
use ganglion::servo::protocol::BROADCAST_ID;
use ganglion::servo::table::{self, JointUnits};
use ganglion::servo::{
    Bus, BusError, CommandMode, Emulator, EmulatorOptions, InjectedFault, ServoBusConfig,
    ServoBusPlant, ServoFaultKind, ServoJoint,
};
use ganglion::sim::{Plant, PlantHealth};

const IDS: [u8; 6] = [1, 2, 3, 4, 5, 6];
/// Generous: a deadline for things that take milliseconds, so a loaded
/// machine never fails a test, and a broken build never hangs one.
const DEADLINE: Duration = Duration::from_secs(10);

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < until, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn fast_servos() -> EmulatorOptions {
    EmulatorOptions {
        time_constant_s: 0.02,
        max_velocity: 1000,
        ..EmulatorOptions::with_servos(6)
    }
}

fn open_bus(emu: &Emulator) -> Bus {
    let port = SerialPort::open(emu.path(), 1_000_000).unwrap();
    Bus::new(port, Duration::from_millis(200))
}

fn read_positions(bus: &mut Bus, out: &mut [i32; 6]) -> Result<(), BusError> {
    let mut block = [0u8; 60];
    let mut alerts = [false; 6];
    bus.sync_read(
        &IDS,
        table::PRESENT_LOAD,
        table::PRESENT_BLOCK_LEN,
        &mut block,
        &mut alerts,
    )?;
    assert!(!alerts.iter().any(|&a| a));
    for (i, p) in out.iter_mut().enumerate() {
        *p = present_block(&block[10 * i..]).unwrap().2;
    }
    Ok(())
}

/// Acceptance A: 10,000 cycles, each a Sync Write of six goal positions and
/// a Sync Read of six present blocks, as fast as the bus allows.
#[test]
fn ten_thousand_sync_cycles_lose_nothing_and_track_the_goals() {
    let _rt = common::serial();
    let emu = Emulator::start(fast_servos()).unwrap();
    let mut bus = open_bus(&emu);
    for &id in &IDS {
        let p = bus.ping(id).unwrap();
        assert_eq!((p.model, p.alert), (1020, false));
        bus.torque(id, true).unwrap();
    }
    const CYCLES: usize = 10_000;
    const PHASE: usize = 500;
    let mut pos = [0i32; 6];
    read_positions(&mut bus, &mut pos).unwrap();
    let base = emu.counters();
    let mut phase_start_err = [0i32; 6];
    let mut goals = [0i32; 6];
    let mut improved = 0;
    let t0 = Instant::now();
    for k in 0..CYCLES {
        if k % PHASE == 0 {
            // A new goal per servo each phase: alternately above and below
            // the middle, a different distance for each servo.
            let sign = if (k / PHASE).is_multiple_of(2) { 1 } else { -1 };
            for (i, g) in goals.iter_mut().enumerate() {
                *g = 2048 + sign * (200 + 100 * i as i32);
            }
        }
        bus.sync_write_i32(&IDS, table::GOAL_POSITION, &goals)
            .unwrap_or_else(|e| panic!("cycle {k}: {e}"));
        read_positions(&mut bus, &mut pos).unwrap_or_else(|e| panic!("cycle {k}: {e}"));
        if k % PHASE == 0 {
            for i in 0..6 {
                phase_start_err[i] = (goals[i] - pos[i]).abs();
            }
        }
        if k % PHASE == PHASE - 1 {
            // By the end of each phase every servo is nearer its goal.
            for i in 0..6 {
                let end = (goals[i] - pos[i]).abs();
                assert!(
                    end < phase_start_err[i],
                    "cycle {k}: servo {} went from {} to {end} ticks off its goal",
                    IDS[i],
                    phase_start_err[i]
                );
                improved += 1;
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let rate = CYCLES as f64 / secs;
    println!(
        "servo bus: {CYCLES} sync write + sync read cycles (6 servos) in {secs:.2} s = \
         {rate:.0} Hz (target 100 Hz)"
    );
    assert_eq!(improved, 6 * CYCLES / PHASE);
    // Nothing lost or misparsed on either side.
    let stats = bus.stats();
    assert_eq!(stats.errors, 0, "{stats:?}");
    let c = emu.counters();
    assert_eq!(c.bad_frames, 0, "{c:?}");
    assert_eq!(c.packets - base.packets, 2 * CYCLES as u64, "{c:?}");
    assert_eq!(c.replies - base.replies, 6 * CYCLES as u64, "{c:?}");
    // Held at the last goals, the servos settle on them, and what the bus
    // reads is what the emulator holds.
    wait_for("the servos to settle on their goals", || {
        read_positions(&mut bus, &mut pos).unwrap();
        pos.iter().zip(&goals).all(|(p, g)| (p - g).abs() <= 1)
    });
    std::thread::sleep(Duration::from_millis(20));
    read_positions(&mut bus, &mut pos).unwrap();
    for (i, &id) in IDS.iter().enumerate() {
        let s = emu.servo(id).unwrap();
        assert_eq!(s.position, pos[i], "servo {id}");
        assert_eq!(s.goal_position, goals[i], "servo {id}");
    }
}

#[test]
fn bus_errors_name_the_servo_and_never_hang() {
    let emu = Emulator::start(fast_servos()).unwrap();
    let mut bus = open_bus(&emu);
    bus.set_timeout(Duration::from_millis(30));
    // A servo that is not there: no reply, named.
    assert!(matches!(bus.ping(9), Err(BusError::NoReply { id: 9, .. })));
    let mut block = [0u8; 40];
    let mut alerts = [false; 4];
    let e = bus
        .sync_read(
            &[1, 2, 9, 4],
            table::PRESENT_POSITION,
            4,
            &mut block,
            &mut alerts,
        )
        .unwrap_err();
    assert!(matches!(e, BusError::NoReply { id: 9, .. }), "{e}");
    assert!(e.to_string().contains("servo 9"), "{e}");
    // Refusals come back typed: EEPROM while torque is on.
    bus.torque(2, true).unwrap();
    let e = bus.write(2, table::OPERATING_MODE, &[1]).unwrap_err();
    assert!(matches!(e, BusError::Status { id: 2, .. }), "{e}");
    // A bad checksum from one servo is that servo's error.
    emu.inject(InjectedFault::BadChecksum, Some(5));
    let e = bus
        .sync_read(
            &IDS,
            table::PRESENT_POSITION,
            4,
            &mut [0u8; 24],
            &mut [false; 6],
        )
        .unwrap_err();
    assert_eq!(e, BusError::BadCrc { id: 5 });
    emu.clear_faults();
    assert_eq!(bus.stats().bad_crc, 1);
    // The bus watchdog: 1 × 20 ms without instructions turns torque off.
    bus.write(2, table::BUS_WATCHDOG, &[1]).unwrap();
    wait_for("servo 2's watchdog", || {
        emu.servo(2).is_some_and(|s| !s.torque && s.watchdog == -1)
    });
    assert!(emu.counters().watchdog_trips >= 1);
    assert!(!emu.servo(1).unwrap().torque && emu.servo(3).unwrap().watchdog == 0);
    // Every reply still parses after all that.
    for &id in &IDS {
        bus.ping(id).unwrap();
    }
    bus.torque(BROADCAST_ID, false).unwrap();
}

fn joints() -> Vec<ServoJoint> {
    IDS.iter()
        .map(|&id| ServoJoint {
            name: format!("j{id}"),
            id,
            zero_tick: 2048,
            direction: if id % 2 == 0 { -1.0 } else { 1.0 },
            min_position: -1.5,
            max_position: 1.5,
            max_velocity: 20.0,
        })
        .collect()
}

fn plant_config(emu: &Emulator) -> ServoBusConfig {
    ServoBusConfig {
        device: emu.path().to_path_buf(),
        baud: 1_000_000,
        protocol: "dynamixel".into(),
        // Generous, so a loaded machine never times out a healthy bus; the
        // detection bounds below are in cycles.
        timeout_ms: 100,
        rate_hz: 200.0,
        mode: CommandMode::Position,
        watchdog_ms: 200,
        bad_reply_limit: 3,
        joints: joints(),
    }
}

fn sensors(plant: &mut ServoBusPlant) -> (Vec<f32>, Vec<f64>) {
    let n = plant.sensor_names().len();
    let (mut v, mut t) = (vec![0.0; n], vec![0.0; n]);
    plant.read_sensors(&mut v, &mut t);
    (v, t)
}

#[test]
fn plant_drives_the_servos_with_clamped_commands() {
    let emu = Emulator::start(fast_servos()).unwrap();
    let mut plant = ServoBusPlant::connect(plant_config(&emu)).unwrap();
    assert_eq!(plant.sensor_names().len(), 6 * 3 + 2);
    assert_eq!(plant.sensor_names()[0], "j1.position");
    assert_eq!(plant.sensor_names()[18], "bus.status");
    assert_eq!(plant.actuator_names()[5], "j6.position");
    assert!(emu.servos().iter().all(|s| s.torque && s.watchdog == 10));
    // j1 asked past its limit goes to 1.5 rad; j2 (direction −1) to −0.5.
    let cmd = [9.0, -0.5, 0.25, f32::NAN, 0.0, -0.1];
    plant.write_commands(&cmd);
    let units = JointUnits::default();
    wait_for("the goals to arrive", || {
        emu.servo(1).unwrap().goal_position == units.rad_to_ticks(1.5)
    });
    wait_for("the joints to follow", || {
        let (v, _) = sensors(&mut plant);
        (v[0] - 1.5).abs() < 0.01 && (v[3] + 0.5).abs() < 0.01 && (v[6] - 0.25).abs() < 0.01
    });
    assert_eq!(emu.servo(2).unwrap().goal_position, 2048 + 326); // −0.5 rad, flipped
    assert_eq!(emu.servo(4).unwrap().goal_position, 2048); // NaN: held where it was
    let (v, t) = sensors(&mut plant);
    assert_eq!((v[18], v[19]), (0.0, 0.0));
    assert!(t[0].is_finite() && t[0] <= plant.time());
    assert_eq!(plant.health(), PlantHealth::Ok);
    assert!(plant.fault().is_none());
    drop(plant);
    // Dropped, the plant leaves the servos without torque.
    wait_for("torque off after the drop", || {
        emu.servos().iter().all(|s| !s.torque)
    });
}

/// Acceptance B: a fault injected on servo 3 is latched with its kind and
/// servo, within `limit` cycles of the injection; torque goes off on the
/// detecting cycle; the joint sensors stop advancing.
fn fault_is_latched(fault: InjectedFault, expect: ServoFaultKind, limit: u64) {
    let emu = Emulator::start(fast_servos()).unwrap();
    let cfg = plant_config(&emu);
    let mut plant = ServoBusPlant::connect(cfg.clone()).unwrap();
    plant.write_commands(&[0.2; 6]);
    wait_for("samples", || {
        let (_, t) = sensors(&mut plant);
        plant.cycles() >= 10 && t[0].is_finite()
    });
    assert_eq!(plant.health(), PlantHealth::Ok);
    let c0 = plant.cycles();
    emu.inject(fault, Some(3));
    wait_for("the fault", || plant.health() == PlantHealth::Fault);
    let f = plant.fault().expect("a fault is latched");
    assert_eq!(f.kind, expect, "{f}");
    assert_eq!(f.servo, Some(3), "{f}");
    assert_eq!(f.joint.as_deref(), Some("j3"), "{f}");
    // Detected within `limit` cycles: each cycle's transaction waits at
    // most timeout_ms, so this bounds the detection by the timeout.
    assert!(
        f.cycle >= c0 && f.cycle <= c0 + limit,
        "injected at cycle {c0}, detected at {}: {f}",
        f.cycle
    );
    // The safe action went out on the cycle that detected the fault.
    wait_for("the safe action", || plant.safe_actions() >= 1);
    assert_eq!(plant.safe_action_cycle(), Some(f.cycle), "{f}");
    // Torque off on every servo (the faulty one included).
    wait_for("torque off everywhere", || {
        emu.servos().iter().all(|s| !s.torque)
    });
    assert!(emu.counters().injected >= 1);
    // The joints' stamps stop; bus.status says which fault.
    let (v1, t1) = sensors(&mut plant);
    let cycle = plant.cycles();
    wait_for("more cycles", || plant.cycles() >= cycle + 5);
    let (v2, t2) = sensors(&mut plant);
    assert_eq!(t1[..18], t2[..18], "sensor stamps advanced after the fault");
    assert_eq!(v1[..18], v2[..18]);
    assert_eq!(v2[18], expect.code() as f32);
    assert!(v2[19] >= 1.0 || matches!(expect, ServoFaultKind::HardwareError(_)));
    assert!(t2[18] > t1[18], "bus.status is always current");
    // Still latched (and torque still off) after the fault clears.
    emu.clear_faults();
    wait_for("more cycles", || plant.cycles() >= cycle + 10);
    assert_eq!(plant.health(), PlantHealth::Fault);
    assert_eq!(plant.fault().unwrap().cycle, f.cycle);
    assert!(emu.servos().iter().all(|s| !s.torque));
    println!("{f}");
}

#[test]
fn bad_checksum_faults_after_the_configured_run() {
    // bad_reply_limit = 3 bad cycles in a row (+1 for the cycle in flight).
    fault_is_latched(InjectedFault::BadChecksum, ServoFaultKind::BadChecksum, 3);
}

#[test]
fn silence_faults_on_the_first_timed_out_cycle() {
    fault_is_latched(InjectedFault::Silence, ServoFaultKind::Timeout, 1);
}

#[test]
fn hardware_error_bit_faults_at_once() {
    fault_is_latched(
        InjectedFault::HardwareError(table::hw::OVERHEATING),
        ServoFaultKind::HardwareError(table::hw::OVERHEATING),
        1,
    );
}

#[test]
fn a_servo_with_a_hardware_error_is_refused_at_connect() {
    let emu = Emulator::start(fast_servos()).unwrap();
    emu.inject(InjectedFault::HardwareError(table::hw::OVERLOAD), Some(4));
    let e = ServoBusPlant::connect(plant_config(&emu)).err().unwrap();
    let msg = format!("{e:#}");
    assert!(msg.contains("servo 4") && msg.contains("overload"), "{msg}");
    let mut cfg = plant_config(&emu);
    cfg.joints[2].id = 7;
    let e = ServoBusPlant::connect(cfg).err().unwrap();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("j3 (servo 7)") && msg.contains("ping"),
        "{msg}"
    );
}

// ─── robots/arm-servo.toml ──────────────────────────────────────────────────

fn arm_servo() -> std::path::PathBuf {
    common::repo().join("robots/arm-servo.toml")
}

#[test]
fn shipped_servo_config_loads() {
    let cfg = config::load(&arm_servo()).unwrap_or_else(|e| panic!("{e}"));
    let PlantConfig::Servo(c) = &cfg.plant else {
        panic!("not a servo plant: {:?}", cfg.plant)
    };
    assert_eq!(c.device, std::path::Path::new("/dev/ttyUSB0"));
    assert_eq!((c.baud, c.timeout_ms, c.rate_hz), (1_000_000, 20, 100.0));
    assert_eq!(
        (c.mode, c.watchdog_ms, c.bad_reply_limit),
        (CommandMode::Position, 100, 3)
    );
    assert_eq!(c.joints.len(), 6);
    let ids: Vec<u8> = c.joints.iter().map(|j| j.id).collect();
    assert_eq!(ids, IDS);
    assert_eq!(c.joints[2].direction, -1.0);
    assert_eq!(c.joints[5].zero_tick, 1500);
    assert_eq!(cfg.action.actuators[0], "base.position");
}

#[test]
fn broken_servo_fields_are_reported_where_they_are() {
    let text = std::fs::read_to_string(arm_servo()).unwrap();
    let line_of = |needle: &str, nth: usize| {
        text.lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with(needle))
            .nth(nth)
            .map(|(i, _)| i + 1)
    };
    let cases = [
        (
            "baud = 1000000",
            "baud = 12345",
            0,
            "plant.baud",
            "must be one of",
        ),
        ("id = 2", "id = 1", 0, "plant.joints[1].id", "servo id 1"),
        ("id = 3", "id = 300", 0, "plant.joints[2].id", "in 0..=252"),
        (
            "max_position = 2.5",
            "max_position = 3.5",
            0,
            "plant.joints[0].max_position",
            "outside the servo's position range",
        ),
        (
            "direction = -1",
            "direction = 0.5",
            0,
            "plant.joints[2].direction",
            "1 or -1",
        ),
        (
            "mode = \"position\"",
            "mode = \"torque\"",
            0,
            "plant.mode",
            "\"velocity\"",
        ),
        (
            "name = \"elbow\"",
            "name = \"base\"",
            0,
            "plant.joints[2].name",
            "twice",
        ),
        (
            "max_velocity = 3.0",
            "max_velocity = 0",
            0,
            "plant.joints[0].max_velocity",
            "above 0",
        ),
        (
            "kind = \"servo:dynamixel\"",
            "kind = \"servo:feetech\"",
            0,
            "plant.kind",
            "unknown servo protocol",
        ),
        (
            "timeout_ms = 20",
            "timeout_ms = 20\ndevcie = \"x\"",
            0,
            "plant.devcie",
            "unknown key",
        ),
    ];
    for (from, to, nth, field, says) in cases {
        let at = line_of(from, nth).unwrap_or_else(|| panic!("`{from}` not in the file"));
        // Replace on that line only (the header's comments quote the keys).
        let broken: Vec<String> = text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i + 1 == at {
                    l.replacen(from, to, 1)
                } else {
                    l.to_string()
                }
            })
            .collect();
        let broken = broken.join("\n");
        let p = crate::common::problem_at(&arm_servo(), &broken, field, to);
        assert!(p.message.contains(says), "`{to}`: {}", p.message);
        // At the changed line (an added key: the line after it).
        let want = if field == "plant.devcie" { at + 1 } else { at };
        assert_eq!(p.line, Some(want), "`{to}`: {p}");
    }
    // A joint actuator the config's plant does not have.
    let at = text.rfind("\"gripper.position\"").unwrap();
    let broken = format!("{}\"hand.position\"{}", &text[..at], &text[at + 18..]);
    let errs = config::parse(&arm_servo(), &broken).expect_err("rejected");
    assert!(
        errs.to_string()
            .contains("`hand.position` is not an actuator"),
        "{errs}"
    );
}

/// The shipped config, pointed at an emulator with `--set plant.device=`,
/// runs the loop with its home policy: the arm moves home; then a silent
/// servo faults the plant and the loop sees it.
#[test]
fn servo_config_runs_the_loop_against_the_emulator() {
    let _rt = common::serial();
    let emu = Emulator::start(EmulatorOptions {
        initial_position: 2600,
        ..fast_servos()
    })
    .unwrap();
    let set = [
        format!("plant.device={}", emu.path().display()),
        // As in plant_config: no spurious timeout on a loaded machine.
        "plant.timeout_ms=100".to_string(),
    ];
    let cfg = config::load_with_overrides(&arm_servo(), config::Integrity::Verify, &set)
        .unwrap_or_else(|e| panic!("{e}"));
    let plant = build_plant(&cfg.plant).unwrap();
    let policy = load_any_policy(&cfg).unwrap();
    let mut lp = ControlLoop::new(&cfg, plant, policy, ClockMode::Wall, None).unwrap();
    lp.run(RunLimit {
        ticks: Some(40),
        ..Default::default()
    });
    assert_eq!(lp.ticks(), 40);
    assert_eq!(lp.state(), SafetyState::Normal);
    // 2600 ticks is 0.86 rad on the base (its zero at 2048): its goals and
    // its position went home-wards. The gripper (zero at 1500) comes down.
    let base = emu.servo(1).unwrap();
    assert!(base.goal_position < 2600 - 40, "{base:?}");
    assert!(base.position < 2600, "{base:?}");
    let grip = emu.servo(6).unwrap();
    assert!(grip.goal_position < 2600 - 40, "{grip:?}");
    // elbow: direction −1, so 2600 is −0.86 rad and home is up from there
    // in ticks as well (2048).
    assert!(emu.servo(3).unwrap().goal_position < 2600);
    assert!(lp.last_command()[0] < 0.86 && lp.last_command()[0] > -0.01);
    assert_eq!(emu.counters().bad_frames, 0);
    // A servo goes silent: the plant faults, the loop sees it and sends its
    // safe action; the servos lose torque.
    emu.inject(InjectedFault::Silence, Some(4));
    lp.run(RunLimit {
        ticks: Some(80),
        ..Default::default()
    });
    assert_eq!(lp.plant().health(), PlantHealth::Fault);
    let r = lp.last_record();
    assert!(r.events.has(SafetyEvents::NODE_FAULT), "{:?}", r.events);
    // The safe action, and after 20 bad ticks in a row the latched e-stop.
    assert_ne!(r.state, SafetyState::Normal);
    assert!(emu.servos().iter().all(|s| !s.torque));
}
