//! `ganglion worker`: a rollout worker for distributed PPO — it connects to
//! a learner (`ganglion train … --workers N --listen …`), steps its share of
//! the environments with the newest weights and sends rollout batches, until
//! the learner is done. Also the learner's side of the handshake.

use std::time::Duration;

use anyhow::Result;
use clap::Args;

use super::tls_args::TlsArgs;
use ganglion::io::zenoh::rollout::{RemoteRollouts, run_worker};
use ganglion::io::zenoh::{Endpoints, open};
use ganglion::learn::PpoConfig;

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The learner's endpoint(s), e.g. tcp/127.0.0.1:7500.
    #[arg(long, required = true)]
    pub connect: Vec<String>,
    /// The run's name (the learner's --run-name).
    #[arg(long, default_value = "ppo")]
    pub run_name: String,
    /// Give up when no learner assigns a job within this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub wait: f64,
    /// Print a JSON summary at exit.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
}

pub fn run(a: WorkerArgs) -> Result<()> {
    let session = open(&Endpoints::peer_of(&a.connect), &a.tls.security(), None)?;
    let summary = run_worker(
        session.clone(),
        &a.run_name,
        Duration::from_secs_f64(a.wait.max(0.1)),
    )?;
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "worker {}: {} iterations, {} env steps",
            summary.index, summary.iterations, summary.env_steps
        );
    }
    use ::zenoh::Wait;
    let _ = session.close().wait();
    Ok(())
}

/// The learner's rollout source for `train --workers N`.
pub fn learner(
    args: &super::train::TrainArgs,
    env: &str,
    cfg: &PpoConfig,
) -> Result<RemoteRollouts> {
    let session = open(
        &Endpoints {
            listen: args.listen.clone(),
            connect: Vec::new(),
            multicast: false,
            router: false,
            client: false,
        },
        &args.tls.security(),
        None,
    )?;
    eprintln!(
        "waiting for {} rollout worker(s) on {:?} (run `{}`)",
        args.workers, args.listen, args.run_name
    );
    RemoteRollouts::start(
        session,
        &args.run_name,
        env,
        args.seed,
        cfg,
        args.workers,
        Duration::from_secs(120),
    )
}
