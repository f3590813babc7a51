//! What every on-policy trainer (PPO/A2C, REINFORCE) does around its
//! updates: the mean of the last 100 training episodes, the deterministic
//! policy's evaluation every `eval_every` env steps, the best parameters
//! kept, the learning curve, progress reports and the `stop_at` rule; and
//! the outcome at the end (the best evaluated model, or the last).

use std::collections::VecDeque;
use std::time::Instant;

use ganglion_sim::{Env, derive_seed};

use super::actor_critic::{ActorCritic, NativeActor};
use super::curve::{CurvePoint, LearningCurve};
use super::eval::{EvalReport, evaluate};
use super::ppo::{PpoOutcome, Progress};

/// When and how to evaluate, and when to stop.
pub(super) struct EvalRule {
    pub every: usize,
    pub episodes: usize,
    pub stop_at: Option<f64>,
    pub total_steps: usize,
    /// The run's seed (evaluation episodes are derived from it).
    pub seed: u64,
}

pub(super) struct Tracker {
    rule: EvalRule,
    start: Instant,
    recent: VecDeque<f32>,
    curve: LearningCurve,
    best: Option<(EvalReport, Vec<f32>)>,
    next_eval: usize,
    last_eval: Option<f64>,
    solved: bool,
}

impl Tracker {
    /// Starts the clock: the outcome's wall time counts from here.
    pub fn new(rule: EvalRule) -> Tracker {
        Tracker {
            next_eval: rule.every,
            rule,
            start: Instant::now(),
            recent: VecDeque::with_capacity(100),
            curve: LearningCurve::default(),
            best: None,
            last_eval: None,
            solved: false,
        }
    }

    /// A training episode ended with return `r`.
    pub fn episode(&mut self, r: f32) {
        if self.recent.len() == 100 {
            self.recent.pop_front();
        }
        self.recent.push_back(r);
    }

    /// After update `iteration` at `steps` env steps: evaluates when due,
    /// records the curve, reports progress. True: `stop_at` was reached.
    pub fn after_update(
        &mut self,
        iteration: usize,
        steps: usize,
        model: &ActorCritic,
        eval_env: &mut dyn Env,
        on_progress: &mut impl FnMut(&Progress<'_>),
    ) -> anyhow::Result<bool> {
        let mean_return = (!self.recent.is_empty())
            .then(|| self.recent.iter().map(|r| *r as f64).sum::<f64>() / self.recent.len() as f64);
        let mut eval_mean = None;
        if self.rule.every > 0 && steps >= self.next_eval {
            while self.next_eval <= steps {
                self.next_eval += self.rule.every;
            }
            let mut actor = NativeActor::new(model);
            let report = evaluate(
                &mut actor,
                eval_env,
                self.rule.episodes,
                derive_seed(self.rule.seed, 0xE7A1),
            )
            .map_err(|e| anyhow::anyhow!("evaluating the policy: {e}"))?;
            eval_mean = Some(report.mean_return);
            self.last_eval = Some(report.mean_return);
            let reached = self.rule.stop_at.is_some_and(|t| report.mean_return >= t);
            if self
                .best
                .as_ref()
                .is_none_or(|(b, _)| report.mean_return >= b.mean_return)
            {
                self.best = Some((report, model.params.clone()));
            }
            self.solved |= reached;
        }
        self.curve.points.push(CurvePoint {
            steps,
            wall_s: self.start.elapsed().as_secs_f64(),
            train_mean_return: mean_return,
            eval_mean_return: eval_mean,
        });
        on_progress(&Progress {
            iteration,
            steps,
            total_steps: self.rule.total_steps,
            mean_return,
            last_eval: self.last_eval,
            model,
        });
        Ok(self.solved)
    }

    /// The outcome: `model` with the best evaluated parameters, if any.
    pub fn finish(self, mut model: ActorCritic, steps: usize) -> PpoOutcome {
        let best_eval = self.best.as_ref().map(|(r, _)| r.clone());
        if let Some((_, params)) = self.best {
            model.params = params;
        }
        PpoOutcome {
            model,
            curve: self.curve,
            steps,
            wall_s: self.start.elapsed().as_secs_f64(),
            best_eval,
            solved: self.solved,
        }
    }
}
