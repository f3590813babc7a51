//! The VLA's frozen image encoder: the perception network's convolutions
//! (learned in simulation, `models/perception.onnx`), read back from its
//! ONNX file into the native network. A frame becomes, on a map pooled
//! `POOL`× (64×64 from 128×128):
//! - `feat`: the last hidden layer's features (`WIDTH` channels),
//! - `votes`: each cell's vote for the centre of the object it sees (the
//!   back-projected depth plus the predicted offset, metres, averaged over
//!   the cell's pixels with depth),
//! - `mask`: 0 where some pixel of the cell had depth, `MASKED` where none.
//!
//! The exported graph (`export`) computes the same thing with ONNX ops, so
//! training (here, natively) and deployment (tract) see the same inputs.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use ganglion_sim::render::Camera;
use prost::Message;

use crate::perception::features::{IN_CHANNELS, UNIT_M, input_planes_from};
use crate::perception::net::{Cache, OFFSET_AT, PerceptionNet, WIDTH};

/// Pooling factor from the camera's pixels to the encoder's map.
pub const POOL: usize = 2;
/// Feature channels.
pub const FEATURES: usize = WIDTH;
/// What masked cells add to the attention logits.
pub const MASKED: f32 = -1.0e4;

/// The perception network with the weights of the ONNX file at `path`
/// (initializers `conv{i}.weight` / `conv{i}.bias`, as `PerceptionNet::export`
/// writes them).
pub fn load_perception(path: &Path) -> Result<(PerceptionNet, Vec<f32>)> {
    let bytes = crate::input::read_file(path, crate::input::FileKind::Model)
        .with_context(|| format!("reading the perception model {}", path.display()))?;
    let model = tract_onnx::pb::ModelProto::decode(bytes.as_slice())
        .with_context(|| format!("{} is not an ONNX model", path.display()))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| anyhow!("{}: no graph", path.display()))?;
    let net = PerceptionNet::new();
    let mut params = vec![0.0; net.num_params()];
    for (i, layer) in net.layers.iter().enumerate() {
        for (name, at, len) in [
            (
                format!("conv{i}.weight"),
                layer.offset,
                layer.cout * layer.col_rows(),
            ),
            (
                format!("conv{i}.bias"),
                layer.offset + layer.cout * layer.col_rows(),
                layer.cout,
            ),
        ] {
            let t = graph
                .initializer
                .iter()
                .find(|t| t.name == name)
                .ok_or_else(|| {
                    anyhow!(
                        "{}: no initializer `{name}`: not a perception model of this version",
                        path.display()
                    )
                })?;
            let data = tensor_floats(t);
            if data.len() != len {
                bail!(
                    "{}: `{name}` has {} values, the perception network has {len} (WIDTH {WIDTH})",
                    path.display(),
                    data.len()
                );
            }
            params[at..at + len].copy_from_slice(&data);
        }
    }
    Ok((net, params))
}

/// A float initializer's values (`float_data` or little-endian `raw_data`).
fn tensor_floats(t: &tract_onnx::pb::TensorProto) -> Vec<f32> {
    if !t.float_data.is_empty() {
        return t.float_data.clone();
    }
    t.raw_data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// One frame, encoded (buffers sized once for the camera).
#[derive(Clone, Debug)]
pub struct Encoded {
    /// `FEATURES × cells`.
    pub feat: Vec<f32>,
    /// `3 × cells` (m).
    pub votes: Vec<f32>,
    /// `cells`.
    pub mask: Vec<f32>,
}

/// The encoder with its buffers, for frames of one camera.
pub struct Encoder {
    net: PerceptionNet,
    params: Vec<f32>,
    cache: Cache,
    camera: Camera,
    planes: Vec<f32>,
    points: Vec<[f32; 3]>,
    /// Per-pixel votes, `3 × h·w`.
    votes: Vec<f32>,
}

impl Encoder {
    pub fn new(net: PerceptionNet, params: Vec<f32>, camera: Camera) -> Encoder {
        let (w, h) = (camera.width, camera.height);
        let n = w * h;
        Encoder {
            cache: Cache::new(&net, h, w),
            net,
            params,
            camera,
            planes: vec![0.0; IN_CHANNELS * n],
            points: vec![[0.0; 3]; n],
            votes: vec![0.0; 3 * n],
        }
    }

    /// Cells of the pooled map.
    pub fn cells(&self) -> usize {
        (self.camera.width / POOL) * (self.camera.height / POOL)
    }

    pub fn new_encoded(&self) -> Encoded {
        let c = self.cells();
        Encoded {
            feat: vec![0.0; FEATURES * c],
            votes: vec![0.0; 3 * c],
            mask: vec![0.0; c],
        }
    }

    /// Encodes one frame (`rgb` 3 bytes a pixel, `depth` metres) into `out`.
    pub fn encode(&mut self, rgb: &[u8], depth: &[f32], out: &mut Encoded) -> Result<()> {
        let (w, h) = (self.camera.width, self.camera.height);
        let n = w * h;
        if rgb.len() != 3 * n || depth.len() != n {
            bail!("a frame of the wrong size for the {w}×{h} encoder");
        }
        input_planes_from(
            (w, h),
            rgb,
            depth,
            &self.camera,
            &mut self.planes,
            &mut self.points,
        );
        self.net
            .forward(&self.params, &self.planes, &mut self.cache);
        let maps = self.cache.output();
        for (i, p) in self.points.iter().enumerate() {
            for k in 0..3 {
                self.votes[k * n + i] = p[k] + UNIT_M * maps[(OFFSET_AT + k) * n + i];
            }
        }
        let valid = &self.planes[6 * n..7 * n];
        pool_features(self.cache.hidden(), FEATURES, (w, h), &mut out.feat);
        pool_votes(&self.votes, valid, (w, h), &mut out.votes, &mut out.mask);
        Ok(())
    }
}

/// `POOL`×`POOL` average pooling of `channels` planes of `w × h`.
fn pool_features(x: &[f32], channels: usize, (w, h): (usize, usize), out: &mut [f32]) {
    let (pw, ph) = (w / POOL, h / POOL);
    let inv = 1.0 / (POOL * POOL) as f32;
    for c in 0..channels {
        let plane = &x[c * w * h..(c + 1) * w * h];
        for y in 0..ph {
            for x0 in 0..pw {
                let mut s = 0.0;
                for dy in 0..POOL {
                    let row = (y * POOL + dy) * w + x0 * POOL;
                    s += plane[row..row + POOL].iter().sum::<f32>();
                }
                out[c * pw * ph + y * pw + x0] = s * inv;
            }
        }
    }
}

/// The cells' votes: the mean over the cell's pixels with depth (as the
/// exported graph: pool(votes·valid) / (pool(valid) + 1e-6)), and the mask.
fn pool_votes(
    votes: &[f32],
    valid: &[f32],
    (w, h): (usize, usize),
    out: &mut [f32],
    mask: &mut [f32],
) {
    let (pw, ph) = (w / POOL, h / POOL);
    let n = w * h;
    let inv = 1.0 / (POOL * POOL) as f32;
    for y in 0..ph {
        for x0 in 0..pw {
            let cell = y * pw + x0;
            let mut count = 0.0;
            let mut sum = [0.0f32; 3];
            for dy in 0..POOL {
                for dx in 0..POOL {
                    let i = (y * POOL + dy) * w + x0 * POOL + dx;
                    count += valid[i];
                    for (k, s) in sum.iter_mut().enumerate() {
                        *s += votes[k * n + i] * valid[i];
                    }
                }
            }
            let c = count * inv;
            for (k, s) in sum.iter().enumerate() {
                out[k * pw * ph + cell] = s * inv / (c + VOTE_EPS);
            }
            mask[cell] = if c > 0.0 { 0.0 } else { MASKED };
        }
    }
}

/// Keeps the division defined where a cell had no depth.
pub const VOTE_EPS: f32 = 1e-6;
