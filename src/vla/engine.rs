//! The exported VLA in tract: what runs on a robot. Loads the ONNX file
//! (checking its four inputs and its `[1, H, A]` output), and turns a camera
//! frame, the arm's sensors and an instruction embedding into a chunk of H
//! actions. Buffers are sized at load; a prediction copies into them and
//! runs the plan.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use ganglion_sim::render::Camera;
use tract_onnx::prelude::*;

use super::export::{INPUT_IMAGE, INPUT_INSTRUCTION, INPUT_POINTS, INPUT_PROPRIO};
use super::{ACTION, EMBED, proprio_features};
use crate::learn::demos::PROPRIO;
use crate::perception::features::{IN_CHANNELS, input_planes_from};

type Plan = TypedSimplePlan;

pub struct VlaEngine {
    plan: Arc<Plan>,
    camera: Camera,
    horizon: usize,
    planes: Vec<f32>,
    points: Vec<[f32; 3]>,
    points_planar: Vec<f32>,
    proprio: Vec<f32>,
    embed: Vec<f32>,
}

impl VlaEngine {
    /// Loads `path` for frames of `camera` (its calibration back-projects
    /// the depth).
    pub fn load(path: &Path, camera: Camera) -> Result<VlaEngine> {
        let bytes = crate::input::read_file(path, crate::input::FileKind::Model)
            .with_context(|| format!("reading the VLA model {}", path.display()))?;
        let (w, h) = (camera.width, camera.height);
        let built = crate::policy::catch_engine_panic(|| build(&bytes, w, h)).map_err(|why| {
            anyhow!(
                "the ONNX engine failed on {} (internal error: {why})",
                path.display()
            )
        })?;
        let (plan, horizon) = built.with_context(|| format!("VLA model {}", path.display()))?;
        let n = w * h;
        Ok(VlaEngine {
            plan,
            camera,
            horizon,
            planes: vec![0.0; IN_CHANNELS * n],
            points: vec![[0.0; 3]; n],
            points_planar: vec![0.0; 3 * n],
            proprio: vec![0.0; PROPRIO.len()],
            embed: vec![0.0; EMBED],
        })
    }

    pub fn horizon(&self) -> usize {
        self.horizon
    }

    pub fn camera(&self) -> &Camera {
        &self.camera
    }

    /// The instruction's embedding (from `lang::minilm::MiniLm::embed`).
    pub fn set_instruction(&mut self, embedding: &[f32]) -> Result<()> {
        if embedding.len() != EMBED {
            bail!(
                "an instruction embedding of {} values, the model takes {EMBED}",
                embedding.len()
            );
        }
        self.embed.copy_from_slice(embedding);
        Ok(())
    }

    /// The next H actions (`H × ACTION`, row-major, into `chunk`) from the
    /// frame (`rgb`, `depth` of the camera's size), and the loop's
    /// observation `obs` (the tabletop's 13 arm sensors).
    pub fn predict(
        &mut self,
        obs: &[f32],
        rgb: &[u8],
        depth: &[f32],
        chunk: &mut [f32],
    ) -> Result<()> {
        let (w, h) = (self.camera.width, self.camera.height);
        let n = w * h;
        if rgb.len() != 3 * n || depth.len() != n {
            bail!("the VLA takes {w}×{h} RGB-D frames");
        }
        if obs.len() < PROPRIO.len() {
            bail!(
                "{} observations, the VLA needs {}",
                obs.len(),
                PROPRIO.len()
            );
        }
        if chunk.len() < self.horizon * ACTION {
            bail!(
                "a chunk buffer of {}, need {}",
                chunk.len(),
                self.horizon * ACTION
            );
        }
        input_planes_from(
            (w, h),
            rgb,
            depth,
            &self.camera,
            &mut self.planes,
            &mut self.points,
        );
        for (i, p) in self.points.iter().enumerate() {
            for (k, v) in p.iter().enumerate() {
                self.points_planar[k * n + i] = *v;
            }
        }
        proprio_features(&obs[..PROPRIO.len()], &mut self.proprio);
        let inputs = tvec!(
            Tensor::from_shape(&[1, IN_CHANNELS, h, w], &self.planes)?.into_tvalue(),
            Tensor::from_shape(&[1, 3, h, w], &self.points_planar)?.into_tvalue(),
            Tensor::from_shape(&[1, PROPRIO.len()], &self.proprio)?.into_tvalue(),
            Tensor::from_shape(&[1, EMBED], &self.embed)?.into_tvalue(),
        );
        let out = self
            .plan
            .run(inputs)
            .map_err(|e| anyhow!("VLA inference failed: {e:#}"))?;
        let t = out
            .first()
            .ok_or_else(|| anyhow!("the VLA model produced no output"))?;
        let s = t
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>())
            .map_err(|e| anyhow!("VLA output: {e}"))?;
        let want = self.horizon * ACTION;
        if s.len() != want {
            bail!("VLA output has {} values, expected {want}", s.len());
        }
        chunk[..want].copy_from_slice(s);
        Ok(())
    }
}

/// The runnable plan and the model's horizon.
fn build(bytes: &[u8], w: usize, h: usize) -> Result<(Arc<Plan>, usize)> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(|e| anyhow!("not a readable ONNX model: {e:#}"))?;
    crate::policy::onnx::reject_unknown_ops(&model)?;
    let names: Vec<String> = model
        .input_outlets()?
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    let want = [INPUT_IMAGE, INPUT_POINTS, INPUT_PROPRIO, INPUT_INSTRUCTION];
    if names != want {
        bail!("inputs are {names:?}, a ganglion VLA model takes {want:?}");
    }
    let model = model
        .with_input_fact(0, f32::fact([1, IN_CHANNELS, h, w]).into())?
        .with_input_fact(1, f32::fact([1, 3, h, w]).into())?
        .with_input_fact(2, f32::fact([1, PROPRIO.len()]).into())?
        .with_input_fact(3, f32::fact([1, EMBED]).into())?
        .into_typed()
        .map_err(|e| anyhow!("the model does not take a {w}×{h} camera: {e:#}"))?;
    let out = model
        .output_fact(0)?
        .shape
        .as_concrete()
        .map(|s| s.to_vec());
    let horizon = match out.as_deref() {
        Some([1, hz, a]) if *a == ACTION && *hz > 0 => *hz,
        _ => bail!("the model's output is {out:?}, expected [1, H, {ACTION}] (a ganglion VLA)"),
    };
    Ok((model.into_optimized()?.into_runnable()?, horizon))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::vla::{VlaCache, VlaConfig, VlaHead, VlaInput};
    use crate::perception::PerceptionNet;
    use crate::vla::encoder::{Encoder, FEATURES};
    use crate::vla::export::{VlaParts, export_vla};

    /// The exported graph in tract computes what the training code computes
    /// (encoder, pooling, masks, attention, trunk, both normalisations).
    #[test]
    fn tract_runs_the_export_like_the_training_code() {
        let mut rng = ganglion_sim::Rng::new(3);
        let net = PerceptionNet::new();
        let mut enc_params = vec![0.0; net.num_params()];
        net.init(&mut enc_params, &mut rng);
        let (w, h) = (24, 16);
        let cam = Camera::with_fov(w, h, 50.0, [1.0, 0.0, 0.8], [0.3, 0.0, 0.0]);
        let cfg = VlaConfig {
            feat: FEATURES,
            pixels: (w / 2) * (h / 2),
            hidden: 8,
            keypoints: 3,
            embed: EMBED,
            task: 6,
            proprio: PROPRIO.len(),
            mlp: vec![16],
            horizon: 4,
            action: ACTION,
        };
        let head = VlaHead::new(cfg.clone());
        let mut params = vec![0.0; head.num_params()];
        head.init(&mut params, &mut rng);
        params.iter_mut().for_each(|p| *p += 0.05 * rng.normal());
        let mean: Vec<f32> = (0..PROPRIO.len()).map(|i| 0.1 * i as f32).collect();
        let inv: Vec<f32> = (0..PROPRIO.len()).map(|i| 1.0 + 0.2 * i as f32).collect();
        let scale = [1.5, 1.5, 1.5, 3.0, 1.0];
        let rgb: Vec<u8> = (0..3 * w * h).map(|i| (i * 37 % 251) as u8).collect();
        // Two pooled cells with no depth at all, and a few lone holes.
        let depth: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                if (x < 4 && y < 2) || i % 11 == 0 {
                    0.0
                } else {
                    0.8 + 0.001 * i as f32
                }
            })
            .collect();
        let mut obs: Vec<f32> = (0..PROPRIO.len()).map(|i| 0.3 - 0.05 * i as f32).collect();
        obs[12] = 2.0; // holding block 2 → the feature says "holding"
        let embed: Vec<f32> = (0..EMBED).map(|_| 0.05 * rng.normal()).collect();

        let mut enc = Encoder::new(net.clone(), enc_params.clone(), cam.clone());
        let mut e = enc.new_encoded();
        enc.encode(&rgb, &depth, &mut e).expect("encodes");
        assert!(e.mask.iter().filter(|m| **m < 0.0).count() >= 2);
        let mut p = vec![0.0; PROPRIO.len()];
        proprio_features(&obs, &mut p);
        for k in 0..p.len() {
            p[k] = (p[k] - mean[k]) * inv[k];
        }
        let input = VlaInput {
            feat: &e.feat,
            votes: &e.votes,
            mask: &e.mask,
            embed: &embed,
            proprio: &p,
        };
        let mut cache = VlaCache::default();
        let native: Vec<f32> = head
            .forward(&params, &[input], &mut cache)
            .iter()
            .enumerate()
            .map(|(i, v)| v * scale[i % ACTION])
            .collect();

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("vla.onnx");
        let parts = VlaParts {
            encoder: &net,
            encoder_params: &enc_params,
            head: &head,
            head_params: &params,
            proprio_mean: &mean,
            proprio_inv_std: &inv,
            action_scale: &scale,
            width: w,
            height: h,
        };
        export_vla(&parts, &[], &path).expect("exports");
        let mut engine = VlaEngine::load(&path, cam).expect("loads");
        assert_eq!(engine.horizon(), 4);
        engine.set_instruction(&embed).expect("embedding");
        let mut chunk = vec![0.0; 4 * ACTION];
        engine
            .predict(&obs, &rgb, &depth, &mut chunk)
            .expect("runs");
        let worst = native
            .iter()
            .zip(&chunk)
            .map(|(a, b)| (a - b).abs() / a.abs().max(1e-2))
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-3,
            "worst relative difference {worst}: {native:?} vs {chunk:?}"
        );
    }

    #[test]
    fn a_model_that_is_not_a_vla_is_refused_by_name() {
        let cam = crate::perception::camera();
        let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/cartpole-ppo.onnx");
        let e = format!(
            "{:#}",
            VlaEngine::load(&policy, cam).err().expect("refused")
        );
        assert!(e.contains("cartpole-ppo.onnx") && e.contains("VLA"), "{e}");
    }
}
