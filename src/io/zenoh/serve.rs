//! The robot side over zenoh (`ganglion sim serve`): a simulated plant runs
//! in real time, publishes its sensors every physics step on
//! `ganglion/{robot}/sensors`, applies the newest command from
//! `ganglion/{robot}/commands`, and has its own command watchdog: when no
//! command has arrived for `watchdog`, it applies zero force (its safe state)
//! and says so (flag in the sensor frames, an event line, the status key).
//! Physics waits for the first command, so the robot does not fall while its
//! controller starts.
//!
//! One controller at a time (`single_controller`, `owner.rs`): commands from
//! a second controller are dropped, counted (`commands_refused`) and
//! reported (a `controller_refused` event); its sensor frames name the
//! owner. A robot without mutual TLS warns at start (`serving` event) and
//! reports `command_auth: "none"` in every status message.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use ganglion_sim::make_plant;
use serde::{Deserialize, Serialize};
use zenoh::Wait;
use zenoh::qos::CongestionControl;

use super::owner::{CommandAuth, CommandOwner, id_text, owner_flags};
use super::slot::LatestSlot;
use super::wire::{FLAG_ESTOP, FLAG_IN_ENVELOPE, FLAG_WATCHDOG, Frame, Kind};
use super::{Endpoints, Keys, LinkSecurity, open, zerr};

#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub robot: String,
    /// The simulated plant kind (`sim:cartpole`).
    pub kind: String,
    pub endpoints: Endpoints,
    pub security: LinkSecurity,
    pub seed: u64,
    /// Physics steps (and sensor frames) per second.
    pub rate_hz: f64,
    pub watchdog: Duration,
    /// Stop after this long (None: until `stop`).
    pub duration: Option<Duration>,
    /// Obey only the first controller to command, until it goes silent
    /// past `watchdog`; drop and count the others' commands.
    pub single_controller: bool,
}

/// What the robot reports on `ganglion/{robot}/status` (~10 Hz) and at exit.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RobotStatus {
    pub robot: String,
    pub time_s: f64,
    pub steps: u64,
    pub sensor_frames: u64,
    pub commands_received: u64,
    pub command_decode_errors: u64,
    /// Age of the newest command (ms; None before the first).
    pub last_command_age_ms: Option<f64>,
    pub watchdog_trips: u64,
    /// Whether the robot is in its safe state (zero force) now.
    pub safe: bool,
    pub estop: bool,
    pub in_envelope: bool,
    /// Force (actuator values) applied in the last step.
    pub applied: Vec<f32>,
    /// Who may command it: "none" (any peer: no mutual TLS), "mtls" (any
    /// certificate of the CA), "mtls+cn" (only the named controller).
    #[serde(default)]
    pub command_auth: String,
    /// Whether it obeys one controller at a time.
    #[serde(default)]
    pub single_controller: bool,
    /// The controller that commands it (id), once one has.
    #[serde(default)]
    pub controller: Option<String>,
    /// Commands from other controllers than the owner: dropped when
    /// `single_controller`, applied otherwise.
    #[serde(default)]
    pub commands_refused: u64,
    #[serde(default)]
    pub other_controller_commands: u64,
}

/// One event line `serve` prints (JSON) as it happens.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ServeEvent {
    pub event: String,
    pub time_s: f64,
    /// Watchdog: how old the newest command was when it fired (ms).
    pub command_age_ms: Option<f64>,
    /// `serving`: who may command the robot (`RobotStatus::command_auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_auth: Option<String>,
    /// `serving`: what is unsafe about how it is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// `controller_bound` / `controller_refused` / `second_controller`: whose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// `controller_refused` / `second_controller`: that controller's
    /// commands so far (all other controllers together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<u64>,
}

impl ServeEvent {
    fn at(event: &str, time_s: f64, command_age_ms: Option<f64>) -> Self {
        ServeEvent {
            event: event.into(),
            time_s,
            command_age_ms,
            ..Default::default()
        }
    }
}

/// Runs the robot until `stop` (or `duration`); `on_event` sees each event.
pub fn serve(
    opts: &ServeOptions,
    stop: &AtomicBool,
    mut on_event: impl FnMut(&ServeEvent),
) -> Result<RobotStatus> {
    if !super::valid_robot_name(&opts.robot) {
        bail!("robot name {:?} cannot be a key expression", opts.robot);
    }
    if !(opts.rate_hz > 0.0 && opts.rate_hz <= 10_000.0) {
        bail!("rate {} Hz must be in (0, 10000]", opts.rate_hz);
    }
    let Some(mut plant) = make_plant(&opts.kind) else {
        bail!("plant kind `{}` is not built into this binary", opts.kind);
    };
    plant.reset(opts.seed);
    let n_act = plant.actuator_names().len();
    let n_sens = plant.sensor_names().len();
    let session = open(&opts.endpoints, &opts.security, Some(&opts.robot))?;
    let keys = Keys::new(&opts.robot);
    let epoch = Instant::now();
    let commands = Arc::new(LatestSlot::new(epoch));
    let decode_errors = Arc::new(AtomicU64::new(0));
    let estop = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(CommandOwner::new(opts.single_controller, opts.watchdog));
    let auth = CommandAuth::of(&opts.endpoints, &opts.security);
    let _cmd_sub = {
        let slot = commands.clone();
        let errors = decode_errors.clone();
        let gate = gate.clone();
        zerr(
            session
                .declare_subscriber(keys.commands.clone())
                .callback(move |sample| {
                    let at = Instant::now();
                    match Frame::decode(Kind::Commands, &sample.payload().to_bytes()) {
                        Ok(f) if f.n == n_act && f.values().iter().all(|v| v.is_finite()) => {
                            if gate.admit(f.flags, at) {
                                slot.store(&f, at)
                            }
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
                .wait(),
            "subscribing to commands",
        )?
    };
    let _estop_sub = {
        let estop = estop.clone();
        zerr(
            session
                .declare_subscriber(keys.estop.clone())
                .callback(move |sample| {
                    let reset = &*sample.payload().to_bytes() == b"reset";
                    estop.store(!reset, Ordering::Release);
                })
                .wait(),
            "subscribing to the e-stop",
        )?
    };
    let sensors_pub = zerr(
        session
            .declare_publisher(keys.sensors.clone())
            .congestion_control(CongestionControl::Drop)
            .express(true)
            .wait(),
        "declaring the sensor publisher",
    )?;
    let status_pub = zerr(
        session.declare_publisher(keys.status.clone()).wait(),
        "declaring the status publisher",
    )?;

    on_event(&ServeEvent {
        command_auth: Some(auth.name().into()),
        warning: auth.warning(&opts.robot, &opts.endpoints),
        ..ServeEvent::at("serving", 0.0, None)
    });
    let period = Duration::from_secs_f64(1.0 / opts.rate_hz);
    let dt = period.as_secs_f64();
    let mut values = vec![0.0f32; n_sens];
    let mut stamps = vec![0.0f64; n_sens];
    let mut applied = vec![0.0f32; n_act];
    let mut status = RobotStatus {
        robot: opts.robot.clone(),
        safe: true,
        command_auth: auth.name().into(),
        single_controller: opts.single_controller,
        ..Default::default()
    };
    let (mut owner_changes, mut reported_other) = (0u64, None);
    let mut seq = 0u64;
    let mut started = false;
    let mut physics_t0 = Instant::now();
    let mut tripped = false;
    let mut last_seq = 0u64;
    let mut next_status = Instant::now();
    let t0 = Instant::now();
    let mut k: u64 = 0;
    let mut buf = Vec::new();
    loop {
        if stop.load(Ordering::Acquire) || opts.duration.is_some_and(|d| t0.elapsed() >= d) {
            break;
        }
        let deadline = t0 + period.mul_f64(k as f64);
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        k += 1;
        let now = Instant::now();
        let latest = commands.load();
        let age = latest.map(|l| now.saturating_duration_since(epoch).as_secs_f64() - l.received_s);
        if let Some(l) = &latest
            && l.frame.seq != last_seq
        {
            last_seq = l.frame.seq;
            status.commands_received = commands.writes();
            if !started {
                started = true;
                physics_t0 = now;
                on_event(&ServeEvent::at("first_command", plant.time(), None));
            }
        }
        let fresh = age.is_some_and(|a| a <= opts.watchdog.as_secs_f64());
        let estopped = estop.load(Ordering::Acquire);
        if estopped != status.estop {
            on_event(&ServeEvent::at(
                if estopped { "estop" } else { "estop_reset" },
                plant.time(),
                age.map(|a| a * 1e3),
            ));
        }
        if started && !fresh && !tripped {
            tripped = true;
            status.watchdog_trips += 1;
            on_event(&ServeEvent::at(
                "watchdog",
                plant.time(),
                age.map(|a| a * 1e3),
            ));
        } else if tripped && fresh {
            tripped = false;
            on_event(&ServeEvent::at(
                "commands_resumed",
                plant.time(),
                age.map(|a| a * 1e3),
            ));
        }
        if gate.changes() != owner_changes {
            owner_changes = gate.changes();
            status.controller = gate.owner().map(id_text);
            reported_other = None;
            on_event(&ServeEvent {
                controller: status.controller.clone(),
                ..ServeEvent::at("controller_bound", plant.time(), None)
            });
        }
        let (others, other) = gate.others();
        if others > 0 && reported_other != Some(other) && Some(other) != gate.owner() {
            reported_other = Some(other);
            on_event(&ServeEvent {
                controller: Some(id_text(other)),
                commands: Some(others),
                ..ServeEvent::at(
                    if gate.single() {
                        "controller_refused"
                    } else {
                        "second_controller"
                    },
                    plant.time(),
                    None,
                )
            });
        }
        if gate.single() {
            status.commands_refused = others;
        }
        status.other_controller_commands = others;
        let safe = !fresh || estopped;
        match (&latest, safe) {
            (Some(l), false) => applied.copy_from_slice(&l.frame.values[..n_act]),
            _ => applied.fill(0.0),
        }
        if started {
            // Catch up whole periods the thread slept past (real time).
            let due = (physics_t0.elapsed().as_secs_f64() / dt) as u64 + 1;
            let steps = due.saturating_sub(status.steps).clamp(1, 10);
            plant.write_commands(&applied);
            for _ in 0..steps {
                plant.advance(dt);
            }
            status.steps += steps;
        }
        plant.read_sensors(&mut values, &mut stamps);
        let mut flags = 0;
        if plant.in_envelope() {
            flags |= FLAG_IN_ENVELOPE;
        }
        if tripped || !started {
            flags |= FLAG_WATCHDOG;
        }
        if estopped {
            flags |= FLAG_ESTOP;
        }
        if gate.single() && fresh {
            // Owned while its owner's commands are fresh; after that the
            // next controller to command takes it.
            flags |= owner_flags(gate.owner());
        }
        seq += 1;
        let frame = Frame::new(seq, plant.time(), flags, &values);
        buf.resize(frame.encoded_len(), 0);
        frame.encode(Kind::Sensors, &mut buf);
        let _ = sensors_pub.put(buf.as_slice()).wait();
        status.sensor_frames = seq;
        status.safe = safe;
        status.estop = estopped;
        status.in_envelope = plant.in_envelope();
        status.applied.clone_from(&applied);
        status.last_command_age_ms = age.map(|a| a * 1e3);
        status.command_decode_errors = decode_errors.load(Ordering::Relaxed);
        status.time_s = plant.time();
        if now >= next_status {
            next_status = now + Duration::from_millis(100);
            if let Ok(text) = serde_json::to_string(&status) {
                let _ = status_pub.put(text).wait();
            }
        }
    }
    let _ = session.close().wait();
    Ok(status)
}
