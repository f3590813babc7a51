//! Fault injection on the link, applied by the node process to the data
//! frames in both directions (controller → node and node → controller), in a
//! window of node time. The lockstep-simulation clock frames (`Sim*`) are
//! exempt: a broken cable stops messages, not time.
//!
//! What each fault does, and what the system does about it:
//! - `drop`: frames are lost (with probability `rate`). The node's watchdog
//!   puts it in its safe state (brake / hold) once no command arrived for
//!   the watchdog timeout; the controller's sensors go stale and its safety
//!   filter sends the safe action after `stale_after_ms`.
//! - `corrupt`: 1–3 bytes of a frame are flipped. The CRC rejects it (counted
//!   as `rx_err` on the node, `link.rx_errors` on the controller); otherwise
//!   as `drop`.
//! - `delay`: frames arrive `delay_ms` late (order kept). A delay longer
//!   than `stale_after_ms` makes the controller's state stale (safe action);
//!   the gap at the onset trips the node's watchdog when longer than its
//!   timeout, and the node resumes on the late commands.
//! - `reorder`: a frame is held back and delivered after the next one. The
//!   older frame is then refused by its sequence number on either end.
//! - `restart`: the node reboots at `at_ms`: it forgets its configuration
//!   and applies no effort (its safe state) until the controller, seeing an
//!   unconfigured node in the next JointState, sends NodeConfig again and
//!   commands resume.
//!
//! The link recovers when the window ends.

use std::collections::VecDeque;
use std::str::FromStr;

use ganglion_sim::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    Drop,
    Corrupt,
    Delay,
    Reorder,
    Restart,
}

impl FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "drop" => FaultKind::Drop,
            "corrupt" => FaultKind::Corrupt,
            "delay" => FaultKind::Delay,
            "reorder" => FaultKind::Reorder,
            "restart" => FaultKind::Restart,
            other => {
                return Err(format!(
                    "unknown link fault `{other}` (drop, corrupt, delay, reorder, restart)"
                ));
            }
        })
    }
}

/// One fault window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultPlan {
    pub kind: FaultKind,
    /// Node time the window opens (µs).
    pub at_us: u64,
    /// How long it stays open (µs).
    pub for_us: u64,
    /// Probability that a frame in the window is affected.
    pub rate: f64,
    /// `delay`: how late frames arrive (µs).
    pub delay_us: u64,
    pub seed: u64,
}

/// What the injector did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FaultStats {
    pub dropped: u64,
    pub corrupted: u64,
    pub delayed: u64,
    pub reordered: u64,
    pub restarts: u64,
}

#[derive(Default)]
struct Lane {
    delayed: VecDeque<(u64, Vec<u8>)>,
    held: Option<Vec<u8>>,
}

/// Direction of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    ToNode,
    ToController,
}

pub struct LinkFaults {
    plan: Option<FaultPlan>,
    rng: Rng,
    lanes: [Lane; 2],
    restarted: bool,
    pub stats: FaultStats,
}

impl LinkFaults {
    pub fn new(plan: Option<FaultPlan>) -> Self {
        LinkFaults {
            rng: Rng::new(plan.map_or(0, |p| p.seed)),
            plan,
            lanes: [Lane::default(), Lane::default()],
            restarted: false,
            stats: FaultStats::default(),
        }
    }

    fn active(&self, kind: FaultKind, t_us: u64) -> bool {
        self.plan
            .is_some_and(|p| p.kind == kind && t_us >= p.at_us && t_us < p.at_us + p.for_us)
    }

    fn hit(&mut self) -> bool {
        let rate = self.plan.map_or(0.0, |p| p.rate);
        rate >= 1.0 || self.rng.next_f64() < rate
    }

    /// A frame entering the link at node time `t_us`; returns the frames to
    /// deliver now, in order.
    pub fn pass(&mut self, dir: Dir, mut bytes: Vec<u8>, t_us: u64) -> Vec<Vec<u8>> {
        let lane = dir as usize;
        if self.active(FaultKind::Drop, t_us) && self.hit() {
            self.stats.dropped += 1;
            return vec![];
        }
        if self.active(FaultKind::Corrupt, t_us) && self.hit() && !bytes.is_empty() {
            let flips = 1 + self.rng.below(3);
            for _ in 0..flips {
                let i = self.rng.below(bytes.len());
                bytes[i] ^= 1 + self.rng.below(255) as u8;
            }
            self.stats.corrupted += 1;
        }
        let delaying = self.active(FaultKind::Delay, t_us) && self.hit();
        if delaying || !self.lanes[lane].delayed.is_empty() {
            // Keep order behind frames still in flight.
            let due = if delaying {
                self.stats.delayed += 1;
                t_us + self.plan.map_or(0, |p| p.delay_us)
            } else {
                t_us
            };
            let due = self.lanes[lane]
                .delayed
                .back()
                .map_or(due, |(d, _)| due.max(*d));
            self.lanes[lane].delayed.push_back((due, bytes));
            return self.poll(dir, t_us);
        }
        if self.active(FaultKind::Reorder, t_us) {
            if let Some(held) = self.lanes[lane].held.take() {
                return vec![bytes, held];
            }
            if self.hit() {
                self.stats.reordered += 1;
                self.lanes[lane].held = Some(bytes);
                return vec![];
            }
        }
        vec![bytes]
    }

    /// Frames due at node time `t_us` (delayed ones, or one held back when
    /// the reorder window has closed).
    pub fn poll(&mut self, dir: Dir, t_us: u64) -> Vec<Vec<u8>> {
        let reordering = self.active(FaultKind::Reorder, t_us);
        let lane = &mut self.lanes[dir as usize];
        let mut out = vec![];
        while lane.delayed.front().is_some_and(|(due, _)| *due <= t_us) {
            if let Some((_, b)) = lane.delayed.pop_front() {
                out.push(b);
            }
        }
        if !reordering && let Some(b) = lane.held.take() {
            out.push(b);
        }
        out
    }

    /// Whether the node should reboot now (once, at the planned time).
    pub fn restart_due(&mut self, t_us: u64) -> bool {
        let due = !self.restarted
            && self
                .plan
                .is_some_and(|p| p.kind == FaultKind::Restart && t_us >= p.at_us);
        if due {
            self.restarted = true;
            self.stats.restarts += 1;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(kind: FaultKind) -> Option<FaultPlan> {
        Some(FaultPlan {
            kind,
            at_us: 1000,
            for_us: 1000,
            rate: 1.0,
            delay_us: 300,
            seed: 1,
        })
    }

    #[test]
    fn faults_act_only_in_their_window() {
        let mut f = LinkFaults::new(plan(FaultKind::Drop));
        assert_eq!(f.pass(Dir::ToNode, vec![1], 999).len(), 1);
        assert!(f.pass(Dir::ToNode, vec![1], 1000).is_empty());
        assert!(f.pass(Dir::ToNode, vec![1], 1999).is_empty());
        assert_eq!(f.pass(Dir::ToNode, vec![1], 2000).len(), 1);
        assert_eq!(f.stats.dropped, 2);

        let mut f = LinkFaults::new(plan(FaultKind::Corrupt));
        let out = f.pass(Dir::ToController, vec![5; 20], 1500);
        assert_ne!(out, vec![vec![5u8; 20]]);

        let mut f = LinkFaults::new(plan(FaultKind::Delay));
        assert!(f.pass(Dir::ToNode, vec![1], 1100).is_empty());
        assert!(f.pass(Dir::ToNode, vec![2], 1200).is_empty());
        assert_eq!(f.poll(Dir::ToNode, 1399), Vec::<Vec<u8>>::new());
        assert_eq!(f.poll(Dir::ToNode, 1400), vec![vec![1]]);
        // After the window, frames queue behind those still in flight.
        assert_eq!(f.pass(Dir::ToNode, vec![3], 2100), vec![vec![2], vec![3]]);

        let mut f = LinkFaults::new(plan(FaultKind::Reorder));
        assert!(f.pass(Dir::ToNode, vec![1], 1100).is_empty());
        assert_eq!(f.pass(Dir::ToNode, vec![2], 1200), vec![vec![2], vec![1]]);

        let mut f = LinkFaults::new(plan(FaultKind::Restart));
        assert!(!f.restart_due(999));
        assert!(f.restart_due(1000));
        assert!(!f.restart_due(1001));
    }
}
