//! ONNX export of a Decision Transformer: the whole K-window forward pass at
//! batch 1, built from the exporter helpers in `onnx` with ops tract runs well
//! at opset 13 (Gemm, MatMul, Gather, Reshape, Transpose, Concat, Slice,
//! Softmax, ReduceMean, Min/Max, element-wise arithmetic, Tanh, Sqrt, Relu);
//! LayerNorm and GELU are decomposed.
//!
//! Contract (what the runtime's DT policy feeds and reads):
//! inputs `states` f32 `[1, K, state_dim]`, `actions` f32 `[1, K, act_dim]`,
//! `returns_to_go` f32 `[1, K, 1]`, `timesteps` i64 `[1, K]` (clamped into
//! `0..max_timestep`), `attention_mask` f32 `[1, K]` (1 real, 0 left padding);
//! output `action_preds` f32 `[1, 1, act_dim]`: the prediction for the newest
//! step, position K − 1 (tanh applied for continuous, logits for discrete).
//! Files from before this contract output every position, `[1, K, act_dim]`;
//! the runtime reads the last row of either. K is the config's `context`; the config is in the
//! metadata under `dt_config` (JSON).

use std::path::Path;

use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

use crate::nn::attention::PAD_BIAS;
use crate::nn::dt::model::DecisionTransformer;
use crate::nn::onnx::{fixed_value, int_attr, model_from_graph, write_model};
use crate::nn::onnx_graph::Graph;

pub const INPUT_STATES: &str = "states";
pub const INPUT_ACTIONS: &str = "actions";
pub const INPUT_RETURNS: &str = "returns_to_go";
pub const INPUT_TIMESTEPS: &str = "timesteps";
pub const INPUT_MASK: &str = "attention_mask";
pub const OUTPUT_ACTIONS: &str = "action_preds";
/// Metadata key holding the `DtConfig` as JSON.
pub const META_CONFIG: &str = "dt_config";

/// Added to scores above the diagonal: far below `PAD_BIAS`, so a fully padded
/// row still spreads over its own (earlier) keys exactly as the native pass.
const CAUSAL_BIAS: f32 = -1e30;

/// The ONNX model of `model`'s forward pass (contract in the module doc).
/// `metadata` lands in metadata_props beside `dt_config`. `model` must pass
/// `check_shape` (as any model from `DecisionTransformer::new` does);
/// `export_onnx`/`export_dt` check it.
pub fn dt_model(model: &DecisionTransformer, metadata: &[(&str, String)]) -> pb::ModelProto {
    let cfg = &model.cfg;
    let lay = &model.layout;
    let (k, e, h) = (cfg.context, cfg.embed, cfg.heads);
    let (t, d) = (3 * k, e / h);
    let mut g = Graph {
        params: &model.params,
        nodes: Vec::new(),
        inits: Vec::new(),
        count: 0,
    };

    // Embeddings, each [K, E], plus the timestep embedding.
    let s2 = g.reshape(INPUT_STATES, &[k, cfg.state_dim]);
    let se = g.gemm(&s2, &lay.embed_state, "embed_state");
    let a2 = g.reshape(INPUT_ACTIONS, &[k, cfg.act_dim]);
    let ae = g.gemm(&a2, &lay.embed_action, "embed_action");
    let r2 = g.reshape(INPUT_RETURNS, &[k, 1]);
    let re = g.gemm(&r2, &lay.embed_return, "embed_return");
    let ts = g.reshape(INPUT_TIMESTEPS, &[k]);
    let hi = g.ints(&[1], &[cfg.max_timestep as i64 - 1]);
    let lo = g.ints(&[1], &[0]);
    let ts = g.op("Min", &[&ts, &hi], vec![]);
    let ts = g.op("Max", &[&ts, &lo], vec![]);
    let tt = &lay.embed_timestep;
    let table = g.float(
        "embed_timestep.weight",
        &[tt.rows, tt.dim],
        tt.table(&model.params),
    );
    let te = g.op("Gather", &[&table, &ts], vec![int_attr("axis", 0)]);
    // Interleave (R, s, a) per timestep: [K, 3, E] → [3K, E]. The newest
    // action token (a placeholder) sits after the newest state token, whose
    // output is the prediction, so under the causal mask it reaches nothing
    // the output depends on; it stays anyway: 3K keys keep tract's softmax
    // on its vector path (rows of a multiple of 4), which costs less than
    // the token.
    let mut parts = Vec::new();
    for x in [re, se, ae] {
        let x = g.op("Add", &[&x, &te], vec![]);
        parts.push(g.reshape(&x, &[k, 1, e]));
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let stacked = g.op("Concat", &refs, vec![int_attr("axis", 1)]);
    let x = g.reshape(&stacked, &[t, e]);
    let mut x = g.layernorm(&x, &lay.embed_ln, "embed_ln");

    // Attention bias [t, t]: causal part constant, key padding from the mask.
    let m = g.reshape(INPUT_MASK, &[k, 1]);
    let m3 = g.op("Concat", &[&m, &m, &m], vec![int_attr("axis", 1)]);
    let mt = g.reshape(&m3, &[1, t]);
    let one = g.scalar(1.0);
    let big = g.scalar(-PAD_BIAS);
    let mt = g.op("Sub", &[&mt, &one], vec![]);
    let key_bias = g.op("Mul", &[&mt, &big], vec![]);
    let causal: Vec<f32> = (0..t * t)
        .map(|ij| if ij % t > ij / t { CAUSAL_BIAS } else { 0.0 })
        .collect();
    let causal = g.float("causal_bias", &[t, t], &causal);
    let bias = g.op("Add", &[&causal, &key_bias], vec![]);
    // The newest state token's row of it.
    let newest = t - 2;
    let last_bias = g.rows(&bias, newest..newest + 1);
    let scale = g.scalar(1.0 / (d as f32).sqrt());

    let last_block = lay.blocks.len().saturating_sub(1);
    for (i, blk) in lay.blocks.iter().enumerate() {
        let name = |s: &str| format!("h.{i}.{s}");
        let hn = g.layernorm(&x, &blk.ln1, &name("ln_1"));
        // The last block computes only the newest state token's row (all
        // the output reads): its query, attention row, MLP; keys and
        // values still come from every token. ~28% of the arithmetic of a
        // 3-block model, skipped.
        let (q, kv, rows, bias) = if i == last_block {
            let hn_last = g.rows(&hn, newest..newest + 1);
            let q = g.gemm_units(&hn_last, &blk.attn_qkv, &name("attn.c_attn.q"), 0..e);
            let kv = g.gemm_units(&hn, &blk.attn_qkv, &name("attn.c_attn.kv"), e..3 * e);
            x = g.rows(&x, newest..newest + 1);
            (q, kv, 1, &last_bias)
        } else {
            let qkv = g.gemm(&hn, &blk.attn_qkv, &name("attn.c_attn"));
            (qkv.clone(), qkv, t, &bias)
        };
        // (tensor, first column, its rows, permutation to heads-first)
        let k_col = if i == last_block { 0 } else { e };
        let parts = [
            (&q, 0, rows, [1, 0, 2]),
            (&kv, k_col, t, [1, 2, 0]),
            (&kv, k_col + e, t, [1, 0, 2]),
        ];
        let mut heads = Vec::new();
        for (src, col, n, perm) in parts {
            let starts = g.ints(&[1], &[col as i64]);
            let ends = g.ints(&[1], &[(col + e) as i64]);
            let axes = g.ints(&[1], &[1]);
            let part = g.op("Slice", &[src, &starts, &ends, &axes], vec![]);
            let part = g.reshape(&part, &[n, h, d]);
            heads.push(g.transpose(&part, &perm));
        }
        let s = g.op("MatMul", &[&heads[0], &heads[1]], vec![]);
        let s = g.op("Mul", &[&s, &scale], vec![]);
        let s = g.op("Add", &[&s, bias], vec![]);
        let p = g.op("Softmax", &[&s], vec![int_attr("axis", -1)]);
        let y = g.op("MatMul", &[&p, &heads[2]], vec![]);
        let y = g.transpose(&y, &[1, 0, 2]);
        let y = g.reshape(&y, &[rows, e]);
        let y = g.gemm(&y, &blk.attn_proj, &name("attn.c_proj"));
        x = g.op("Add", &[&x, &y], vec![]);
        let hn = g.layernorm(&x, &blk.ln2, &name("ln_2"));
        let f = g.gemm(&hn, &blk.mlp_fc, &name("mlp.c_fc"));
        let f = g.activation(&f, cfg.activation);
        let f = g.gemm(&f, &blk.mlp_proj, &name("mlp.c_proj"));
        x = g.op("Add", &[&x, &f], vec![]);
    }

    if lay.blocks.is_empty() {
        x = g.rows(&x, newest..newest + 1);
    }
    // x is the newest state token's row [1, E].
    let x = g.layernorm(&x, &lay.ln_f, "ln_f");
    let mut out = g.gemm(&x, &lay.predict_action, "predict_action");
    if !cfg.discrete {
        out = g.op("Tanh", &[&out], vec![]);
    }
    let shape = g.ints(&[3], &[1, 1, cfg.act_dim as i64]);
    g.op_to("Reshape", &[&out, &shape], vec![], OUTPUT_ACTIONS);

    let mut meta = vec![(META_CONFIG, serde_json::to_string(cfg).unwrap_or_default())];
    meta.extend(metadata.iter().cloned());
    let graph = pb::GraphProto {
        name: "ganglion_decision_transformer".into(),
        node: g.nodes,
        initializer: g.inits,
        input: vec![
            fixed_value(INPUT_STATES, DataType::Float, &[1, k, cfg.state_dim]),
            fixed_value(INPUT_ACTIONS, DataType::Float, &[1, k, cfg.act_dim]),
            fixed_value(INPUT_RETURNS, DataType::Float, &[1, k, 1]),
            fixed_value(INPUT_TIMESTEPS, DataType::Int64, &[1, k]),
            fixed_value(INPUT_MASK, DataType::Float, &[1, k]),
        ],
        output: vec![fixed_value(
            OUTPUT_ACTIONS,
            DataType::Float,
            &[1, 1, cfg.act_dim],
        )],
        ..Default::default()
    };
    model_from_graph(graph, &meta)
}

impl DecisionTransformer {
    /// Writes the ONNX file of this model (see `dt_model`).
    pub fn export_onnx(&self, path: &Path, metadata: &[(&str, String)]) -> std::io::Result<()> {
        self.check_shape()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        write_model(&dt_model(self, metadata), path)
    }
}

/// Writes `model`'s ONNX file to `path` (see `dt_model`).
pub fn export_dt(
    model: &DecisionTransformer,
    path: &Path,
    metadata: &[(&str, String)],
) -> std::io::Result<()> {
    model.export_onnx(path, metadata)
}
