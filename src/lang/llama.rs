//! A llama-family decoder for scoring text, on f32 weights dequantised from a
//! GGUF file (candle reads and dequantises every ggml type). Unlike a
//! generation forward it returns the logits of every position asked for, and
//! it runs a *tree* of new tokens against a prompt KV cache in one batch:
//! each new token attends to the cache and to its ancestors in the tree, so
//! candidate continuations that share a prefix ("place it in the ...") share
//! its computation. Matrix products go through `matrixmultiply` on the
//! calling thread (no thread pool: planning runs in one service thread).

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use candle_core::Device;
use candle_core::quantized::gguf_file::Content;

use std::sync::Arc;

use super::q8::{Q8Matrix, Q8Scratch, matmul_q8};
use super::tensor::{matmul_t, rms_norm, silu_mul};

/// Shape of a llama-family model, from GGUF metadata.
#[derive(Debug, Clone, Copy)]
pub struct LlamaConfig {
    pub n_layer: usize,
    pub d_model: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub d_ff: usize,
    pub vocab: usize,
    pub rope_base: f32,
    pub eps: f32,
}

/// One decoder layer's weights (the LoRA trainer in `coder` reads and
/// merges into them).
#[derive(Clone)]
pub(crate) struct Layer {
    pub(crate) attn_norm: Vec<f32>,
    pub(crate) wq: Vec<f32>,
    pub(crate) wk: Vec<f32>,
    pub(crate) wv: Vec<f32>,
    pub(crate) wo: Vec<f32>,
    pub(crate) ffn_norm: Vec<f32>,
    pub(crate) w_gate: Vec<f32>,
    pub(crate) w_up: Vec<f32>,
    pub(crate) w_down: Vec<f32>,
}

impl Layer {
    /// The seven projection matrices, in `coder::lora::TARGETS` order.
    pub(crate) fn projections_mut(&mut self) -> [&mut Vec<f32>; 7] {
        [
            &mut self.wq,
            &mut self.wk,
            &mut self.wv,
            &mut self.wo,
            &mut self.w_gate,
            &mut self.w_up,
            &mut self.w_down,
        ]
    }
}

/// The model: weights as row-major `[out, in]` f32 matrices.
#[derive(Clone)]
pub struct Llama {
    pub cfg: LlamaConfig,
    pub(crate) tok_embd: Vec<f32>,
    pub(crate) out_norm: Vec<f32>,
    /// `None`: the output projection is tied to the token embedding.
    pub(crate) output: Option<Vec<f32>>,
    pub(crate) layers: Vec<Layer>,
    /// Int8 copies of the projections (`use_q8`); `None`: f32 products.
    q8: Option<Arc<Q8Weights>>,
}

/// Every layer's seven projections (`Layer::projections_mut` order) and
/// the output projection, quantised; `None` where a shape does not pack.
struct Q8Weights {
    layers: Vec<[Option<Q8Matrix>; 7]>,
    output: Option<Q8Matrix>,
}

/// Index of a projection in `Q8Weights::layers[i]`.
#[derive(Clone, Copy)]
enum Proj {
    Q = 0,
    K = 1,
    V = 2,
    O = 3,
    Gate = 4,
    Up = 5,
    Down = 6,
}

/// Keys and values of the tokens already run (the prompt), per layer, as
/// `[position, n_kv_head * head_dim]` rows.
#[derive(Default, Clone)]
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    /// Token ids in the cache, so a later prompt can reuse the common prefix.
    pub tokens: Vec<u32>,
}

impl KvCache {
    pub fn len(&self) -> usize {
        self.tokens.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
    /// Keeps the first `n` positions.
    pub fn truncate(&mut self, n: usize, kv_dim: usize) {
        let n = n.min(self.tokens.len());
        self.tokens.truncate(n);
        for k in &mut self.k {
            k.truncate(n * kv_dim);
        }
        for v in &mut self.v {
            v.truncate(n * kv_dim);
        }
    }
}

fn meta_usize(content: &Content, key: &str) -> Result<usize> {
    let v = content
        .metadata
        .get(key)
        .ok_or_else(|| anyhow!("GGUF metadata has no {key}"))?;
    v.to_u32()
        .map(|x| x as usize)
        .or_else(|_| v.to_u64().map(|x| x as usize))
        .map_err(|e| anyhow!("GGUF metadata {key}: {e}"))
}

impl Llama {
    /// Loads a llama-family GGUF file (any ggml quantisation), dequantising
    /// the weights to f32. Returns the model and the file's metadata.
    pub fn load(path: &Path) -> Result<(Self, Content)> {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut r = std::io::BufReader::new(file);
        let content = Content::read(&mut r)
            .map_err(|e| anyhow!("{} is not a readable GGUF file: {e}", path.display()))?;
        let arch = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if arch != "llama" {
            bail!(
                "{}: architecture `{arch}` is not llama (only llama-family GGUF files are supported)",
                path.display()
            );
        }
        let p = |k: &str| format!("llama.{k}");
        let n_layer = meta_usize(&content, &p("block_count"))?;
        let d_model = meta_usize(&content, &p("embedding_length"))?;
        let n_head = meta_usize(&content, &p("attention.head_count"))?;
        let n_kv_head = meta_usize(&content, &p("attention.head_count_kv")).unwrap_or(n_head);
        let d_ff = meta_usize(&content, &p("feed_forward_length"))?;
        let rope_base = content
            .metadata
            .get(&p("rope.freq_base"))
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(10_000.0);
        let eps = content
            .metadata
            .get(&p("attention.layer_norm_rms_epsilon"))
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(1e-5);
        if n_head == 0 || n_kv_head == 0 || d_model % n_head != 0 || n_head % n_kv_head != 0 {
            bail!(
                "{}: inconsistent attention shape (d_model {d_model}, heads {n_head}, kv heads {n_kv_head})",
                path.display()
            );
        }
        let head_dim = d_model / n_head;
        let mut get = |name: &str, want: &[usize]| -> Result<Vec<f32>> {
            let q = content
                .tensor(&mut r, name, &Device::Cpu)
                .map_err(|e| anyhow!("{}: tensor {name}: {e}", path.display()))?;
            let t = q
                .dequantize(&Device::Cpu)
                .map_err(|e| anyhow!("dequantising {name}: {e}"))?;
            if t.dims() != want {
                bail!(
                    "{}: tensor {name} has shape {:?}, expected {want:?}",
                    path.display(),
                    t.dims()
                );
            }
            t.flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|e| anyhow!("reading {name}: {e}"))
        };
        let tok_info = content
            .tensor_infos
            .get("token_embd.weight")
            .ok_or_else(|| anyhow!("{}: no token_embd.weight", path.display()))?;
        let vocab = tok_info.shape.dims()[0];
        let kv_dim = n_kv_head * head_dim;
        let tok_embd = get("token_embd.weight", &[vocab, d_model])?;
        let out_norm = get("output_norm.weight", &[d_model])?;
        let output = if content.tensor_infos.contains_key("output.weight") {
            Some(get("output.weight", &[vocab, d_model])?)
        } else {
            None
        };
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let b = |s: &str| format!("blk.{i}.{s}.weight");
            layers.push(Layer {
                attn_norm: get(&b("attn_norm"), &[d_model])?,
                wq: get(&b("attn_q"), &[d_model, d_model])?,
                wk: get(&b("attn_k"), &[kv_dim, d_model])?,
                wv: get(&b("attn_v"), &[kv_dim, d_model])?,
                wo: get(&b("attn_output"), &[d_model, d_model])?,
                ffn_norm: get(&b("ffn_norm"), &[d_model])?,
                w_gate: get(&b("ffn_gate"), &[d_ff, d_model])?,
                w_up: get(&b("ffn_up"), &[d_ff, d_model])?,
                w_down: get(&b("ffn_down"), &[d_model, d_ff])?,
            });
        }
        let cfg = LlamaConfig {
            n_layer,
            d_model,
            n_head,
            n_kv_head,
            head_dim,
            d_ff,
            vocab,
            rope_base,
            eps,
        };
        Ok((
            Self {
                cfg,
                tok_embd,
                out_norm,
                output,
                layers,
                q8: None,
            },
            content,
        ))
    }

    /// A model of shape `cfg` with small random weights (for tests of the
    /// code that trains and runs it).
    pub fn random(cfg: LlamaConfig, seed: u64) -> Llama {
        let mut rng = ganglion_sim::Rng::new(seed);
        let (d, kvd, ff) = (cfg.d_model, cfg.n_kv_head * cfg.head_dim, cfg.d_ff);
        let mut m = |n: usize, s: f32| -> Vec<f32> { (0..n).map(|_| rng.uniform(-s, s)).collect() };
        let layers = (0..cfg.n_layer)
            .map(|_| Layer {
                attn_norm: m(d, 0.2).iter().map(|v| 1.0 + v).collect(),
                wq: m(d * d, 0.3),
                wk: m(kvd * d, 0.3),
                wv: m(kvd * d, 0.3),
                wo: m(d * d, 0.3),
                ffn_norm: m(d, 0.2).iter().map(|v| 1.0 + v).collect(),
                w_gate: m(ff * d, 0.3),
                w_up: m(ff * d, 0.3),
                w_down: m(d * ff, 0.3),
            })
            .collect();
        Llama {
            tok_embd: m(cfg.vocab * d, 1.0),
            out_norm: m(d, 0.2).iter().map(|v| 1.0 + v).collect(),
            output: None,
            layers,
            cfg,
            q8: None,
        }
    }

    /// Runs the projections as int8 products (`q8`) from now on, when this
    /// CPU has the kernel (AVX-512 VNNI); `false`: it stays f32. Weights
    /// changed later (a LoRA merge) need another call.
    pub fn use_q8(&mut self) -> bool {
        if !super::q8::fast() {
            return false;
        }
        let c = self.cfg;
        let q = Q8Matrix::quantize;
        let all = [
            Proj::Q,
            Proj::K,
            Proj::V,
            Proj::O,
            Proj::Gate,
            Proj::Up,
            Proj::Down,
        ];
        let layers = (0..self.layers.len())
            .map(|li| {
                all.map(|p| {
                    let (w, out, inp) = self.weights(li, p);
                    q(w, out, inp)
                })
            })
            .collect();
        let output = q(self.output_weight(), c.vocab, c.d_model);
        self.q8 = Some(Arc::new(Q8Weights { layers, output }));
        true
    }

    /// The f32 weights are about to change: the int8 copies go (call
    /// `use_q8` again after).
    pub(crate) fn weights_changed(&mut self) {
        self.q8 = None;
    }

    /// Whether the projections run as int8 products.
    pub fn q8(&self) -> bool {
        self.q8.is_some()
    }

    /// Projection `p` of layer `li`: its f32 weights, output and input widths.
    fn weights(&self, li: usize, p: Proj) -> (&[f32], usize, usize) {
        let (l, c) = (&self.layers[li], self.cfg);
        let (d, kvd, ff) = (c.d_model, c.n_kv_head * c.head_dim, c.d_ff);
        match p {
            Proj::Q => (&l.wq, d, d),
            Proj::K => (&l.wk, kvd, d),
            Proj::V => (&l.wv, kvd, d),
            Proj::O => (&l.wo, d, d),
            Proj::Gate => (&l.w_gate, ff, d),
            Proj::Up => (&l.w_up, ff, d),
            Proj::Down => (&l.w_down, d, ff),
        }
    }

    /// `y = x · wᵀ` for projection `p` of layer `li`: int8 when quantised,
    /// else f32.
    fn project(&self, li: usize, p: Proj, x: &[f32], n: usize, y: &mut [f32], s: &mut Q8Scratch) {
        match self
            .q8
            .as_ref()
            .and_then(|q| q.layers[li][p as usize].as_ref())
        {
            Some(m) => matmul_q8(x, n, m, y, s),
            None => {
                let (w, out, inp) = self.weights(li, p);
                matmul_t(x, n, inp, w, out, y)
            }
        }
    }

    /// The output projection (tied to the token embedding when the file has
    /// none).
    pub(crate) fn output_weight(&self) -> &[f32] {
        self.output.as_deref().unwrap_or(&self.tok_embd)
    }

    pub fn kv_dim(&self) -> usize {
        self.cfg.n_kv_head * self.cfg.head_dim
    }

    /// An empty cache for this model.
    pub fn new_cache(&self) -> KvCache {
        KvCache {
            k: vec![Vec::new(); self.cfg.n_layer],
            v: vec![Vec::new(); self.cfg.n_layer],
            tokens: Vec::new(),
        }
    }

    /// Runs `tokens` after the cache, as a chain, and appends them to it.
    pub fn extend(&self, cache: &mut KvCache, tokens: &[u32]) -> Result<()> {
        let parent: Vec<Option<usize>> = (0..tokens.len()).map(|i| i.checked_sub(1)).collect();
        self.forward_tree(cache, tokens, &parent, &[], tokens.len())
            .map(|_| ())
    }

    /// Runs a tree of new tokens after the cache in one batch. `parent[i]` is
    /// the index (< i) of token i's parent in this batch, or `None` when it
    /// follows the cache directly. Token i sits at position `cache.len() +
    /// depth(i)` and attends to the whole cache, its ancestors and itself.
    /// Returns the logits (`vocab` floats each) of the tokens in `logits_of`,
    /// in that order. The first `commit` tokens (which must form a chain from
    /// the cache) are appended to the cache.
    pub fn forward_tree(
        &self,
        cache: &mut KvCache,
        tokens: &[u32],
        parent: &[Option<usize>],
        logits_of: &[usize],
        commit: usize,
    ) -> Result<Vec<f32>> {
        let c = self.cfg;
        let n = tokens.len();
        if parent.len() != n {
            bail!("forward_tree: {} tokens but {} parents", n, parent.len());
        }
        let (d, hd, kvd) = (c.d_model, c.head_dim, self.kv_dim());
        let p0 = cache.len();
        // Ancestor lists (self included, root first) and positions.
        let mut anc: Vec<Vec<usize>> = Vec::with_capacity(n);
        for (i, &par) in parent.iter().enumerate() {
            let mut a = match par {
                Some(pi) if pi < i => anc[pi].clone(),
                Some(pi) => bail!("forward_tree: parent {pi} of token {i} is not before it"),
                None => Vec::new(),
            };
            a.push(i);
            anc.push(a);
        }
        if commit > n
            || anc[..commit]
                .iter()
                .enumerate()
                .any(|(i, a)| a.len() != i + 1)
        {
            bail!("forward_tree: only a chain of tokens can be committed to the cache");
        }
        let mut x = vec![0f32; n * d];
        for (i, &t) in tokens.iter().enumerate() {
            let t = t as usize;
            if t >= c.vocab {
                bail!("token id {t} is outside the vocabulary ({})", c.vocab);
            }
            x[i * d..(i + 1) * d].copy_from_slice(&self.tok_embd[t * d..(t + 1) * d]);
        }
        // RoPE tables for the positions used (GGUF llama: adjacent pairs).
        let half = hd / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|j| c.rope_base.powf(-(2.0 * j as f32) / hd as f32))
            .collect();
        let mut cos = vec![0f32; n * half];
        let mut sin = vec![0f32; n * half];
        for i in 0..n {
            let pos = (p0 + anc[i].len() - 1) as f32;
            for j in 0..half {
                let (s, co) = (pos * inv_freq[j]).sin_cos();
                cos[i * half + j] = co;
                sin[i * half + j] = s;
            }
        }
        let rope = |buf: &mut [f32], heads: usize| {
            for i in 0..n {
                for h in 0..heads {
                    let row = &mut buf[(i * heads + h) * hd..(i * heads + h + 1) * hd];
                    for j in 0..half {
                        let (a, b) = (row[2 * j], row[2 * j + 1]);
                        let (co, s) = (cos[i * half + j], sin[i * half + j]);
                        row[2 * j] = a * co - b * s;
                        row[2 * j + 1] = a * s + b * co;
                    }
                }
            }
        };
        let mut h = vec![0f32; n * d];
        let mut q = vec![0f32; n * d];
        let mut k = vec![0f32; n * kvd];
        let mut v = vec![0f32; n * kvd];
        let mut att = vec![0f32; n * d];
        let mut proj = vec![0f32; n * d];
        let mut gate = vec![0f32; n * c.d_ff];
        let mut up = vec![0f32; n * c.d_ff];
        let scale = 1.0 / (hd as f32).sqrt();
        let group = c.n_head / c.n_kv_head;
        let mut scores = vec![0f32; n * p0];
        let mut qs = Q8Scratch::default();
        for (li, l) in self.layers.iter().enumerate() {
            rms_norm(&x, &l.attn_norm, c.eps, &mut h, d);
            self.project(li, Proj::Q, &h, n, &mut q, &mut qs);
            self.project(li, Proj::K, &h, n, &mut k, &mut qs);
            self.project(li, Proj::V, &h, n, &mut v, &mut qs);
            rope(&mut q, c.n_head);
            rope(&mut k, c.n_kv_head);
            let (ck, cv) = (&cache.k[li], &cache.v[li]);
            for hh in 0..c.n_head {
                let g = hh / group;
                // Scores against the cache: Q_h [n, hd] x K_g^T [hd, p0].
                if p0 > 0 {
                    // SAFETY: the dimensions and strides describe the buffers above.
                    unsafe {
                        matrixmultiply::sgemm(
                            n,
                            hd,
                            p0,
                            scale,
                            q.as_ptr().add(hh * hd),
                            d as isize,
                            1,
                            ck.as_ptr().add(g * hd),
                            1,
                            kvd as isize,
                            0.0,
                            scores.as_mut_ptr(),
                            p0 as isize,
                            1,
                        );
                    }
                }
                for i in 0..n {
                    let qi = &q[i * d + hh * hd..i * d + (hh + 1) * hd];
                    let srow = &mut scores[i * p0..(i + 1) * p0];
                    let tree: Vec<f32> = anc[i]
                        .iter()
                        .map(|&j| dot(qi, &k[j * kvd + g * hd..j * kvd + (g + 1) * hd]) * scale)
                        .collect();
                    let m = srow
                        .iter()
                        .chain(tree.iter())
                        .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                    let mut sum = 0f32;
                    for s in srow.iter_mut() {
                        *s = (*s - m).exp();
                        sum += *s;
                    }
                    let tw: Vec<f32> = tree.iter().map(|s| (s - m).exp()).collect();
                    sum += tw.iter().sum::<f32>();
                    let inv = 1.0 / sum;
                    let out = &mut att[i * d + hh * hd..i * d + (hh + 1) * hd];
                    out.fill(0.0);
                    for (&j, w) in anc[i].iter().zip(&tw) {
                        let vj = &v[j * kvd + g * hd..j * kvd + (g + 1) * hd];
                        for (o, x) in out.iter_mut().zip(vj) {
                            *o += w * inv * x;
                        }
                    }
                    for s in srow.iter_mut() {
                        *s *= inv;
                    }
                }
                if p0 > 0 {
                    // att_h += P [n, p0] x V_g [p0, hd].
                    // SAFETY: as above.
                    unsafe {
                        matrixmultiply::sgemm(
                            n,
                            p0,
                            hd,
                            1.0,
                            scores.as_ptr(),
                            p0 as isize,
                            1,
                            cv.as_ptr().add(g * hd),
                            kvd as isize,
                            1,
                            1.0,
                            att.as_mut_ptr().add(hh * hd),
                            d as isize,
                            1,
                        );
                    }
                }
            }
            self.project(li, Proj::O, &att, n, &mut proj, &mut qs);
            for (xi, pi) in x.iter_mut().zip(&proj) {
                *xi += pi;
            }
            rms_norm(&x, &l.ffn_norm, c.eps, &mut h, d);
            self.project(li, Proj::Gate, &h, n, &mut gate, &mut qs);
            self.project(li, Proj::Up, &h, n, &mut up, &mut qs);
            silu_mul(&mut gate, &up);
            self.project(li, Proj::Down, &gate, n, &mut proj, &mut qs);
            for (xi, pi) in x.iter_mut().zip(&proj) {
                *xi += pi;
            }
            cache.k[li].extend_from_slice(&k[..commit * kvd]);
            cache.v[li].extend_from_slice(&v[..commit * kvd]);
        }
        cache.tokens.extend_from_slice(&tokens[..commit]);
        if logits_of.is_empty() {
            return Ok(Vec::new());
        }
        let m = logits_of.len();
        let mut sel = vec![0f32; m * d];
        for (r, &i) in logits_of.iter().enumerate() {
            if i >= n {
                bail!("forward_tree: logits of token {i} asked, batch has {n}");
            }
            sel[r * d..(r + 1) * d].copy_from_slice(&x[i * d..(i + 1) * d]);
        }
        let mut hn = vec![0f32; m * d];
        rms_norm(&sel, &self.out_norm, c.eps, &mut hn, d);
        let mut logits = vec![0f32; m * c.vocab];
        match self.q8.as_ref().and_then(|q| q.output.as_ref()) {
            Some(w) => matmul_q8(&hn, m, w, &mut logits, &mut qs),
            None => matmul_t(&hn, m, d, self.output_weight(), c.vocab, &mut logits),
        }
        Ok(logits)
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `log_softmax(logits)[target]` for one row of logits.
pub fn log_prob(logits: &[f32], target: u32) -> f32 {
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let lse = logits
        .iter()
        .map(|&l| ((l - m) as f64).exp())
        .sum::<f64>()
        .ln() as f32
        + m;
    logits
        .get(target as usize)
        .map_or(f32::NEG_INFINITY, |&l| l - lse)
}
