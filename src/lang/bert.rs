//! A BERT encoder (post-norm, GELU) on f32 weights read from safetensors by
//! candle, for sentence embeddings (all-MiniLM-L6-v2). One sentence at a
//! time, no padding, so no attention mask is needed.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use candle_core::{Device, Tensor};
use serde::Deserialize;

use super::tensor::{add_bias, gelu, layer_norm, matmul_t, softmax};

/// The fields of a Hugging Face BERT `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub hidden_size: usize,
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f32,
    #[serde(default)]
    pub hidden_act: Option<String>,
}

fn default_eps() -> f32 {
    1e-12
}

struct Linear {
    w: Vec<f32>,
    b: Vec<f32>,
    out: usize,
}

struct Norm {
    w: Vec<f32>,
    b: Vec<f32>,
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    inter: Linear,
    out: Linear,
    out_norm: Norm,
}

/// The encoder.
pub struct Bert {
    pub cfg: BertConfig,
    word: Vec<f32>,
    pos: Vec<f32>,
    token_type: Vec<f32>,
    emb_norm: Norm,
    layers: Vec<Layer>,
}

impl Bert {
    /// Loads `config.json` and `model.safetensors`.
    pub fn load(config: &Path, weights: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(config)
            .with_context(|| format!("reading {}", config.display()))?;
        let cfg: BertConfig = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a BERT config", config.display()))?;
        if let Some(act) = &cfg.hidden_act
            && act != "gelu"
        {
            bail!(
                "{}: hidden_act `{act}` is not supported (gelu is)",
                config.display()
            );
        }
        let (d, heads) = (cfg.hidden_size, cfg.num_attention_heads);
        if heads == 0 || d % heads != 0 {
            bail!(
                "{}: hidden_size {d} is not a multiple of {heads} heads",
                config.display()
            );
        }
        let tensors = candle_core::safetensors::load(weights, &Device::Cpu).map_err(|e| {
            anyhow!(
                "{} is not a readable safetensors file: {e}",
                weights.display()
            )
        })?;
        let get = |name: &str, want: &[usize]| -> Result<Vec<f32>> {
            let t: &Tensor = tensors
                .get(name)
                .or_else(|| tensors.get(&format!("bert.{name}")))
                .ok_or_else(|| anyhow!("{}: no tensor {name}", weights.display()))?;
            if t.dims() != want {
                bail!(
                    "{}: tensor {name} has shape {:?}, expected {want:?}",
                    weights.display(),
                    t.dims()
                );
            }
            t.to_dtype(candle_core::DType::F32)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|e| anyhow!("reading {name}: {e}"))
        };
        let linear = |p: &str, out: usize, inp: usize| -> Result<Linear> {
            Ok(Linear {
                w: get(&format!("{p}.weight"), &[out, inp])?,
                b: get(&format!("{p}.bias"), &[out])?,
                out,
            })
        };
        let norm = |p: &str| -> Result<Norm> {
            Ok(Norm {
                w: get(&format!("{p}.weight"), &[d])?,
                b: get(&format!("{p}.bias"), &[d])?,
            })
        };
        let ff = cfg.intermediate_size;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            layers.push(Layer {
                q: linear(&format!("{p}.attention.self.query"), d, d)?,
                k: linear(&format!("{p}.attention.self.key"), d, d)?,
                v: linear(&format!("{p}.attention.self.value"), d, d)?,
                attn_out: linear(&format!("{p}.attention.output.dense"), d, d)?,
                attn_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                inter: linear(&format!("{p}.intermediate.dense"), ff, d)?,
                out: linear(&format!("{p}.output.dense"), d, ff)?,
                out_norm: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        Ok(Self {
            word: get("embeddings.word_embeddings.weight", &[cfg.vocab_size, d])?,
            pos: get(
                "embeddings.position_embeddings.weight",
                &[cfg.max_position_embeddings, d],
            )?,
            token_type: get("embeddings.token_type_embeddings.weight", &[2, d])?,
            emb_norm: norm("embeddings.LayerNorm")?,
            layers,
            cfg,
        })
    }

    /// Last hidden states `[n, hidden]` of one tokenised sentence.
    pub fn forward(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let c = &self.cfg;
        let (n, d, heads) = (ids.len(), c.hidden_size, c.num_attention_heads);
        if n == 0 {
            bail!("BERT: no tokens");
        }
        if n > c.max_position_embeddings {
            bail!(
                "BERT: {n} tokens, the model takes at most {}",
                c.max_position_embeddings
            );
        }
        let hd = d / heads;
        let mut x = vec![0f32; n * d];
        for (i, &t) in ids.iter().enumerate() {
            let t = t as usize;
            if t >= c.vocab_size {
                bail!("BERT: token id {t} outside the vocabulary");
            }
            for j in 0..d {
                x[i * d + j] = self.word[t * d + j] + self.pos[i * d + j] + self.token_type[j];
            }
        }
        layer_norm(
            &mut x,
            &self.emb_norm.w,
            &self.emb_norm.b,
            c.layer_norm_eps,
            d,
        );
        let lin = |inp: &[f32], l: &Linear, k: usize, out: &mut Vec<f32>| {
            out.resize(n * l.out, 0.0);
            matmul_t(inp, n, k, &l.w, l.out, out);
            add_bias(out, &l.b);
        };
        let (mut q, mut k, mut v, mut att, mut tmp, mut inter) =
            (vec![], vec![], vec![], vec![0f32; n * d], vec![], vec![]);
        let scale = 1.0 / (hd as f32).sqrt();
        let mut row = vec![0f32; n];
        for l in &self.layers {
            lin(&x, &l.q, d, &mut q);
            lin(&x, &l.k, d, &mut k);
            lin(&x, &l.v, d, &mut v);
            for h in 0..heads {
                for i in 0..n {
                    let qi = &q[i * d + h * hd..i * d + (h + 1) * hd];
                    for (j, r) in row.iter_mut().enumerate() {
                        let kj = &k[j * d + h * hd..j * d + (h + 1) * hd];
                        *r = qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * scale;
                    }
                    softmax(&mut row);
                    let o = &mut att[i * d + h * hd..i * d + (h + 1) * hd];
                    o.fill(0.0);
                    for (j, &w) in row.iter().enumerate() {
                        for (oo, vv) in o.iter_mut().zip(&v[j * d + h * hd..j * d + (h + 1) * hd]) {
                            *oo += w * vv;
                        }
                    }
                }
            }
            lin(&att, &l.attn_out, d, &mut tmp);
            for (a, b) in x.iter_mut().zip(&tmp) {
                *a += b;
            }
            layer_norm(&mut x, &l.attn_norm.w, &l.attn_norm.b, c.layer_norm_eps, d);
            lin(&x, &l.inter, d, &mut inter);
            gelu(&mut inter);
            lin(&inter, &l.out, c.intermediate_size, &mut tmp);
            for (a, b) in x.iter_mut().zip(&tmp) {
                *a += b;
            }
            layer_norm(&mut x, &l.out_norm.w, &l.out_norm.b, c.layer_norm_eps, d);
        }
        Ok(x)
    }
}
