//! `VecEnv`: N environments stepped together on worker threads, with automatic
//! reset. Each environment's seeds depend only on the run seed and its index, so
//! results are identical whatever the number of threads.
//!
//! Workers own fixed chunks of environments. A step moves each chunk (envs and
//! its output buffers) to its worker over a channel and back, so the hot path
//! allocates nothing and needs no locks around the envs.

use crossbeam::channel::{Receiver, Sender, bounded};
use std::thread::JoinHandle;

use crate::env::Env;
use crate::rng::derive_seed;
use crate::space::EnvSpec;

/// A finished episode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpisodeStats {
    pub env_index: usize,
    pub episode_return: f32,
    pub length: usize,
}

/// One environment and its episode bookkeeping.
struct Slot {
    env: Box<dyn Env>,
    index: usize,
    episode: u64,
    episode_return: f32,
    length: usize,
}

/// A contiguous block of environments and the buffers its step writes.
struct Chunk {
    slots: Vec<Slot>,
    obs_dim: usize,
    act_dim: usize,
    base_seed: u64,
    actions: Vec<f32>,
    obs: Vec<f32>,
    final_obs: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    finished: Vec<EpisodeStats>,
}

enum Job {
    Reset(Chunk),
    Step(Chunk),
}

impl Chunk {
    fn episode_seed(&self, slot: &Slot) -> u64 {
        derive_seed(derive_seed(self.base_seed, slot.index as u64), slot.episode)
    }

    fn reset(&mut self) {
        let od = self.obs_dim;
        for i in 0..self.slots.len() {
            self.slots[i].episode = 0;
            let seed = self.episode_seed(&self.slots[i]);
            let slot = &mut self.slots[i];
            slot.env.reset(seed, &mut self.obs[i * od..(i + 1) * od]);
            slot.episode_return = 0.0;
            slot.length = 0;
        }
        self.rewards.fill(0.0);
        self.terminated.fill(false);
        self.truncated.fill(false);
        self.finished.clear();
    }

    fn step(&mut self) {
        let (od, ad) = (self.obs_dim, self.act_dim);
        self.finished.clear();
        for i in 0..self.slots.len() {
            let obs = &mut self.obs[i * od..(i + 1) * od];
            let slot = &mut self.slots[i];
            let r = slot.env.step(&self.actions[i * ad..(i + 1) * ad], obs);
            slot.episode_return += r.reward;
            slot.length += 1;
            self.rewards[i] = r.reward;
            self.terminated[i] = r.terminated;
            self.truncated[i] = r.truncated;
            if r.done() {
                self.final_obs[i * od..(i + 1) * od].copy_from_slice(obs);
                self.finished.push(EpisodeStats {
                    env_index: slot.index,
                    episode_return: slot.episode_return,
                    length: slot.length,
                });
                slot.episode += 1;
                slot.episode_return = 0.0;
                slot.length = 0;
                let seed =
                    derive_seed(derive_seed(self.base_seed, slot.index as u64), slot.episode);
                slot.env.reset(seed, obs);
            }
        }
    }
}

struct Worker {
    jobs: Sender<Job>,
    done: Receiver<Chunk>,
    handle: Option<JoinHandle<()>>,
}

/// N environments of one kind, stepped in lockstep.
pub struct VecEnv {
    spec: EnvSpec,
    n: usize,
    /// Chunks at rest (between steps). With one thread the chunk is stepped inline.
    chunks: Vec<Chunk>,
    workers: Vec<Worker>,
    obs: Vec<f32>,
    final_obs: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    finished: Vec<EpisodeStats>,
}

impl VecEnv {
    /// `make` builds one environment; it is called `n` times. `threads` is
    /// clamped to `1..=n`. Call [`VecEnv::reset`] before stepping.
    pub fn new(
        mut make: impl FnMut() -> Box<dyn Env>,
        n: usize,
        threads: usize,
        seed: u64,
    ) -> Self {
        let n = n.max(1);
        let threads = threads.clamp(1, n);
        let envs: Vec<Box<dyn Env>> = (0..n).map(|_| make()).collect();
        let spec = envs[0].spec().clone();
        let (od, ad) = (spec.observation.flat_dim(), spec.action.flat_dim());
        let mut chunks = Vec::with_capacity(threads);
        let mut iter = envs.into_iter().enumerate();
        for t in 0..threads {
            // Balanced contiguous split: the first `n % threads` chunks get one more.
            let size = n / threads + usize::from(t < n % threads);
            let slots: Vec<Slot> = iter
                .by_ref()
                .take(size)
                .map(|(index, env)| Slot {
                    env,
                    index,
                    episode: 0,
                    episode_return: 0.0,
                    length: 0,
                })
                .collect();
            chunks.push(Chunk {
                obs_dim: od,
                act_dim: ad,
                base_seed: seed,
                actions: vec![0.0; size * ad],
                obs: vec![0.0; size * od],
                final_obs: vec![0.0; size * od],
                rewards: vec![0.0; size],
                terminated: vec![false; size],
                truncated: vec![false; size],
                finished: Vec::with_capacity(size),
                slots,
            });
        }
        let workers = if threads > 1 {
            (0..threads)
                .map(|t| {
                    let (job_tx, job_rx) = bounded::<Job>(1);
                    let (done_tx, done_rx) = bounded::<Chunk>(1);
                    let handle = std::thread::Builder::new()
                        .name(format!("vecenv-{t}"))
                        .spawn(move || {
                            for job in job_rx {
                                let chunk = match job {
                                    Job::Reset(mut c) => {
                                        c.reset();
                                        c
                                    }
                                    Job::Step(mut c) => {
                                        c.step();
                                        c
                                    }
                                };
                                if done_tx.send(chunk).is_err() {
                                    break;
                                }
                            }
                        })
                        .expect("spawning a VecEnv worker thread");
                    Worker {
                        jobs: job_tx,
                        done: done_rx,
                        handle: Some(handle),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        VecEnv {
            spec,
            n,
            chunks,
            workers,
            obs: vec![0.0; n * od],
            final_obs: vec![0.0; n * od],
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            finished: Vec::with_capacity(n),
        }
    }

    pub fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    pub fn num_envs(&self) -> usize {
        self.n
    }

    pub fn num_threads(&self) -> usize {
        self.chunks.len()
    }

    /// Resets every environment to episode 0 of its seed stream.
    pub fn reset(&mut self) -> &[f32] {
        self.run(true);
        &self.obs
    }

    /// Steps every environment with `actions` (`n × action.flat_dim()` values).
    /// Finished environments are reset at once; their last observation is in
    /// [`VecEnv::final_obs`].
    pub fn step(&mut self, actions: &[f32]) {
        let ad = self.spec.action.flat_dim();
        assert_eq!(
            actions.len(),
            self.n * ad,
            "VecEnv::step: wrong action count"
        );
        let mut offset = 0;
        for chunk in &mut self.chunks {
            let len = chunk.actions.len();
            chunk
                .actions
                .copy_from_slice(&actions[offset..offset + len]);
            offset += len;
        }
        self.run(false);
    }

    fn run(&mut self, reset: bool) {
        if self.workers.is_empty() {
            for chunk in &mut self.chunks {
                if reset { chunk.reset() } else { chunk.step() }
            }
        } else {
            let chunks = std::mem::take(&mut self.chunks);
            for (chunk, worker) in chunks.into_iter().zip(&self.workers) {
                let job = if reset {
                    Job::Reset(chunk)
                } else {
                    Job::Step(chunk)
                };
                worker.jobs.send(job).expect("VecEnv worker stopped");
            }
            for worker in &self.workers {
                let chunk = worker.done.recv().expect("VecEnv worker stopped");
                self.chunks.push(chunk);
            }
        }
        self.gather();
    }

    fn gather(&mut self) {
        let od = self.spec.observation.flat_dim();
        self.finished.clear();
        let mut e = 0;
        for chunk in &self.chunks {
            let m = chunk.slots.len();
            self.obs[e * od..(e + m) * od].copy_from_slice(&chunk.obs);
            self.final_obs[e * od..(e + m) * od].copy_from_slice(&chunk.final_obs);
            self.rewards[e..e + m].copy_from_slice(&chunk.rewards);
            self.terminated[e..e + m].copy_from_slice(&chunk.terminated);
            self.truncated[e..e + m].copy_from_slice(&chunk.truncated);
            self.finished.extend_from_slice(&chunk.finished);
            e += m;
        }
    }

    /// Current observations (after auto-reset), `n × obs_dim`.
    pub fn obs(&self) -> &[f32] {
        &self.obs
    }
    /// Last observation of the episode that just ended, for envs with `done`.
    pub fn final_obs(&self) -> &[f32] {
        &self.final_obs
    }
    pub fn rewards(&self) -> &[f32] {
        &self.rewards
    }
    pub fn terminated(&self) -> &[bool] {
        &self.terminated
    }
    pub fn truncated(&self) -> &[bool] {
        &self.truncated
    }
    /// Episodes that ended in the last step, in env order.
    pub fn finished(&self) -> &[EpisodeStats] {
        &self.finished
    }
}

impl Drop for VecEnv {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            // Closing the job channel ends the worker's loop.
            let (dead_tx, _) = bounded(0);
            drop(std::mem::replace(&mut worker.jobs, dead_tx));
            if let Some(h) = worker.handle.take() {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::make_env;

    fn run(threads: usize, n: usize, steps: usize) -> (Vec<f32>, Vec<EpisodeStats>) {
        let mut v = VecEnv::new(|| make_env("cartpole").unwrap(), n, threads, 42);
        v.reset();
        let mut trace = Vec::new();
        let mut eps = Vec::new();
        let mut actions = vec![0.0; n];
        for t in 0..steps {
            for (i, a) in actions.iter_mut().enumerate() {
                // A fixed, state-dependent controller so trajectories differ per env.
                let o = &v.obs()[i * 4..i * 4 + 4];
                *a = if o[2] + 0.1 * o[3] + ((t + i) % 7) as f32 * 0.01 > 0.0 {
                    1.0
                } else {
                    0.0
                };
            }
            v.step(&actions);
            trace.extend_from_slice(v.obs());
            trace.extend_from_slice(v.rewards());
            eps.extend_from_slice(v.finished());
        }
        (trace, eps)
    }

    #[test]
    fn identical_across_thread_counts() {
        let (a, ea) = run(1, 6, 300);
        let (b, eb) = run(2, 6, 300);
        let (c, ec) = run(4, 6, 300);
        assert!(!ea.is_empty(), "episodes should finish in 300 steps");
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(ea, eb);
        assert_eq!(ea, ec);
    }

    #[test]
    fn auto_reset_keeps_final_obs() {
        let mut v = VecEnv::new(|| make_env("cartpole").unwrap(), 2, 1, 0);
        v.reset();
        for _ in 0..200 {
            v.step(&[1.0, 1.0]);
            if let Some(f) = v.finished().first() {
                let i = f.env_index;
                let fo = &v.final_obs()[i * 4..i * 4 + 4];
                // The final state is out of bounds; the new obs is a fresh start.
                assert!(fo[0].abs() > 2.4 || fo[2].abs() > 0.2094);
                assert!(
                    v.obs()[i * 4..i * 4 + 4]
                        .iter()
                        .all(|x| x.abs() <= 0.05 + 1e-6)
                );
                return;
            }
        }
        panic!("no episode finished");
    }
}
