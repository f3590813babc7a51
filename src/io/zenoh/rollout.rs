//! Distributed PPO rollouts over zenoh: rollout workers (`ganglion worker`)
//! step environments with the newest weights and send rollout batches; the
//! learner (`ganglion train … --workers N --listen …`) gathers one batch per
//! worker per iteration, updates, and publishes the new weights.
//!
//! Keys under `ganglion/train/{run}/`:
//!
//! | key | from → to | payload |
//! | --- | --- | --- |
//! | `hello` | worker → learner | the worker's id (text), until it is assigned |
//! | `job` | learner → workers | JSON `Job`: env, seed, PPO config, the worker ids in index order, `done` |
//! | `weights` | learner → workers | "GWT1", iteration u64, n u32, n × f32 (LE) |
//! | `batch` | worker → learner | "GRB1" and one iteration's rollout of the worker's envs (`encode_batch`) |
//!
//! Reproducible for a fixed seed and worker count: each worker computes as
//! `learn::worker` says (seeded by its index, not its id); the learner
//! waits for every worker's batch of iteration k, acting with weights k,
//! and lays them out in worker order. Arrival order and timing do not enter.
//! This file is the transport only.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use ::zenoh::Wait;
use ::zenoh::pubsub::Subscriber;
use ::zenoh::qos::CongestionControl;
use anyhow::{Context, Result, anyhow, bail};
use ganglion_sim::{EnvSpec, Rng, make_env};
use serde::{Deserialize, Serialize};

use super::rollout_wire::{Batch, decode_batch, decode_weights, encode_batch, encode_weights};
use super::zerr;
use crate::learn::ppo::{Rollout, RolloutSource};
use crate::learn::worker::{RolloutWorker, place_worker_rollout};
use crate::learn::{ActorCritic, PpoConfig};

/// What the learner tells its workers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub run: String,
    pub env: String,
    pub seed: u64,
    pub ppo: PpoConfig,
    pub envs_per_worker: usize,
    /// Worker ids; a worker's index is its position.
    pub workers: Vec<String>,
    pub done: bool,
}

fn key(run: &str, what: &str) -> String {
    format!("ganglion/train/{run}/{what}")
}

/// The learner's side: rollouts from `n` workers.
pub struct RemoteRollouts {
    session: ::zenoh::Session,
    spec: EnvSpec,
    job: Job,
    n_envs: usize,
    iteration: u64,
    batches: Receiver<Vec<u8>>,
    _batch_sub: Subscriber<()>,
    timeout: Duration,
    pub bad_batches: u64,
}

impl RemoteRollouts {
    /// Waits (up to `wait`) for `workers` workers to say hello and assigns
    /// them indices.
    pub fn start(
        session: ::zenoh::Session,
        run: &str,
        env: &str,
        seed: u64,
        ppo: &PpoConfig,
        workers: usize,
        wait: Duration,
    ) -> Result<Self> {
        if workers == 0 || !ppo.n_envs.is_multiple_of(workers) {
            bail!(
                "{} environments cannot be split evenly over {workers} workers (set --envs to a multiple)",
                ppo.n_envs
            );
        }
        let spec = make_env(env)?.spec().clone();
        let (hello_tx, hello_rx): (Sender<String>, _) = channel();
        let _hello_sub = zerr(
            session
                .declare_subscriber(key(run, "hello"))
                .callback(move |s| {
                    if let Ok(id) = String::from_utf8(s.payload().to_bytes().into_owned()) {
                        let _ = hello_tx.send(id);
                    }
                })
                .wait(),
            "subscribing to worker hellos",
        )?;
        let (batch_tx, batches) = channel();
        let batch_sub = zerr(
            session
                .declare_subscriber(key(run, "batch"))
                .callback(move |s| {
                    let _ = batch_tx.send(s.payload().to_bytes().into_owned());
                })
                .wait(),
            "subscribing to rollout batches",
        )?;
        let mut job = Job {
            run: run.to_string(),
            env: env.to_string(),
            seed,
            ppo: ppo.clone(),
            envs_per_worker: ppo.n_envs / workers,
            workers: Vec::new(),
            done: false,
        };
        let until = Instant::now() + wait;
        while job.workers.len() < workers {
            match hello_rx.recv_timeout(Duration::from_millis(200)) {
                Ok(id) => {
                    if !job.workers.contains(&id) {
                        job.workers.push(id);
                    }
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() < until => {}
                Err(_) => bail!(
                    "only {} of {workers} rollout workers connected within {:.0} s",
                    job.workers.len(),
                    wait.as_secs_f64()
                ),
            }
        }
        let me = RemoteRollouts {
            session,
            spec,
            n_envs: ppo.n_envs,
            job,
            iteration: 0,
            batches,
            _batch_sub: batch_sub,
            timeout: Duration::from_secs(60),
            bad_batches: 0,
        };
        me.publish_job()?;
        Ok(me)
    }

    fn publish_job(&self) -> Result<()> {
        let text = serde_json::to_string(&self.job)?;
        zerr(
            self.session.put(key(&self.job.run, "job"), text).wait(),
            "publishing the job",
        )
    }

    fn publish_weights(&self, params: &[f32]) -> Result<()> {
        zerr(
            self.session
                .put(
                    key(&self.job.run, "weights"),
                    encode_weights(self.iteration, params),
                )
                .congestion_control(CongestionControl::Block)
                .wait(),
            "publishing weights",
        )
    }

    /// Tells the workers to exit.
    pub fn finish(mut self) -> Result<()> {
        self.job.done = true;
        self.publish_job()?;
        // Let the message leave before the session closes.
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.session.close().wait();
        Ok(())
    }
}

impl RolloutSource for RemoteRollouts {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }
    fn num_envs(&self) -> usize {
        self.n_envs
    }
    fn reset(&mut self) -> Result<()> {
        Ok(())
    }
    fn collect(
        &mut self,
        model: &ActorCritic,
        _rng: &mut Rng,
        out: &mut Rollout,
        finished: &mut Vec<f32>,
    ) -> Result<()> {
        self.iteration += 1;
        let k = self.iteration;
        let n_workers = self.job.workers.len();
        let epw = self.job.envs_per_worker;
        let (od, ad) = (out.obs_dim, out.act_dim);
        let mut got: Vec<Option<Batch>> = (0..n_workers).map(|_| None).collect();
        // Resend the job too, for a worker that missed it.
        self.publish_job()?;
        self.publish_weights(&model.params)?;
        let give_up = Instant::now() + self.timeout;
        let mut resend = Instant::now() + Duration::from_secs(5);
        while got.iter().any(Option::is_none) {
            match self.batches.recv_timeout(Duration::from_millis(100)) {
                Ok(bytes) => match decode_batch(&bytes) {
                    Ok(b)
                        if b.iteration == k
                            && b.worker < n_workers
                            && b.rollout.n_steps == out.n_steps
                            && b.rollout.n_envs == epw
                            && b.rollout.obs_dim == od
                            && b.rollout.act_dim == ad =>
                    {
                        let w = b.worker;
                        got[w] = Some(b);
                    }
                    Ok(b) if b.iteration < k => {}
                    _ => self.bad_batches += 1,
                },
                Err(RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    if now >= give_up {
                        let missing: Vec<usize> =
                            (0..n_workers).filter(|&w| got[w].is_none()).collect();
                        bail!(
                            "no rollout batch of iteration {k} from worker(s) {missing:?} within {:.0} s",
                            self.timeout.as_secs_f64()
                        );
                    }
                    if now >= resend {
                        resend = now + Duration::from_secs(5);
                        self.publish_job()?;
                        self.publish_weights(&model.params)?;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => bail!("the batch subscriber closed"),
            }
        }
        finished.clear();
        for (w, b) in got.into_iter().enumerate() {
            let b = b.ok_or_else(|| anyhow!("worker {w}: no batch"))?;
            place_worker_rollout(out, w, &b.rollout);
            finished.extend_from_slice(&b.finished);
        }
        Ok(())
    }
}

/// What a worker did.
#[derive(Debug, Serialize)]
pub struct WorkerSummary {
    pub index: usize,
    pub iterations: u64,
    pub env_steps: u64,
}

/// Runs one rollout worker until the learner says it is done (or `wait`
/// passes without a job).
pub fn run_worker(session: ::zenoh::Session, run: &str, wait: Duration) -> Result<WorkerSummary> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let id = format!("{}-{nanos}", std::process::id());
    let (job_tx, job_rx) = channel::<Vec<u8>>();
    let (w_tx, w_rx) = channel::<Vec<u8>>();
    let _job_sub = zerr(
        session
            .declare_subscriber(key(run, "job"))
            .callback(move |s| {
                let _ = job_tx.send(s.payload().to_bytes().into_owned());
            })
            .wait(),
        "subscribing to the job",
    )?;
    let _w_sub = zerr(
        session
            .declare_subscriber(key(run, "weights"))
            .callback(move |s| {
                let _ = w_tx.send(s.payload().to_bytes().into_owned());
            })
            .wait(),
        "subscribing to weights",
    )?;
    let batch_pub = zerr(
        session
            .declare_publisher(key(run, "batch"))
            .congestion_control(CongestionControl::Block)
            .wait(),
        "declaring the batch publisher",
    )?;
    // Say hello until a job names this worker.
    let until = Instant::now() + wait;
    let (job, index) = loop {
        zerr(
            session.put(key(run, "hello"), id.clone()).wait(),
            "saying hello",
        )?;
        if let Ok(bytes) = job_rx.recv_timeout(Duration::from_millis(200)) {
            let job: Job = serde_json::from_slice(&bytes).context("decoding the job")?;
            if let Some(i) = job.workers.iter().position(|w| *w == id) {
                break (job, i);
            }
        }
        if Instant::now() >= until {
            bail!(
                "no job from a learner on run `{run}` within {:.0} s",
                wait.as_secs_f64()
            );
        }
    };
    let mut worker = RolloutWorker::new(&job.env, job.seed, index, &job.ppo, job.envs_per_worker)?;
    let mut params = Vec::new();
    let mut done_iteration = 0u64;
    let mut last_batch: Vec<u8> = Vec::new();
    let mut summary = WorkerSummary {
        index,
        iterations: 0,
        env_steps: 0,
    };
    let mut heard = Instant::now();
    loop {
        if heard.elapsed() > wait {
            bail!(
                "the learner has been silent for {:.0} s",
                wait.as_secs_f64()
            );
        }
        while let Ok(bytes) = job_rx.try_recv() {
            heard = Instant::now();
            if serde_json::from_slice::<Job>(&bytes).is_ok_and(|j| j.done) {
                return Ok(summary);
            }
        }
        let bytes = match w_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(b) => {
                heard = Instant::now();
                b
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => bail!("the weights subscriber closed"),
        };
        let k = match decode_weights(&bytes, &mut params) {
            Ok(k) => k,
            Err(e) => {
                eprintln!("worker {index}: bad weights message: {e:#}");
                continue;
            }
        };
        if k == done_iteration && !last_batch.is_empty() {
            // The learner missed our batch: send it again.
            zerr(
                batch_pub.put(last_batch.clone()).wait(),
                "resending a batch",
            )?;
            continue;
        }
        if k != done_iteration + 1 {
            bail!("weights of iteration {k} after {done_iteration}: out of step with the learner");
        }
        let (ro, finished) = worker.collect(&params)?;
        last_batch = encode_batch(k, index, ro, finished);
        zerr(batch_pub.put(last_batch.clone()).wait(), "sending a batch")?;
        done_iteration = k;
        summary.iterations += 1;
        summary.env_steps += (ro.n_steps * ro.n_envs) as u64;
    }
}
