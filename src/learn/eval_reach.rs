//! The reaching tasks' own measure: the tool's final distance to the
//! target (m) after each episode of `reach:FILE` (any URDF arm) with a
//! deterministic policy, over seeded episodes. `ganglion eval reach:FILE`
//! reports its median, p95, max and the share under 1 cm.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use crate::policy::{ActionSpec, OnnxPolicy, Policy};
use crate::sim::env::Env;
use crate::sim::rng::derive_seed;
use crate::sim::tabletop::reach::distance;
use crate::sim::urdf::UrdfReach;
use crate::skills::report::parallel;

/// "Reached": a final error under this (m).
pub const REACHED_M: f32 = 0.01;

/// Final errors and their summary.
#[derive(Clone, Debug, Serialize)]
pub struct ReachReport {
    pub env: String,
    pub policy: String,
    pub episodes: usize,
    pub seed: u64,
    pub median_m: f32,
    pub p95_m: f32,
    pub max_m: f32,
    /// Share of episodes that ended within `REACHED_M`.
    pub within_1cm: f64,
}

/// Final tool errors (m) of `policy` on `episodes` episodes of `reach:spec`
/// (seeds derived from `seed`), on `threads` threads.
pub fn final_errors(
    spec: &str,
    policy: &Path,
    episodes: usize,
    seed: u64,
    threads: usize,
) -> Result<Vec<f32>> {
    let probe = UrdfReach::from_spec(spec).map_err(|e| anyhow!("reach:{spec}: {e}"))?;
    let obs_dim = probe.spec().observation.flat_dim();
    let act_dim = probe.spec().action.flat_dim();
    let bytes = crate::input::read_file(policy, crate::input::FileKind::Model)
        .with_context(|| format!("reading {}", policy.display()))?;
    OnnxPolicy::from_bytes(&bytes, obs_dim, ActionSpec::Continuous { dim: act_dim })
        .with_context(|| format!("{} is not a policy for reach:{spec}", policy.display()))?;
    let threads = threads.max(1);
    let per_thread = episodes.div_ceil(threads);
    let chunks = parallel(threads, threads, |t| -> Result<Vec<f32>> {
        let mut env = UrdfReach::from_spec(spec).map_err(|e| anyhow!(e))?;
        let mut policy =
            OnnxPolicy::from_bytes(&bytes, obs_dim, ActionSpec::Continuous { dim: act_dim })?;
        let (mut obs, mut act) = (vec![0.0f32; obs_dim], vec![0.0f32; act_dim]);
        let mut errs = Vec::with_capacity(per_thread);
        for i in (t * per_thread)..((t + 1) * per_thread).min(episodes) {
            env.reset(derive_seed(seed, i as u64), &mut obs);
            loop {
                policy.act(&obs, &mut act)?;
                if env.step(&act, &mut obs).truncated {
                    break;
                }
            }
            errs.push(distance(env.tool(), env.target()));
        }
        Ok(errs)
    });
    let mut all = Vec::with_capacity(episodes);
    for c in chunks {
        all.extend(c?);
    }
    Ok(all)
}

/// [`final_errors`] summarised.
pub fn evaluate(
    spec: &str,
    policy: &Path,
    episodes: usize,
    seed: u64,
    threads: usize,
) -> Result<ReachReport> {
    let mut errs = final_errors(spec, policy, episodes, seed, threads)?;
    errs.sort_by(f32::total_cmp);
    let at = |f: f64| {
        let i = ((errs.len() as f64 * f).ceil() as usize).clamp(1, errs.len().max(1)) - 1;
        errs.get(i).copied().unwrap_or(f32::NAN)
    };
    let within = errs.iter().filter(|e| **e < REACHED_M).count() as f64 / errs.len().max(1) as f64;
    Ok(ReachReport {
        env: format!("reach:{spec}"),
        policy: policy.display().to_string(),
        episodes: errs.len(),
        seed,
        median_m: at(0.5),
        p95_m: at(0.95),
        max_m: at(1.0),
        within_1cm: within,
    })
}
