//! The whole VLA policy as one ONNX graph: the frozen encoder's
//! convolutions, the pooling of `encoder`, the instruction-conditioned
//! attention and the trunk of `nn::vla`, the normalisations on both ends.
//!
//! Contract (what `policy::vla` feeds and reads):
//! inputs `image` f32 `[1, 7, h, w]` (`perception::features::input_planes`),
//! `points` f32 `[1, 3, h, w]` (each pixel's back-projected world point,
//! planar, 0 where no depth), `proprio` f32 `[1, 13]` (`proprio_features`),
//! `instruction` f32 `[1, 384]` (the MiniLM sentence embedding); output
//! `actions` f32 `[1, H, A]` (joint speeds in rad/s and suction). H and A are
//! in the metadata (`vla_horizon`, `vla_action`).

use std::path::Path;

use anyhow::{Context, Result};
use tract_onnx::pb;

use super::encoder::{FEATURES, MASKED, POOL, VOTE_EPS};
use crate::nn::onnx::{fixed_value, int_attr, ints_attr, model_from_graph, write_model};
use crate::nn::onnx_graph::Graph;
use crate::nn::vla::VlaHead;
use crate::nn::vla::model::KEYPOINT_SCALE;
use crate::perception::features::{IN_CHANNELS, UNIT_M};
use crate::perception::net::{OFFSET_AT, PerceptionNet};

pub const INPUT_IMAGE: &str = "image";
pub const INPUT_POINTS: &str = "points";
pub const INPUT_PROPRIO: &str = "proprio";
pub const INPUT_INSTRUCTION: &str = "instruction";
pub const OUTPUT_ACTIONS: &str = "actions";

/// Everything the exported graph is made of.
pub struct VlaParts<'a> {
    pub encoder: &'a PerceptionNet,
    pub encoder_params: &'a [f32],
    pub head: &'a VlaHead,
    pub head_params: &'a [f32],
    /// Proprioception normalisation: `(x − mean) · inv_std`.
    pub proprio_mean: &'a [f32],
    pub proprio_inv_std: &'a [f32],
    /// Actions are `trunk output × action_scale`.
    pub action_scale: &'a [f32],
    /// Camera size.
    pub width: usize,
    pub height: usize,
}

/// Builds the graph (contract in the module doc).
pub fn vla_model(v: &VlaParts<'_>, metadata: &[(&str, String)]) -> pb::ModelProto {
    let cfg = &v.head.cfg;
    let (w, h) = (v.width, v.height);
    let cells = (w / POOL) * (h / POOL);
    let mut g = Graph {
        params: v.encoder_params,
        nodes: Vec::new(),
        inits: Vec::new(),
        count: 0,
    };
    // The encoder: dilated convolutions, ReLU on all but the 1×1 head.
    let mut x = INPUT_IMAGE.to_string();
    let mut hidden = String::new();
    let last = v.encoder.layers.len() - 1;
    for (i, c) in v.encoder.layers.iter().enumerate() {
        let wn = g.float(
            &format!("enc{i}.weight"),
            &[c.cout, c.cin, c.k, c.k],
            c.weight(v.encoder_params),
        );
        let bn = g.float(&format!("enc{i}.bias"), &[c.cout], c.bias(v.encoder_params));
        let (k, d, p) = (c.k as i64, c.dilation as i64, c.pad() as i64);
        x = g.op(
            "Conv",
            &[&x, &wn, &bn],
            vec![
                ints_attr("kernel_shape", &[k, k]),
                ints_attr("dilations", &[d, d]),
                ints_attr("pads", &[p, p, p, p]),
                ints_attr("strides", &[1, 1]),
            ],
        );
        if i != last {
            x = g.op("Relu", &[&x], vec![]);
            hidden = x.clone();
        }
    }
    let maps = x;
    let slice = |g: &mut Graph, x: &str, from: usize, to: usize| {
        let s = g.ints(&[1], &[from as i64]);
        let e = g.ints(&[1], &[to as i64]);
        let a = g.ints(&[1], &[1]);
        g.op("Slice", &[x, &s, &e, &a], vec![])
    };
    let offsets = slice(&mut g, &maps, OFFSET_AT, OFFSET_AT + 3);
    let unit = g.scalar(UNIT_M);
    let offsets = g.op("Mul", &[&offsets, &unit], vec![]);
    let votes = g.op("Add", &[INPUT_POINTS, &offsets], vec![]);
    let valid = slice(&mut g, INPUT_IMAGE, IN_CHANNELS - 1, IN_CHANNELS);
    let pool = |g: &mut Graph, x: &str| {
        let p = POOL as i64;
        g.op(
            "AveragePool",
            &[x],
            vec![
                ints_attr("kernel_shape", &[p, p]),
                ints_attr("strides", &[p, p]),
            ],
        )
    };
    let feat = pool(&mut g, &hidden);
    let weighted = g.op("Mul", &[&votes, &valid], vec![]);
    let weighted = pool(&mut g, &weighted);
    let count = pool(&mut g, &valid);
    let eps = g.scalar(VOTE_EPS);
    let denom = g.op("Add", &[&count, &eps], vec![]);
    let cell_votes = g.op("Div", &[&weighted, &denom], vec![]);
    let zero = g.scalar(0.0);
    let any = g.op("Greater", &[&count, &zero], vec![]);
    let any = g.op(
        "Cast",
        &[&any],
        vec![int_attr("to", pb::tensor_proto::DataType::Float as i64)],
    );
    let one = g.scalar(1.0);
    let off = g.op("Sub", &[&any, &one], vec![]);
    let big = g.scalar(-MASKED);
    let mask = g.op("Mul", &[&off, &big], vec![]);
    let mask = g.reshape(&mask, &[1, cells]);

    // The head.
    g.params = v.head_params;
    let head = v.head;
    let feat = g.reshape(&feat, &[FEATURES, cells]);
    let w1 = g.float(
        "pixel.weight",
        &[cfg.hidden, cfg.feat],
        head.pixel.weight(v.head_params),
    );
    let b1 = g.float(
        "pixel.bias",
        &[cfg.hidden, 1],
        head.pixel.bias(v.head_params),
    );
    let gx = g.op("MatMul", &[&w1, &feat], vec![]);
    let gx = g.op("Add", &[&gx, &b1], vec![]);
    let gx = g.op("Relu", &[&gx], vec![]);
    let q = g.gemm(INPUT_INSTRUCTION, &head.query, "query");
    let q = g.reshape(&q, &[cfg.keypoints, cfg.hidden]);
    let logits = g.op("MatMul", &[&q, &gx], vec![]);
    let logits = g.op("Add", &[&logits, &mask], vec![]);
    let attn = g.op("Softmax", &[&logits], vec![int_attr("axis", 1)]);
    let cv = g.reshape(&cell_votes, &[3, cells]);
    let cv = g.transpose(&cv, &[1, 0]);
    let kp = g.op("MatMul", &[&attn, &cv], vec![]);
    let kscale = g.scalar(KEYPOINT_SCALE);
    let kp = g.op("Mul", &[&kp, &kscale], vec![]);
    let kp = g.reshape(&kp, &[1, 3 * cfg.keypoints]);
    let mean = g.float("proprio.mean", &[1, cfg.proprio], v.proprio_mean);
    let inv = g.float("proprio.inv_std", &[1, cfg.proprio], v.proprio_inv_std);
    let s = g.op("Sub", &[INPUT_PROPRIO, &mean], vec![]);
    let s = g.op("Mul", &[&s, &inv], vec![]);
    let task = g.gemm(INPUT_INSTRUCTION, &head.task, "task");
    let mut z = g.op("Concat", &[&kp, &s, &task], vec![int_attr("axis", 1)]);
    let last = head.trunk.layers.len() - 1;
    for (i, l) in head.trunk.layers.iter().enumerate() {
        z = g.gemm(&z, l, &format!("trunk{i}"));
        if i != last {
            z = g.op("Relu", &[&z], vec![]);
        }
    }
    let scale: Vec<f32> = (0..cfg.horizon)
        .flat_map(|_| v.action_scale.iter().copied())
        .collect();
    let scale = g.float("action.scale", &[1, cfg.horizon * cfg.action], &scale);
    let z = g.op("Mul", &[&z, &scale], vec![]);
    let shape = g.ints(&[3], &[1, cfg.horizon as i64, cfg.action as i64]);
    g.op_to("Reshape", &[&z, &shape], vec![], OUTPUT_ACTIONS);

    let f = pb::tensor_proto::DataType::Float;
    model_from_graph(
        pb::GraphProto {
            name: "ganglion_vla".into(),
            node: g.nodes,
            initializer: g.inits,
            input: vec![
                fixed_value(INPUT_IMAGE, f, &[1, IN_CHANNELS, h, w]),
                fixed_value(INPUT_POINTS, f, &[1, 3, h, w]),
                fixed_value(INPUT_PROPRIO, f, &[1, cfg.proprio]),
                fixed_value(INPUT_INSTRUCTION, f, &[1, cfg.embed]),
            ],
            output: vec![fixed_value(
                OUTPUT_ACTIONS,
                f,
                &[1, cfg.horizon, cfg.action],
            )],
            ..Default::default()
        },
        metadata,
    )
}

/// Writes the graph to `path`.
pub fn export_vla(v: &VlaParts<'_>, metadata: &[(&str, String)], path: &Path) -> Result<()> {
    write_model(&vla_model(v, metadata), path)
        .with_context(|| format!("writing {}", path.display()))
}
