//! The workspace stage of the safety filter: the tool link's origin stays
//! inside a box. Each tick it predicts where the command carries the joints
//! (a speed command: one period at that speed, then braking to rest at the
//! deceleration its rate limit allows, `max_delta` per period, as a servo
//! cannot stop at once; a position command: the target; a joint with no
//! command: where it is), runs the
//! URDF's forward kinematics on that, and when the tool would leave the box
//! scales the command back along the way from here to there until the tool
//! is on the boundary. A tool already outside (a box changed, a joint
//! pushed) may only move back towards the box. Allocation-free after
//! construction.

use crate::config::WorkspaceBox;
use crate::record::SafetyEvents;

/// Bisection steps for the boundary: 2⁻²⁰ of one period's motion.
const BISECTION_STEPS: usize = 20;

pub struct WorkspaceStage {
    config: WorkspaceBox,
    /// Joint positions now (chain's joint vector), and the command's
    /// predicted motion from there: `lin` in proportion to the command,
    /// `quad` (braking) to its square, so that a command scaled by `s`
    /// moves a joint by `s·lin + s²·quad`.
    now: Vec<f32>,
    lin: Vec<f32>,
    quad: Vec<f32>,
    trial: Vec<f32>,
}

impl WorkspaceStage {
    pub fn new(config: &WorkspaceBox) -> WorkspaceStage {
        let n = config.joints.iter().map(|j| j.index + 1).max().unwrap_or(0);
        WorkspaceStage {
            config: config.clone(),
            now: vec![0.0; n],
            lin: vec![0.0; n],
            quad: vec![0.0; n],
            trial: vec![0.0; n],
        }
    }

    /// The actuators of the chain's commanded joints.
    pub fn actuators(&self) -> impl Iterator<Item = usize> + '_ {
        self.config
            .joints
            .iter()
            .filter_map(|j| j.actuator.map(|(a, _)| a))
    }

    /// Distance (m) from `p` to the box; 0 inside.
    fn outside(&self, p: [f32; 3]) -> f32 {
        (0..3)
            .map(|k| {
                let d = (self.config.min[k] - p[k])
                    .max(p[k] - self.config.max[k])
                    .max(0.0);
                d * d
            })
            .sum::<f32>()
            .sqrt()
    }

    /// Where the tool is predicted to go with the commands scaled by `s`.
    fn tool_at(&mut self, s: f32) -> [f32; 3] {
        for (k, t) in self.trial.iter_mut().enumerate() {
            *t = self.now[k] + s * self.lin[k] + s * s * self.quad[k];
        }
        self.config.chain.position(&self.trial)
    }

    /// Cuts `out` (this tick's filtered commands) so that the tool stays in
    /// the box; `sensors`: the plant's sensor values this tick; `period`:
    /// the control period (s); `max_delta`: each command's rate limit.
    /// Returns whether it cut (event `workspace`).
    pub fn apply(
        &mut self,
        sensors: &[f32],
        period: f32,
        max_delta: &[f32],
        events: &mut SafetyEvents,
        out: &mut [f32],
    ) -> bool {
        let mut finite = true;
        for j in &self.config.joints {
            let pos = sensors.get(j.sensor).copied().unwrap_or(f32::NAN);
            finite &= pos.is_finite();
            self.now[j.index] = pos;
            let command = j
                .actuator
                .and_then(|(a, speed)| Some((*out.get(a)?, speed)));
            (self.lin[j.index], self.quad[j.index]) = match command {
                Some((cmd, true)) => {
                    let decel = j
                        .actuator
                        .and_then(|(a, _)| max_delta.get(a))
                        .map_or(f32::INFINITY, |d| d / period);
                    (cmd * period, cmd * cmd.abs() / (2.0 * decel))
                }
                Some((cmd, false)) => (cmd - pos, 0.0),
                None => (0.0, 0.0),
            };
        }
        let s = if !finite {
            // Where the tool is cannot be known: stop the chain.
            0.0
        } else {
            let there = self.tool_at(1.0);
            let there = self.outside(there);
            if there == 0.0 {
                return false;
            }
            let here = self.outside(self.config.chain.position(&self.now));
            if here > 0.0 {
                if there < here { 1.0 } else { 0.0 }
            } else {
                let (mut inside, mut out_at) = (0.0f32, 1.0f32);
                for _ in 0..BISECTION_STEPS {
                    let mid = 0.5 * (inside + out_at);
                    let p = self.tool_at(mid);
                    if self.outside(p) == 0.0 {
                        inside = mid;
                    } else {
                        out_at = mid;
                    }
                }
                inside
            }
        };
        if s >= 1.0 {
            return false;
        }
        for j in &self.config.joints {
            let Some((a, speed)) = j.actuator else {
                continue;
            };
            let Some(cmd) = out.get_mut(a) else {
                continue;
            };
            let now = self.now[j.index];
            *cmd = match (speed, now.is_finite()) {
                (true, _) => *cmd * s,
                (false, true) => now + s * (*cmd - now),
                // A position command with no known position: keep it (the
                // joint limits and the clamp still bound it).
                (false, false) => *cmd,
            };
        }
        events.set(SafetyEvents::WORKSPACE);
        true
    }
}
