//! Learning perception from random rendered views: each step draws fresh
//! views (so nothing repeats and nothing is memorised), renders them with
//! the standard randomization, labels every pixel from the renderer's
//! object ids, and takes one Adam step on the summed gradients. Views are
//! split over worker threads, each with its own renderer and buffers; the
//! sum is taken in a fixed order, so a seed gives the same model on any
//! machine with the same thread count.

use anyhow::Result;
use ganglion_sim::render::{Camera, Frame, Renderer, block_id, bowl_id};
use ganglion_sim::tabletop::views::{Randomization, View, random_view};
use ganglion_sim::{Rng, derive_seed};

use super::features::{IN_CHANNELS, UNIT_M, input_planes};
use super::net::{Cache, LossParts, OUT_CHANNELS, PerceptionNet, Targets, loss};
use super::{Kind, class_of, color_index};
use crate::nn::{Adam, clip_grad_norm};

/// One rendered, labelled view and the network's input for it.
pub struct Sample {
    pub view: View,
    pub frame: Frame,
    pub planes: Vec<f32>,
    pub points: Vec<[f32; 3]>,
    pub labels: Vec<u8>,
    pub offsets: Vec<[f32; 3]>,
    pub valid: Vec<bool>,
}

/// Renders and labels views; buffers sized once for its camera.
pub struct Sampler {
    nominal: Camera,
    renderer: Renderer,
    pub sample: Sample,
}

impl Sampler {
    pub fn new(nominal: Camera) -> Sampler {
        let n = nominal.width * nominal.height;
        let renderer = Renderer::new(nominal.clone());
        let view = random_view(0, &nominal, &Randomization::none());
        Sampler {
            sample: Sample {
                view,
                frame: Frame {
                    width: nominal.width,
                    height: nominal.height,
                    rgb: vec![0; 3 * n],
                    depth: vec![0.0; n],
                },
                planes: vec![0.0; IN_CHANNELS * n],
                points: vec![[0.0; 3]; n],
                labels: vec![0; n],
                offsets: vec![[0.0; 3]; n],
                valid: vec![false; n],
            },
            nominal,
            renderer,
        }
    }

    /// Draws view `seed` under `rand`. The input planes use `calibration`
    /// as the camera's pose when given (else the pose it was rendered from,
    /// i.e. a calibrated camera).
    pub fn draw(
        &mut self,
        seed: u64,
        rand: &Randomization,
        calibration: Option<&Camera>,
    ) -> &Sample {
        let view = random_view(seed, &self.nominal, rand);
        self.renderer.set_camera(view.camera.clone());
        self.renderer.set_appearance(view.appearance.clone());
        let frame = self.renderer.render(&view.scene, &view.state, view.noise);
        let s = &mut self.sample;
        s.frame.rgb.copy_from_slice(&frame.rgb);
        s.frame.depth.copy_from_slice(&frame.depth);
        input_planes(
            &s.frame,
            calibration.unwrap_or(&view.camera),
            &mut s.planes,
            &mut s.points,
        );
        let ids = self.renderer.object_ids();
        let blocks: Vec<(u16, usize, [f32; 3])> = view
            .scene
            .blocks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    block_id(i),
                    class_of(Kind::Block, color_index(c).unwrap_or(0)),
                    view.state.blocks[i],
                )
            })
            .collect();
        let bowls = view.scene.bowls.iter().enumerate().map(|(k, c)| {
            let p = view.state.bowls[k];
            (
                bowl_id(k),
                class_of(Kind::Bowl, color_index(c).unwrap_or(0)),
                [p[0], p[1], 0.0],
            )
        });
        let objects: Vec<(u16, usize, [f32; 3])> = blocks.into_iter().chain(bowls).collect();
        for (i, &id) in ids.iter().enumerate() {
            s.valid[i] = s.frame.depth[i] > 0.0;
            s.labels[i] = 0;
            s.offsets[i] = [0.0; 3];
            if let Some((_, class, centre)) = objects.iter().find(|o| o.0 == id) {
                s.labels[i] = *class as u8;
                s.offsets[i] = std::array::from_fn(|a| (centre[a] - s.points[i][a]) / UNIT_M);
            }
        }
        s.view = view;
        &self.sample
    }
}

/// A square window of a sample: what one training step sees of a view
/// (the network is fully convolutional, so it learns on windows around
/// objects and runs on whole frames).
pub struct Crop {
    pub size: usize,
    pub planes: Vec<f32>,
    pub labels: Vec<u8>,
    pub offsets: Vec<[f32; 3]>,
    pub valid: Vec<bool>,
}

impl Crop {
    pub fn new(size: usize) -> Crop {
        let n = size * size;
        Crop {
            size,
            planes: vec![0.0; IN_CHANNELS * n],
            labels: vec![0; n],
            offsets: vec![[0.0; 3]; n],
            valid: vec![false; n],
        }
    }

    /// Cuts the window centred (as far as the frame allows) on a random
    /// object pixel of `s` (a random place when there is none).
    pub fn cut(&mut self, s: &Sample, rng: &mut Rng) {
        let (w, h, c) = (s.frame.width, s.frame.height, self.size);
        let objects = s.labels.iter().filter(|l| **l > 0).count();
        let centre = if objects > 0 && rng.next_f32() < 0.9 {
            let k = rng.below(objects);
            s.labels
                .iter()
                .enumerate()
                .filter(|(_, l)| **l > 0)
                .nth(k)
                .map_or(0, |(i, _)| i)
        } else {
            rng.below(w * h)
        };
        let x0 = (centre % w).saturating_sub(c / 2).min(w.saturating_sub(c));
        let y0 = (centre / w).saturating_sub(c / 2).min(h.saturating_sub(c));
        let (n, nc) = (w * h, c * c);
        for y in 0..c.min(h) {
            for x in 0..c.min(w) {
                let (i, j) = ((y0 + y) * w + x0 + x, y * c + x);
                for p in 0..IN_CHANNELS {
                    self.planes[p * nc + j] = s.planes[p * n + i];
                }
                self.labels[j] = s.labels[i];
                self.offsets[j] = s.offsets[i];
                self.valid[j] = s.valid[i];
            }
        }
    }
}

/// How to train.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub steps: usize,
    pub batch: usize,
    pub lr: f32,
    pub seed: u64,
    pub threads: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            steps: 2000,
            batch: 8,
            lr: 3e-3,
            seed: 1,
            threads: 2,
        }
    }
}

impl TrainOptions {
    /// Rejects sizes that cannot train.
    pub fn check(&self) -> Result<()> {
        if self.steps == 0 || self.batch == 0 || self.threads == 0 {
            anyhow::bail!("--steps, --batch and --threads must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr < 1.0) {
            anyhow::bail!("--lr must be in (0, 1), got {}", self.lr);
        }
        Ok(())
    }
}

/// The seed of training view `k` (a stream evaluation never draws from).
pub fn train_view_seed(seed: u64, k: u64) -> u64 {
    derive_seed(derive_seed(seed, 0x7a1e), k)
}

/// Training window side (pixels).
pub const CROP: usize = 64;

struct Worker {
    sampler: Sampler,
    crop: Crop,
    rng: Rng,
    cache: Cache,
    grads: Vec<f32>,
    dout: Vec<f32>,
    parts: LossParts,
}

/// A trained network: its shape, its parameters, and the loss curve
/// (class loss, vote loss per step).
pub type Trained = (PerceptionNet, Vec<f32>, Vec<(f64, f64)>);

/// Trains a network; `progress` hears (step, class loss, vote loss) after
/// every step.
pub fn train(opts: &TrainOptions, mut progress: impl FnMut(usize, f64, f64)) -> Result<Trained> {
    opts.check()?;
    let mut curve = Vec::with_capacity(opts.steps);
    let net = PerceptionNet::new();
    let mut rng = Rng::new(derive_seed(opts.seed, 0x1417));
    let mut params = vec![0.0; net.num_params()];
    net.init(&mut params, &mut rng);
    let cam = super::camera();
    let (h, w) = (cam.height, cam.width);
    let threads = opts.threads.clamp(1, opts.batch.max(1));
    let c = CROP.min(h).min(w);
    let mut workers: Vec<Worker> = (0..threads)
        .map(|_| Worker {
            sampler: Sampler::new(cam.clone()),
            crop: Crop::new(c),
            rng: Rng::new(0),
            cache: Cache::new(&net, c, c),
            grads: vec![0.0; net.num_params()],
            dout: vec![0.0; OUT_CHANNELS * c * c],
            parts: LossParts::default(),
        })
        .collect();
    let mut adam = Adam::new(net.num_params());
    let mut grads = vec![0.0; net.num_params()];
    let rand = Randomization::standard();
    for step in 0..opts.steps {
        let base = (step * opts.batch) as u64;
        std::thread::scope(|s| {
            for (t, wk) in workers.iter_mut().enumerate() {
                let (net, params, rand) = (&net, &params, &rand);
                s.spawn(move || {
                    wk.grads.fill(0.0);
                    wk.parts = LossParts::default();
                    for j in (t..opts.batch).step_by(threads) {
                        let seed = train_view_seed(opts.seed, base + j as u64);
                        let sample = wk.sampler.draw(seed, rand, None);
                        wk.rng = Rng::new(derive_seed(seed, 0xc209));
                        wk.crop.cut(sample, &mut wk.rng);
                        net.forward(params, &wk.crop.planes, &mut wk.cache);
                        let t = Targets {
                            labels: &wk.crop.labels,
                            offsets: &wk.crop.offsets,
                            valid: &wk.crop.valid,
                        };
                        let p = loss(wk.cache.output(), &t, c * c, &mut wk.dout);
                        wk.parts.class += p.class;
                        wk.parts.vote += p.vote;
                        net.backward(params, &mut wk.cache, &wk.dout, &mut wk.grads);
                    }
                });
            }
        });
        grads.fill(0.0);
        let (mut class, mut vote) = (0.0, 0.0);
        for wk in &workers {
            for (g, x) in grads.iter_mut().zip(&wk.grads) {
                *g += x / opts.batch as f32;
            }
            class += wk.parts.class / opts.batch as f64;
            vote += wk.parts.vote / opts.batch as f64;
        }
        clip_grad_norm(&mut grads, 5.0);
        // Cosine decay to a tenth.
        let frac = step as f32 / opts.steps.max(1) as f32;
        let lr = opts.lr * (0.1 + 0.45 * (1.0 + (std::f32::consts::PI * frac).cos()));
        adam.update(&mut params, &grads, lr);
        curve.push((class, vote));
        progress(step, class, vote);
    }
    Ok((net, params, curve))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short run learns to label object pixels far above chance (1 in 13)
    /// on views it never saw, and a seed gives the same model twice.
    #[test]
    fn a_short_run_learns_to_find_objects_and_is_deterministic() {
        let opts = TrainOptions {
            steps: 120,
            batch: 4,
            ..TrainOptions::default()
        };
        let (net, params, curve) = train(&opts, |_, _, _| {}).unwrap();
        let (_, again, _) = train(&opts, |_, _, _| {}).unwrap();
        assert_eq!(params, again, "same seed, same threads: same model");
        let first = curve[..10].iter().map(|c| c.0).sum::<f64>();
        let last = curve[curve.len() - 10..].iter().map(|c| c.0).sum::<f64>();
        assert!(last < 0.7 * first, "class loss {first} -> {last}");
        // Early on the network tells objects from the rest before it names
        // their colours: P(some object) on object pixels vs elsewhere.
        let cam = crate::perception::camera();
        let mut sampler = Sampler::new(cam.clone());
        let mut cache = Cache::new(&net, cam.height, cam.width);
        let n = cam.width * cam.height;
        let (mut on_obj, mut obj, mut on_bg, mut bg) = (0.0f64, 0, 0.0f64, 0);
        for k in 0..6 {
            let s = sampler.draw(
                crate::perception::eval::eval_view_seed(5, k),
                &Randomization::standard(),
                None,
            );
            net.forward(&params, &s.planes, &mut cache);
            let out = cache.output();
            for i in 0..n {
                let m = (0..crate::perception::CLASSES)
                    .map(|c| out[c * n + i])
                    .fold(f32::MIN, f32::max);
                let z: f32 = (0..crate::perception::CLASSES)
                    .map(|c| (out[c * n + i] - m).exp())
                    .sum();
                let p_object = 1.0 - ((out[i] - m).exp() / z) as f64;
                if s.labels[i] > 0 {
                    on_obj += p_object;
                    obj += 1;
                } else {
                    on_bg += p_object;
                    bg += 1;
                }
            }
        }
        let (o, b) = (on_obj / obj as f64, on_bg / bg as f64);
        assert!(
            o > 5.0 * b,
            "P(object) on object pixels {o:.3}, elsewhere {b:.4}"
        );
    }
}
