//! Telemetry and e-stop of a controller on the zenoh network: a service
//! thread publishes the loop's live statistics as JSON on
//! `ganglion/{robot}/telemetry` at ~10 Hz (tick rate, lateness p50/p99 and
//! compute p99 over the last second, deadline misses, safety event
//! counters, link counters), and turns messages on `ganglion/{robot}/estop`
//! into the loop's e-stop latch (`"reset"` clears it). `ganglion top`
//! reads these.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};
use zenoh::Wait;

use super::plant::LinkCounters;
use super::{Keys, zerr};
use crate::runtime::LoopControls;
use crate::runtime::live::LiveStats;

/// One telemetry message.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Telemetry {
    pub robot: String,
    /// Seconds since the controller started.
    pub uptime_s: f64,
    pub ticks: u64,
    /// Ticks per second over the last window.
    pub rate_hz: f64,
    pub lateness_p50_us: f64,
    pub lateness_p99_us: f64,
    pub compute_p99_us: f64,
    pub deadline_misses: u64,
    /// Safety events so far, by name (only those that happened).
    pub safety_events: BTreeMap<String, u64>,
    /// The safety state of the newest tick: normal, safe or estop.
    pub state: String,
    pub sensor_frames: u64,
    pub decode_errors: u64,
    pub commands_sent: u64,
}

/// The running telemetry/e-stop service of one controller.
pub struct TelemetryService {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl TelemetryService {
    pub fn start(
        session: zenoh::Session,
        robot: &str,
        live: Arc<LiveStats>,
        controls: Arc<LoopControls>,
        counters: Arc<LinkCounters>,
        period: Duration,
    ) -> Result<Self> {
        let keys = Keys::new(robot);
        let publisher = zerr(
            session.declare_publisher(keys.telemetry.clone()).wait(),
            "declaring the telemetry publisher",
        )?;
        let estop_sub = {
            let controls = controls.clone();
            zerr(
                session
                    .declare_subscriber(keys.estop.clone())
                    .callback(move |sample| {
                        if &*sample.payload().to_bytes() == b"reset" {
                            controls.request_reset();
                        } else {
                            controls.request_estop();
                        }
                    })
                    .wait(),
                "subscribing to the e-stop",
            )?
        };
        let stop = Arc::new(AtomicBool::new(false));
        let robot = robot.to_string();
        let handle = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("zenoh-telemetry".into())
                .spawn(move || {
                    let _estop_sub = estop_sub;
                    let started = Instant::now();
                    let mut prev = (started, 0u64);
                    while !stop.load(Ordering::Acquire) {
                        std::thread::sleep(period);
                        let snap = live.snapshot();
                        let now = Instant::now();
                        let dt = now.duration_since(prev.0).as_secs_f64();
                        let n = snap.ticks - prev.1;
                        if dt >= 1.0 {
                            prev = (now, snap.ticks);
                        }
                        let window = n.max(1);
                        let (late50, _) = live.recent_quantile_us(window, 0.5);
                        let (late99, comp99) = live.recent_quantile_us(window, 0.99);
                        let t = Telemetry {
                            robot: robot.clone(),
                            uptime_s: started.elapsed().as_secs_f64(),
                            ticks: snap.ticks,
                            rate_hz: if dt > 0.0 { n as f64 / dt } else { 0.0 },
                            lateness_p50_us: late50,
                            lateness_p99_us: late99,
                            compute_p99_us: comp99,
                            deadline_misses: snap.deadline_misses,
                            safety_events: snap
                                .events
                                .iter()
                                .filter(|(_, c)| *c > 0)
                                .map(|(k, c)| (k.to_string(), *c))
                                .collect(),
                            state: snap.state.to_string(),
                            sensor_frames: counters.sensor_frames.load(Ordering::Relaxed),
                            decode_errors: counters.decode_errors.load(Ordering::Relaxed),
                            commands_sent: counters.commands_sent.load(Ordering::Relaxed),
                        };
                        if let Ok(text) = serde_json::to_string(&t) {
                            let _ = publisher.put(text).wait();
                        }
                    }
                })
                .map_err(|e| anyhow!("spawning the telemetry thread: {e}"))?
        };
        Ok(TelemetryService {
            stop,
            handle: Some(handle),
        })
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for TelemetryService {
    fn drop(&mut self) {
        self.shutdown();
    }
}
