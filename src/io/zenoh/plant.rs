//! `ZenohPlant`: the controller's `Plant` over zenoh. Sensors arrive on
//! `ganglion/{robot}/sensors` (a subscriber callback stores each frame in a
//! latest-value slot); commands leave on `ganglion/{robot}/commands` (the tick
//! stores them in a slot and unparks a publisher thread). A tick only copies
//! in and out of slots: no allocation, no lock, no blocking call.
//!
//! Time runs by itself (`ClockMode::Wall`): loop time is seconds since the
//! first `read_sensors`, and each sensor's stamp is the frame's receipt time
//! on that clock, so a stream that stops (the robot died, the link broke)
//! goes stale and the safety filter acts.
//!
//! Each plant has a random controller id, sent with every command. Health
//! (`Plant::health`) comes from the robot's sensor flags: its e-stop latched
//! (by anyone, even before this controller started) is `EStop`; a
//! single-controller robot owned by another controller (our commands are
//! dropped) is `Fault`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use ganglion_sim::{Plant, PlantHealth, plant_signature};
use zenoh::Wait;
use zenoh::pubsub::Subscriber;
use zenoh::qos::CongestionControl;

use super::owner::{new_controller_id, owned_by_other};
use super::slot::LatestSlot;
use super::wire::{FLAG_ESTOP, FLAG_IN_ENVELOPE, Frame, Kind, MAX_VALUES};
use super::{Endpoints, Keys, LinkSecurity, open, wait_for_peer, zerr};

/// How to reach a robot.
#[derive(Clone, Debug)]
pub struct ZenohPlantOptions {
    pub robot: String,
    /// The robot's sensor and actuator layout: a plant kind (`sim:cartpole`).
    pub layout: String,
    pub endpoints: Endpoints,
    pub security: LinkSecurity,
    /// How long to wait for the first peer and the first sensor frame.
    pub connect_timeout: Duration,
}

/// Counters shared with service threads.
#[derive(Default, Debug)]
pub struct LinkCounters {
    pub sensor_frames: AtomicU64,
    pub decode_errors: AtomicU64,
    pub commands_sent: AtomicU64,
    pub publish_errors: AtomicU64,
}

pub struct ZenohPlant {
    sensors: &'static [&'static str],
    actuators: &'static [&'static str],
    session: zenoh::Session,
    keys: Keys,
    _sensor_sub: Subscriber<()>,
    sensor_slot: Arc<LatestSlot>,
    command_slot: Arc<LatestSlot>,
    publisher: Option<JoinHandle<()>>,
    publisher_thread: std::thread::Thread,
    stop: Arc<AtomicBool>,
    counters: Arc<LinkCounters>,
    /// The loop's time origin (the first `read_sensors`).
    loop_epoch: Option<Instant>,
    /// `loop_epoch − slot epoch`, seconds.
    epoch_offset: f64,
    command_seq: u64,
    in_envelope: bool,
    robot_flags: u32,
    /// This controller's id, in every command frame.
    id: u32,
}

impl ZenohPlant {
    /// Opens the session, subscribes to the robot's sensors and waits (up to
    /// `connect_timeout`) for a peer and the first sensor frame.
    pub fn connect(opts: ZenohPlantOptions) -> Result<Self> {
        let Some((sensors, actuators)) = plant_signature(&opts.layout) else {
            bail!("no sensor layout for `{}`", opts.layout);
        };
        if !super::valid_robot_name(&opts.robot) {
            bail!("robot name {:?} cannot be a key expression", opts.robot);
        }
        let session = open(&opts.endpoints, &opts.security, None)?;
        let keys = Keys::new(&opts.robot);
        let epoch = Instant::now();
        let sensor_slot = Arc::new(LatestSlot::new(epoch));
        let command_slot = Arc::new(LatestSlot::new(epoch));
        let counters = Arc::new(LinkCounters::default());
        let n_sensors = sensors.len();
        let sensor_sub = {
            let slot = sensor_slot.clone();
            let counters = counters.clone();
            zerr(
                session
                    .declare_subscriber(keys.sensors.clone())
                    .callback(move |sample| {
                        let at = Instant::now();
                        let bytes = sample.payload().to_bytes();
                        match Frame::decode(Kind::Sensors, &bytes) {
                            Ok(f) if f.n == n_sensors => {
                                slot.store(&f, at);
                                counters.sensor_frames.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    })
                    .wait(),
                "subscribing to the robot's sensors",
            )?
        };
        let stop = Arc::new(AtomicBool::new(false));
        let publisher = {
            let p = zerr(
                session
                    .declare_publisher(keys.commands.clone())
                    .congestion_control(CongestionControl::Drop)
                    .express(true)
                    .wait(),
                "declaring the command publisher",
            )?;
            let slot = command_slot.clone();
            let stop = stop.clone();
            let counters = counters.clone();
            std::thread::Builder::new()
                .name("zenoh-commands".into())
                .spawn(move || {
                    let mut last = 0;
                    let mut buf = [0u8; super::wire::HEADER + 4 * MAX_VALUES];
                    while !stop.load(Ordering::Acquire) {
                        let v = slot.version();
                        if v == last || v % 2 == 1 {
                            std::thread::park_timeout(Duration::from_millis(50));
                            continue;
                        }
                        last = v;
                        if let Some(l) = slot.load() {
                            let n = l.frame.encode(Kind::Commands, &mut buf);
                            if p.put(&buf[..n]).wait().is_ok() {
                                counters.commands_sent.fetch_add(1, Ordering::Relaxed);
                            } else {
                                counters.publish_errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
                .map_err(|e| anyhow!("spawning the command publisher thread: {e}"))?
        };
        let publisher_thread = publisher.thread().clone();
        let plant = ZenohPlant {
            sensors,
            actuators,
            session,
            keys,
            _sensor_sub: sensor_sub,
            sensor_slot,
            command_slot,
            publisher: Some(publisher),
            publisher_thread,
            stop,
            counters,
            loop_epoch: None,
            epoch_offset: 0.0,
            command_seq: 0,
            in_envelope: true,
            robot_flags: 0,
            id: new_controller_id(),
        };
        let until = Instant::now() + opts.connect_timeout;
        wait_for_peer(&plant.session, opts.connect_timeout).map_err(|e| {
            anyhow!(
                "robot `{}` at {:?}: {e}",
                opts.robot,
                opts.endpoints.connect
            )
        })?;
        while plant.sensor_slot.load().is_none() {
            if Instant::now() >= until {
                bail!(
                    "robot `{}`: connected, but no sensor frame on `{}` within {:.1} s ({} undecodable)",
                    opts.robot,
                    plant.keys.sensors,
                    opts.connect_timeout.as_secs_f64(),
                    plant.counters.decode_errors.load(Ordering::Relaxed)
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(plant)
    }

    /// The session (telemetry and e-stop services share it).
    pub fn session(&self) -> &zenoh::Session {
        &self.session
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn counters(&self) -> Arc<LinkCounters> {
        self.counters.clone()
    }

    /// The id this controller sends with its commands.
    pub fn controller_id(&self) -> u32 {
        self.id
    }

    /// The robot's flags in its newest sensor frame (`wire::FLAG_*`).
    pub fn robot_flags(&self) -> u32 {
        self.robot_flags
    }

    fn now(&mut self) -> f64 {
        let epoch = match self.loop_epoch {
            Some(e) => e,
            None => {
                let e = Instant::now();
                self.epoch_offset = e
                    .saturating_duration_since(self.sensor_slot.epoch())
                    .as_secs_f64();
                self.loop_epoch = Some(e);
                e
            }
        };
        epoch.elapsed().as_secs_f64()
    }
}

impl Plant for ZenohPlant {
    fn sensor_names(&self) -> &'static [&'static str] {
        self.sensors
    }

    fn actuator_names(&self) -> &'static [&'static str] {
        self.actuators
    }

    /// The remote robot runs by itself; a reset only restarts loop time.
    fn reset(&mut self, _seed: u64) {}

    fn read_sensors(&mut self, values: &mut [f32], stamps: &mut [f64]) {
        self.now();
        match self.sensor_slot.load() {
            Some(l) => {
                let n = values.len().min(l.frame.n);
                values[..n].copy_from_slice(&l.frame.values[..n]);
                let stamp = l.received_s - self.epoch_offset;
                stamps[..n].fill(stamp);
                stamps[n..].fill(f64::NEG_INFINITY);
                self.robot_flags = l.frame.flags;
                self.in_envelope = l.frame.flags & FLAG_IN_ENVELOPE != 0;
            }
            None => {
                values.fill(0.0);
                stamps.fill(f64::NEG_INFINITY);
            }
        }
    }

    fn write_commands(&mut self, commands: &[f32]) {
        let t = self.now();
        self.command_seq += 1;
        let frame = Frame::new(self.command_seq, t, self.id, commands);
        self.command_slot.store(&frame, Instant::now());
        self.publisher_thread.unpark();
    }

    fn advance(&mut self, _dt: f64) {}

    fn time(&self) -> f64 {
        self.loop_epoch.map_or(0.0, |e| e.elapsed().as_secs_f64())
    }

    fn in_envelope(&self) -> bool {
        self.in_envelope
    }

    fn health(&self) -> PlantHealth {
        if self.robot_flags & FLAG_ESTOP != 0 {
            PlantHealth::EStop
        } else if owned_by_other(self.robot_flags, self.id) {
            PlantHealth::Fault
        } else {
            PlantHealth::Ok
        }
    }
}

impl Drop for ZenohPlant {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.publisher_thread.unpark();
        if let Some(p) = self.publisher.take() {
            let _ = p.join();
        }
    }
}
