//! Who a node process answers. A joint node on UDP serves one controller at
//! a time: the address given with `ganglion node --controller ADDR`, or else
//! the first address that sends it a valid frame (CRC and all). Datagrams
//! from any other address are dropped before they reach the node or its
//! clock, and never redirect its replies; an undecodable datagram never
//! binds anyone. A bound controller keeps the node until it says `Bye` (its
//! `LinkPlant` does when dropped) or stays silent for `release_after` of
//! wall time (it crashed); only then may another address bind. A fixed
//! `--controller` is never released.
//!
//! Also here: which frames a controller may send a node at all (`to_node`),
//! and the range of a lockstep `SimStep`, so one frame cannot pin the
//! node's CPU.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ganglion_firmware::{Message, kind};
use serde::Serialize;

/// Longest lockstep step a node runs for one `SimStep` (1 s of node time:
/// 1000 node ticks). Control loops run at 20 Hz – 1 kHz (50 ms – 1 ms); a
/// longer or zero step is refused with a `bad_step` fault.
pub const MAX_SIM_STEP_US: u32 = 1_000_000;

/// Most datagrams a real-time node handles between two of its ticks; the
/// rest wait in the socket (whose buffer drops the overflow), so a flood
/// cannot starve the 1 kHz loop.
pub const DATAGRAMS_PER_TICK: usize = 32;

/// Whether a lockstep step of `dt_us` is in range.
pub fn sim_step_ok(dt_us: u32) -> bool {
    (1..=MAX_SIM_STEP_US).contains(&dt_us)
}

/// Which controller a node answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeBinding {
    /// Answer only this address (`--controller`); None: the first address
    /// that sends a valid frame.
    pub controller: Option<SocketAddr>,
    /// A first-come controller silent this long (wall time) is released.
    pub release_after: Duration,
}

impl Default for NodeBinding {
    fn default() -> Self {
        NodeBinding {
            controller: None,
            release_after: Duration::from_secs(1),
        }
    }
}

/// What the node process did with datagrams and frames it did not obey.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct PeerStats {
    /// The controller bound last (`ip:port`), if any.
    pub controller: Option<String>,
    /// Controllers bound over the run (a fixed `--controller` counts once).
    pub bindings: u64,
    /// Sessions ended by `Bye` / by silence.
    pub byes: u64,
    pub released_silent: u64,
    /// Datagrams from other addresses, dropped unread.
    pub foreign_datagrams: u64,
    /// Datagrams with no valid frame from an address that is not the
    /// controller (they bind nobody).
    pub undecodable: u64,
    /// Frames from the controller of kinds a node never takes from the
    /// network (JointState, Fault, HwSample, HwEffort, SimStepDone).
    pub refused_frames: u64,
    /// `SimStep`s out of range (`MAX_SIM_STEP_US`), refused.
    pub refused_steps: u64,
}

/// The binding state of one node process.
pub struct Peer {
    fixed: Option<SocketAddr>,
    bound: Option<SocketAddr>,
    last_heard: Instant,
    release_after: Duration,
    pub stats: PeerStats,
}

impl Peer {
    pub fn new(binding: &NodeBinding) -> Self {
        let mut stats = PeerStats::default();
        if let Some(a) = binding.controller {
            stats.controller = Some(a.to_string());
            stats.bindings = 1;
        }
        Peer {
            fixed: binding.controller,
            bound: binding.controller,
            last_heard: Instant::now(),
            release_after: binding.release_after,
            stats,
        }
    }

    /// Where replies go.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.bound
    }

    /// Whether `src` is the bound controller (a first-come binding that went
    /// silent is released here).
    pub fn is_controller(&mut self, src: SocketAddr, now: Instant) -> bool {
        if self.fixed.is_none()
            && self.bound.is_some()
            && now.saturating_duration_since(self.last_heard) > self.release_after
        {
            self.bound = None;
            self.stats.released_silent += 1;
        }
        self.bound == Some(src)
    }

    /// A valid frame came from `src`: binds it if nobody is bound; whether
    /// `src` is now the controller.
    pub fn heard_valid(&mut self, src: SocketAddr, now: Instant) -> bool {
        if self.bound.is_none() {
            self.bound = Some(src);
            self.stats.controller = Some(src.to_string());
            self.stats.bindings += 1;
        }
        if self.bound == Some(src) {
            self.last_heard = now;
            true
        } else {
            false
        }
    }

    /// The controller said `Bye`.
    pub fn release(&mut self) {
        self.stats.byes += 1;
        if self.fixed.is_none() {
            self.bound = None;
        }
    }
}

/// Whether a controller may send `msg` to a node over the network: the
/// controller → node messages. The node's own messages (JointState, Fault,
/// SimStepDone) and the plant side of an emulated node (HwSample, HwEffort,
/// which would feed the firmware forged sensor values) never come from it.
pub fn to_node(msg: &Message) -> bool {
    matches!(
        msg.kind(),
        kind::JOINT_COMMAND | kind::HEARTBEAT | kind::ESTOP | kind::RESET | kind::NODE_CONFIG
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    #[test]
    fn first_valid_sender_binds_and_keeps_the_node() {
        let mut p = Peer::new(&NodeBinding::default());
        let t = Instant::now();
        assert!(!p.is_controller(a(1), t));
        assert!(p.heard_valid(a(1), t));
        assert!(!p.heard_valid(a(2), t));
        assert!(!p.is_controller(a(2), t));
        assert!(p.is_controller(a(1), t + Duration::from_millis(900)));
        assert_eq!(p.addr(), Some(a(1)));
        p.release();
        assert_eq!(p.addr(), None);
        assert!(p.heard_valid(a(2), t));
        assert_eq!(p.stats.bindings, 2);
    }

    #[test]
    fn a_silent_controller_is_released_a_fixed_one_never() {
        let mut p = Peer::new(&NodeBinding::default());
        let t = Instant::now();
        p.heard_valid(a(1), t);
        let later = t + Duration::from_millis(1500);
        assert!(!p.is_controller(a(2), later));
        assert_eq!(p.stats.released_silent, 1);
        assert!(p.heard_valid(a(2), later));

        let mut p = Peer::new(&NodeBinding {
            controller: Some(a(1)),
            ..Default::default()
        });
        assert_eq!(p.addr(), Some(a(1)));
        assert!(!p.heard_valid(a(2), t));
        assert!(!p.is_controller(a(2), t + Duration::from_secs(3600)));
        p.release();
        assert_eq!(p.addr(), Some(a(1)));
    }

    #[test]
    fn step_range_and_node_bound_kinds() {
        assert!(!sim_step_ok(0));
        assert!(sim_step_ok(1));
        assert!(sim_step_ok(20_000));
        assert!(sim_step_ok(MAX_SIM_STEP_US));
        assert!(!sim_step_ok(MAX_SIM_STEP_US + 1));
        assert!(!sim_step_ok(u32::MAX));
        assert!(to_node(&Message::EStop));
        assert!(!to_node(&Message::HwSample(Default::default())));
        assert!(!to_node(&Message::JointState(Default::default())));
        assert!(!to_node(&Message::SimStep { dt_us: 1000 }));
        assert!(!to_node(&Message::Bye));
    }
}
