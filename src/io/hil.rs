//! Hardware-in-the-loop runs as a library: a node process in a thread, a
//! robot config pointed at it, episodes of the real `ControlLoop` against
//! either plant, and the JointCommand → JointState round trip. Used by
//! `ganglion bench hil` and the HIL tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use ganglion_sim::Plant;

use super::node_peer::NodeBinding;
use super::node_process::{NodeOptions, NodeSummary, serve_bound};
use super::transport::LinkEndpoint;
use crate::assemble::{build_plant, load_any_policy};
use crate::config::{PlantConfig, RobotConfig};
use crate::runtime::{ClockMode, ControlLoop, RunLimit, Session, SessionOptions};

/// A node process running in a thread.
pub struct NodeHandle {
    /// Where a controller reaches it.
    pub endpoint: LinkEndpoint,
    /// Its UDP address (unspecified for a serial node).
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<NodeSummary>>>,
}

impl NodeHandle {
    /// Starts `serve(opts)` and waits until it listens.
    pub fn spawn(opts: NodeOptions) -> Result<Self> {
        Self::spawn_bound(opts, NodeBinding::default())
    }

    /// Starts `serve_bound(opts, binding)` and waits until it listens.
    pub fn spawn_bound(opts: NodeOptions, binding: NodeBinding) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = crossbeam::channel::bounded(1);
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("ganglion-node".into())
                .spawn(move || serve_bound(&opts, &binding, stop, Some(tx)))?
        };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(endpoint) => Ok(NodeHandle {
                addr: endpoint.udp().unwrap_or(super::transport::SERIAL_PEER),
                endpoint,
                stop,
                thread: Some(thread),
            }),
            Err(_) => {
                let err = thread
                    .join()
                    .map_err(|_| anyhow!("the node thread panicked"))?
                    .err()
                    .unwrap_or_else(|| anyhow!("the node did not start"));
                Err(err)
            }
        }
    }

    /// Stops the node and returns what it did.
    pub fn stop(mut self) -> Result<NodeSummary> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .take()
            .ok_or_else(|| anyhow!("node already stopped"))?
            .join()
            .map_err(|_| anyhow!("the node thread panicked"))?
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `cfg` with its link plant pointed at the UDP node `addr`.
pub fn at_address(cfg: &RobotConfig, addr: SocketAddr) -> Result<RobotConfig> {
    at_endpoint(cfg, &LinkEndpoint::Udp(addr))
}

/// `cfg` with its link plant pointed at `to` (a UDP or serial node).
pub fn at_endpoint(cfg: &RobotConfig, to: &LinkEndpoint) -> Result<RobotConfig> {
    let mut cfg = cfg.clone();
    match &mut cfg.plant {
        PlantConfig::Link { endpoint, .. } => *endpoint = to.clone(),
        PlantConfig::Sim { .. } | PlantConfig::Zenoh { .. } | PlantConfig::Servo(_) => {
            return Err(anyhow!(
                "{}: [plant] is not a link plant",
                cfg.source_path.display()
            ));
        }
    }
    Ok(cfg)
}

/// Runs one episode (until the plant reports its end, or `max_ticks`) of
/// `cfg`'s policy against `plant` in fast lockstep; returns the return and
/// the ticks run.
pub fn episode(
    cfg: &RobotConfig,
    plant: Box<dyn Plant>,
    max_ticks: u64,
) -> Result<(f64, u64, ControlLoop)> {
    let policy = load_any_policy(cfg)?;
    let session = Session::new(
        cfg,
        plant,
        policy,
        SessionOptions {
            clock: ClockMode::Lockstep { paced: false },
            limit: RunLimit {
                ticks: Some(max_ticks),
                seconds: None,
                until_episode_end: true,
            },
            record: None,
            realtime_thread: false,
            episode: 0,
            seed: crate::assemble::plant_seed(&cfg.plant),
            plant_kind: crate::assemble::plant_kind(&cfg.plant).to_string(),
        },
    )?;
    let (report, lp) = session.run()?;
    Ok((report.episode_return, report.ticks, lp))
}

/// Returns of `episodes` episodes, seeds `seed`, `seed + 1`, …, of the
/// plant `cfg` names (a sim plant, or a link plant reset per episode).
pub fn returns(cfg: &RobotConfig, seed: u64, episodes: usize, max_ticks: u64) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(episodes);
    for k in 0..episodes {
        let mut c = cfg.clone();
        crate::assemble::set_plant_seed(&mut c.plant, seed + k as u64);
        let plant = build_plant(&c.plant).with_context(|| format!("episode {k}"))?;
        let (ret, _, _) = episode(&c, plant, max_ticks)?;
        out.push(ret);
    }
    Ok(out)
}
