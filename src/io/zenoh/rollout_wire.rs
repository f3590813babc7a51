//! The byte layout of distributed-rollout messages (`rollout`): weights
//! ("GWT1": iteration u64, n u32, n × f32) and rollout batches ("GRB1":
//! iteration u64; worker, steps, envs, obs dim, act dim, finished count as
//! u32; then obs, actions, log-probabilities, values, rewards, last obs and
//! finished returns as f32, dones as u8), little-endian. Decoding errs on
//! any short, long or implausible message; it never panics.

use anyhow::{Result, anyhow, bail};

use crate::learn::ppo::Rollout;

pub fn encode_weights(iteration: u64, params: &[f32]) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + 4 * params.len());
    b.extend_from_slice(b"GWT1");
    b.extend_from_slice(&iteration.to_le_bytes());
    b.extend_from_slice(&(params.len() as u32).to_le_bytes());
    for p in params {
        b.extend_from_slice(&p.to_le_bytes());
    }
    b
}

/// A little-endian reader that errs instead of panicking.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let Some(end) = end else {
            bail!("message ends at byte {} (wanted {n} more)", self.b.len());
        };
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64> {
        let lo = self.u32()? as u64;
        let hi = self.u32()? as u64;
        Ok(lo | (hi << 32))
    }
    fn f32s(&mut self, n: usize, out: &mut Vec<f32>) -> Result<()> {
        let s = self.take(n.checked_mul(4).ok_or_else(|| anyhow!("length overflow"))?)?;
        out.clear();
        out.extend(
            s.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        Ok(())
    }
    fn magic(&mut self, m: &[u8; 4]) -> Result<()> {
        let s = self.take(4)?;
        if s != m {
            bail!("magic {s:?}, expected {m:?}");
        }
        Ok(())
    }
    fn end(&self) -> Result<()> {
        if self.at != self.b.len() {
            bail!("{} trailing bytes", self.b.len() - self.at);
        }
        Ok(())
    }
}

pub fn decode_weights(b: &[u8], params: &mut Vec<f32>) -> Result<u64> {
    let mut r = Reader { b, at: 0 };
    r.magic(b"GWT1")?;
    let it = r.u64()?;
    let n = r.u32()? as usize;
    r.f32s(n, params)?;
    r.end()?;
    Ok(it)
}

/// One worker's batch.
#[derive(Debug, Default)]
pub struct Batch {
    pub iteration: u64,
    pub worker: usize,
    pub rollout: Rollout,
    pub finished: Vec<f32>,
}

pub fn encode_batch(iteration: u64, worker: usize, r: &Rollout, finished: &[f32]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"GRB1");
    b.extend_from_slice(&iteration.to_le_bytes());
    for v in [
        worker,
        r.n_steps,
        r.n_envs,
        r.obs_dim,
        r.act_dim,
        finished.len(),
    ] {
        b.extend_from_slice(&(v as u32).to_le_bytes());
    }
    let mut put = |xs: &[f32]| {
        xs.iter()
            .for_each(|x| b.extend_from_slice(&x.to_le_bytes()))
    };
    put(&r.obs);
    put(&r.actions);
    put(&r.logp);
    put(&r.values);
    put(&r.rewards);
    put(&r.last_obs);
    put(finished);
    b.extend(r.dones.iter().map(|&d| d as u8));
    b
}

pub fn decode_batch(b: &[u8]) -> Result<Batch> {
    let mut r = Reader { b, at: 0 };
    r.magic(b"GRB1")?;
    let iteration = r.u64()?;
    let mut dims = [0usize; 6];
    for d in &mut dims {
        *d = r.u32()? as usize;
    }
    let [worker, n_steps, n_envs, od, ad, n_fin] = dims;
    if n_steps * n_envs > 1 << 24 || od > 1024 || ad > 64 {
        bail!("implausible batch shape {n_steps}×{n_envs}, obs {od}, act {ad}");
    }
    let n = n_steps * n_envs;
    let mut ro = Rollout {
        n_steps,
        n_envs,
        obs_dim: od,
        act_dim: ad,
        ..Default::default()
    };
    r.f32s(n * od, &mut ro.obs)?;
    r.f32s(n * ad, &mut ro.actions)?;
    r.f32s(n, &mut ro.logp)?;
    r.f32s(n, &mut ro.values)?;
    r.f32s(n, &mut ro.rewards)?;
    r.f32s(n_envs * od, &mut ro.last_obs)?;
    let mut finished = Vec::new();
    r.f32s(n_fin, &mut finished)?;
    ro.dones = r.take(n)?.iter().map(|&d| d != 0).collect();
    r.end()?;
    Ok(Batch {
        iteration,
        worker,
        rollout: ro,
        finished,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trip_and_bad_input() {
        let mut r = Rollout::new(3, 2, 4, 1);
        for (i, x) in r.obs.iter_mut().enumerate() {
            *x = i as f32;
        }
        r.dones[3] = true;
        r.rewards[5] = 2.5;
        let b = encode_batch(7, 1, &r, &[10.0, 20.0]);
        let d = decode_batch(&b).expect("decodes");
        assert_eq!((d.iteration, d.worker), (7, 1));
        assert_eq!(d.rollout.obs, r.obs);
        assert_eq!(d.rollout.dones, r.dones);
        assert_eq!(d.rollout.rewards, r.rewards);
        assert_eq!(d.finished, vec![10.0, 20.0]);
        for cut in 0..b.len() {
            assert!(decode_batch(&b[..cut]).is_err());
        }
        let mut w = Vec::new();
        assert_eq!(
            decode_weights(&encode_weights(3, &[1.0, 2.0]), &mut w).ok(),
            Some(3)
        );
        assert_eq!(w, vec![1.0, 2.0]);
        assert!(decode_weights(b"GWT1", &mut w).is_err());
    }
}
