//! Two processes on loopback: `ganglion sim serve` (the robot) and
//! `ganglion run` with a zenoh plant (the controller). The controller keeps
//! the CartPole pole up for 500 ticks; killing the controller trips the
//! robot's command watchdog (zero force); killing the robot makes the
//! controller's safety filter act on the stale sensor stream.

use super::sim_robot::{BIN, Robot, config, top_view_of_cartpole};
use crate::common::{free_port, serial};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ganglion::record::reader::read_recording;
use ganglion::record::{SafetyEvents, SafetyState};
use serde_json::Value;

const WATCHDOG_MS: u64 = 100;

fn controller(cfg: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(["run", "--config"]).arg(cfg).args(extra);
    c
}

/// A test's setup: a scratch dir, the shipped config on a free port, and
/// the robot serving there.
fn robot_on_a_free_port() -> (tempfile::TempDir, u16, PathBuf, Robot) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let cfg = config(dir.path(), port);
    let robot = Robot::start(port, WATCHDOG_MS);
    robot.wait_for("serving", 30);
    (dir, port, cfg, robot)
}

/// Starts the controller `run` and waits until the robot has its first
/// command.
fn start_controller(mut run: Command, stdout: Stdio, robot: &Robot) -> Child {
    let child = run.stdout(stdout).spawn().expect("run");
    robot.wait_for("first_command", 30);
    child
}

#[test]
fn remote_cartpole_stays_up_for_500_ticks() {
    let _serial = serial();
    let (_dir, _, cfg, robot) = robot_on_a_free_port();
    let out = controller(&cfg, &["--ticks", "500", "--json"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("run --json");
    assert_eq!(report["ticks"], 500);
    assert_eq!(report["plant"], "zenoh");
    assert_eq!(report["clock"], "wall clock");
    assert_eq!(report["in_envelope"], true, "pole fell: {report}");
    assert!(
        report["safety_events"].get("stale_sensor").is_none(),
        "stale sensors on a live link: {report}"
    );
    robot.wait_for("first_command", 5);
    // The controller exited: the robot's watchdog puts it in its safe state.
    let wd = robot.wait_for("watchdog", 10);
    let age = wd["command_age_ms"].as_f64().expect("age");
    assert!(age >= WATCHDOG_MS as f64, "{wd}");
}

#[test]
fn killing_the_controller_trips_the_robot_watchdog() {
    let _serial = serial();
    let (_dir, _, cfg, robot) = robot_on_a_free_port();
    let mut ctl = start_controller(
        controller(&cfg, &["--seconds", "60"]),
        Stdio::null(),
        &robot,
    );
    std::thread::sleep(Duration::from_millis(500));
    ctl.kill().expect("kill controller");
    let _ = ctl.wait();
    let wd = robot.wait_for("watchdog", 10);
    let age = wd["command_age_ms"].as_f64().expect("age");
    // It fires on the first physics step (1 ms) past the timeout; the margin
    // only absorbs scheduling delays of a loaded machine.
    assert!(
        age >= WATCHDOG_MS as f64 && age <= 2.0 * WATCHDOG_MS as f64,
        "watchdog fired at command age {age} ms: {wd}"
    );
    // Stop the robot (SIGTERM) and check its final state: safe, zero force.
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(robot.child.id() as i32, libc::SIGTERM);
    }
    let exit = robot.wait_for("exit", 10);
    assert_eq!(exit["status"]["safe"], true, "{exit}");
    assert_eq!(exit["status"]["applied"][0], 0.0, "{exit}");
    assert_eq!(exit["status"]["watchdog_trips"], 1, "{exit}");
}

#[test]
fn killing_the_robot_makes_the_controller_safe() {
    let _serial = serial();
    let (dir, _, cfg, mut robot) = robot_on_a_free_port();
    let rec = dir.path().join("run.mcap");
    let mut run = controller(&cfg, &["--seconds", "3", "--json", "--record"]);
    run.arg(&rec);
    let ctl = start_controller(run, Stdio::piped(), &robot);
    std::thread::sleep(Duration::from_millis(1000));
    robot.child.kill().expect("kill robot");
    let _ = robot.child.wait();
    let out = ctl.wait_with_output().expect("controller");
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).expect("run --json");
    assert!(
        report["safety_events"]["stale_sensor"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{report}"
    );
    // Safe at once; twenty stale cycles later the missed-cycle rule latches
    // the e-stop (the robot stayed dead for two seconds), so the run ends
    // e-stopped, as Franka's controller does after 20 missed packets.
    assert_eq!(report["final_state"], "estop", "{report}");
    assert_eq!(report["safety_events"]["missed_cycles"], 1, "{report}");

    // In the recording: the sensors freeze when the robot dies; the first
    // stale tick comes within the staleness timeout (+ one tick) of the last
    // change, and from then on every command is the safe action (zero).
    let r = read_recording(&rec).expect("recording");
    let period = 1.0 / 50.0;
    let stale_after = 0.1;
    let last_change = r
        .ticks
        .windows(2)
        .filter(|w| w[0].sensors != w[1].sensors)
        .map(|w| w[1].time)
        .fold(f64::NAN, f64::max);
    // (A loaded machine may have flagged a late frame earlier, which is the
    // filter doing its job; the check is on the stop.)
    let first_stale = r
        .ticks
        .iter()
        .find(|t| t.time > last_change && t.events.has(SafetyEvents::STALE_SENSOR))
        .expect("a stale tick after the stream stopped");
    assert!(
        first_stale.time - last_change <= stale_after + 2.0 * period,
        "stale only {} s after the last sensor change",
        first_stale.time - last_change
    );
    for t in r.ticks.iter().filter(|t| t.time >= first_stale.time) {
        assert_eq!(t.command, vec![0.0], "tick {} at {}", t.tick, t.time);
    }
    let latched = r
        .ticks
        .iter()
        .position(|t| t.events.has(SafetyEvents::MISSED_CYCLES))
        .expect("the missed-cycle rule latched");
    assert!(r.ticks[latched].time >= first_stale.time);
    for t in &r.ticks[latched + 1..] {
        assert_eq!(
            t.state,
            SafetyState::EStopped,
            "tick {} at {}",
            t.tick,
            t.time
        );
    }
}

#[test]
fn top_sees_the_controller_telemetry_and_the_robot_status() {
    let _serial = serial();
    let (_dir, port, cfg, robot) = robot_on_a_free_port();
    let mut ctl = start_controller(
        controller(&cfg, &["--seconds", "30"]),
        Stdio::null(),
        &robot,
    );
    let v = top_view_of_cartpole(port);
    let _ = ctl.kill();
    let _ = ctl.wait();
    let t = &v["telemetry"];
    assert!(t["ticks"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(t["rate_hz"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
    assert_eq!(t["state"], "normal", "{v}");
    assert!(t["sensor_frames"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(
        v["status"]["commands_received"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
}

#[test]
fn an_estop_over_zenoh_stops_the_robot_and_the_controller() {
    let _serial = serial();
    let (dir, port, cfg, robot) = robot_on_a_free_port();
    let rec = dir.path().join("run.mcap");
    let mut run = controller(&cfg, &["--seconds", "4", "--json", "--record"]);
    run.arg(&rec);
    let ctl = start_controller(run, Stdio::piped(), &robot);
    std::thread::sleep(Duration::from_millis(1000));
    // A third process, as an operator would: `ganglion estop`.
    let out = Command::new(BIN)
        .args(["estop", "--robot", "cartpole", "--json", "--connect"])
        .arg(format!("tcp/127.0.0.1:{port}"))
        .output()
        .expect("estop");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said: Value = serde_json::from_slice(&out.stdout).expect("estop --json");
    assert_eq!(said["robot_confirmed"], true, "{said}");
    assert_eq!(said["controller_confirmed"], true, "{said}");
    robot.wait_for("estop", 5);

    let out = ctl.wait_with_output().expect("controller");
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).expect("run --json");
    assert_eq!(report["final_state"], "estop", "{report}");
    // The e-stop is the controller's last word: from its first e-stop tick
    // on, every command is the e-stop action (zero), and it comes after the
    // loop had been running normally.
    let r = read_recording(&rec).expect("recording");
    let first = r
        .ticks
        .iter()
        .position(|t| t.events.has(SafetyEvents::ESTOP))
        .expect("an e-stop tick");
    assert!(first > 10, "e-stop at tick {first}, before the loop ran");
    for t in &r.ticks[first..] {
        assert_eq!(t.command, vec![0.0], "tick {} at {}", t.tick, t.time);
    }

    // The robot: latched, zero force, until told otherwise.
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(robot.child.id() as i32, libc::SIGTERM);
    }
    let exit = robot.wait_for("exit", 10);
    assert_eq!(exit["status"]["estop"], true, "{exit}");
    assert_eq!(exit["status"]["safe"], true, "{exit}");
    assert_eq!(exit["status"]["applied"][0], 0.0, "{exit}");
}

#[test]
fn estop_without_a_robot_is_a_clear_error() {
    let port = free_port();
    let out = Command::new(BIN)
        .args(["estop", "--timeout", "0.5", "--connect"])
        .arg(format!("tcp/127.0.0.1:{port}"))
        .output()
        .expect("estop");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}
