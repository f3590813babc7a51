//! The exported perception model in tract: what runs on a robot. Loads the
//! ONNX file, checks its input and output shapes, and turns a frame (with
//! its camera's calibration and the arm's own state) into a `Perceived`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use ganglion_sim::TabletopState;
use ganglion_sim::render::{Camera, Frame};
use tract_onnx::prelude::*;

use super::decode::{Perceived, detect, perceive_state};
use super::features::{IN_CHANNELS, input_planes};
use super::net::OUT_CHANNELS;

type Plan = TypedSimplePlan;

/// A loaded perception model and its buffers (sized for one resolution).
pub struct Perception {
    plan: Arc<Plan>,
    h: usize,
    w: usize,
    planes: Vec<f32>,
    points: Vec<[f32; 3]>,
    valid: Vec<bool>,
    maps: Vec<f32>,
}

impl Perception {
    /// Loads `path` for frames of `width × height`.
    pub fn load(path: &Path, width: usize, height: usize) -> Result<Perception> {
        let bytes =
            crate::input::read_file(path, crate::input::FileKind::Model).with_context(|| {
                format!(
                    "reading the perception model {} (make it with `ganglion perception train`)",
                    path.display()
                )
            })?;
        let built =
            crate::policy::catch_engine_panic(|| build(&bytes, width, height)).map_err(|why| {
                anyhow!(
                    "the ONNX engine failed on {} (internal error: {why})",
                    path.display()
                )
            })?;
        let plan = built.with_context(|| format!("perception model {}", path.display()))?;
        let n = width * height;
        Ok(Perception {
            plan,
            h: height,
            w: width,
            planes: vec![0.0; IN_CHANNELS * n],
            points: vec![[0.0; 3]; n],
            valid: vec![false; n],
            maps: vec![0.0; OUT_CHANNELS * n],
        })
    }

    /// The network's output planes for `frame` seen by `camera`.
    pub fn maps(&mut self, frame: &Frame, camera: &Camera) -> Result<&[f32]> {
        if (frame.width, frame.height) != (self.w, self.h) {
            bail!(
                "the perception model takes {}×{} frames, got {}×{}",
                self.w,
                self.h,
                frame.width,
                frame.height
            );
        }
        input_planes(frame, camera, &mut self.planes, &mut self.points);
        for (v, d) in self.valid.iter_mut().zip(&frame.depth) {
            *v = *d > 0.0;
        }
        let input = Tensor::from_shape(&[1, IN_CHANNELS, self.h, self.w], &self.planes)?;
        let out = self
            .plan
            .run(tvec!(input.into_tvalue()))
            .map_err(|e| anyhow!("perception inference failed: {e:#}"))?;
        let t = out
            .first()
            .ok_or_else(|| anyhow!("the perception model produced no output"))?;
        let s = t
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>())
            .map_err(|e| anyhow!("perception output: {e}"))?;
        if s.len() != self.maps.len() {
            bail!(
                "perception output has {} values, expected {}",
                s.len(),
                self.maps.len()
            );
        }
        self.maps.copy_from_slice(s);
        Ok(&self.maps)
    }

    /// What the camera sees: objects, and the state with the arm's own
    /// joints and cup from `arm` (proprioception).
    pub fn perceive(
        &mut self,
        frame: &Frame,
        camera: &Camera,
        arm: &TabletopState,
    ) -> Result<Perceived> {
        self.maps(frame, camera)?;
        let dets = detect(
            &self.maps,
            &self.points,
            &self.valid,
            (self.h, self.w),
            camera.eye,
        );
        Ok(perceive_state(dets, arm))
    }
}

fn build(bytes: &[u8], w: usize, h: usize) -> Result<Arc<Plan>> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(|e| anyhow!("not a readable ONNX model: {e:#}"))?;
    crate::policy::onnx::reject_unknown_ops(&model)?;
    let model = model
        .with_input_fact(0, f32::fact([1, IN_CHANNELS, h, w]).into())?
        .into_typed()
        .map_err(|e| {
            anyhow!("the model does not take a [1, {IN_CHANNELS}, {h}, {w}] image: {e:#}")
        })?;
    let out = model
        .output_fact(0)?
        .shape
        .as_concrete()
        .map(|s| s.to_vec());
    if out.as_deref() != Some(&[1, OUT_CHANNELS, h, w]) {
        bail!(
            "the model's output is {out:?}, expected [1, {OUT_CHANNELS}, {h}, {w}] (a ganglion perception model)"
        );
    }
    model.into_optimized()?.into_runnable()
}

#[cfg(test)]
mod tests {
    use super::super::net::{Cache, PerceptionNet};
    use super::*;

    /// The exported file in tract computes what the training code computes.
    #[test]
    fn tract_runs_the_export_like_the_training_code() {
        let net = PerceptionNet::new();
        let mut params = vec![0.0; net.num_params()];
        net.init(&mut params, &mut ganglion_sim::Rng::new(2));
        let (w, h) = (24, 16);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("p.onnx");
        net.export(&params, (h, w), &[], &path).expect("exports");
        let mut engine = Perception::load(&path, w, h).expect("loads");
        let frame = Frame {
            width: w,
            height: h,
            rgb: (0..3 * w * h).map(|i| (i * 37 % 251) as u8).collect(),
            depth: (0..w * h)
                .map(|i| {
                    if i % 7 == 0 {
                        0.0
                    } else {
                        0.8 + 0.001 * i as f32
                    }
                })
                .collect(),
        };
        let cam = Camera::with_fov(w, h, 50.0, [1.0, 0.0, 0.8], [0.3, 0.0, 0.0]);
        let maps = engine.maps(&frame, &cam).expect("runs").to_vec();
        let mut planes = vec![0.0; IN_CHANNELS * w * h];
        let mut points = vec![[0.0; 3]; w * h];
        input_planes(&frame, &cam, &mut planes, &mut points);
        let mut cache = Cache::new(&net, h, w);
        net.forward(&params, &planes, &mut cache);
        let worst = maps
            .iter()
            .zip(cache.output())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "worst difference {worst}");
    }

    #[test]
    fn a_file_that_is_not_a_perception_model_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let junk = dir.path().join("junk.onnx");
        std::fs::write(&junk, b"not onnx at all").expect("writes");
        let e = format!(
            "{:#}",
            Perception::load(&junk, 128, 128).err().expect("refused")
        );
        assert!(e.contains("junk.onnx") && e.contains("ONNX"), "{e}");
        let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/cartpole-ppo.onnx");
        let e = format!(
            "{:#}",
            Perception::load(&policy, 128, 128).err().expect("refused")
        );
        assert!(
            e.contains("cartpole-ppo.onnx") && e.contains("image"),
            "{e}"
        );
    }
}
