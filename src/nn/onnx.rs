//! ONNX export: the one place that turns trained weights into ONNX files.
//! Models are built as `tract_onnx::pb` protobuf messages and encoded with
//! prost; the output runs in tract, onnxruntime and PyTorch alike.
//!
//! Convention for policies (shared with files exported from PyTorch or
//! Stable-Baselines3): one float input `obs` of shape `[N, obs_dim]`, one float
//! output of shape `[N, k]` — `logits` (discrete actor), `mean` (continuous
//! actor) or `value` (critic, k = 1).

use std::path::Path;

use prost::Message;
use tract_onnx::pb;

use super::mlp::Mlp;

/// ONNX opset the exporter targets (Gemm, Tanh, Relu are stable since 13).
pub const OPSET: i64 = 13;
/// IR version that goes with opset 13.
pub const IR_VERSION: i64 = 7;

pub(crate) fn float_tensor(name: &str, dims: &[usize], data: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_string(),
        dims: dims.iter().map(|d| *d as i64).collect(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        float_data: data.to_vec(),
        ..Default::default()
    }
}

/// A float tensor value with a symbolic batch dimension `N` and fixed width.
fn batch_value(name: &str, width: usize) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![
                        Dimension {
                            denotation: String::new(),
                            value: Some(Value::DimParam("N".into())),
                        },
                        Dimension {
                            denotation: String::new(),
                            value: Some(Value::DimValue(width as i64)),
                        },
                    ],
                }),
            })),
        }),
        doc_string: String::new(),
    }
}

pub(crate) fn node(op: &str, name: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.to_string(),
        name: name.to_string(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        ..Default::default()
    }
}

pub(crate) fn int_attr(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_string(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

/// Builds an ONNX model computing `mlp` with the weights in `params`, from input
/// `input` to output `output`. `metadata` lands in the model's metadata_props.
pub fn mlp_model(
    mlp: &Mlp,
    params: &[f32],
    input: &str,
    output: &str,
    metadata: &[(&str, String)],
) -> pb::ModelProto {
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut current = input.to_string();
    let last = mlp.layers.len() - 1;
    for (i, layer) in mlp.layers.iter().enumerate() {
        let w = format!("layer{i}.weight");
        let b = format!("layer{i}.bias");
        inits.push(float_tensor(
            &w,
            &[layer.out_dim, layer.in_dim],
            layer.weight(params),
        ));
        inits.push(float_tensor(&b, &[layer.out_dim], layer.bias(params)));
        let gemm_out = if i == last {
            output.to_string()
        } else {
            format!("layer{i}.linear")
        };
        let mut gemm = node("Gemm", &format!("gemm{i}"), &[&current, &w, &b], &gemm_out);
        gemm.attribute.push(int_attr("transB", 1));
        nodes.push(gemm);
        current = gemm_out;
        if i != last {
            let act_out = format!("layer{i}.act");
            nodes.push(node(
                mlp.activation.onnx_op(),
                &format!("act{i}"),
                &[&current],
                &act_out,
            ));
            current = act_out;
        }
    }
    model_from_graph(
        pb::GraphProto {
            name: "ganglion_mlp".into(),
            node: nodes,
            initializer: inits,
            input: vec![batch_value(input, mlp.in_dim())],
            output: vec![batch_value(output, mlp.out_dim())],
            ..Default::default()
        },
        metadata,
    )
}

/// A tensor value of element type `elem_type` and fixed shape `dims`.
pub(crate) fn fixed_value(
    name: &str,
    elem_type: pb::tensor_proto::DataType,
    dims: &[usize],
) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem_type as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            denotation: String::new(),
                            value: Some(Value::DimValue(*d as i64)),
                        })
                        .collect(),
                }),
            })),
        }),
        doc_string: String::new(),
    }
}

/// An int64 initializer (`dims` empty for a scalar).
pub(crate) fn int64_tensor(name: &str, dims: &[usize], data: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_string(),
        dims: dims.iter().map(|d| *d as i64).collect(),
        data_type: pb::tensor_proto::DataType::Int64 as i32,
        int64_data: data.to_vec(),
        ..Default::default()
    }
}

pub(crate) fn ints_attr(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_string(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

/// Wraps a graph into a model at `OPSET`, with `metadata` in metadata_props.
pub(crate) fn model_from_graph(
    graph: pb::GraphProto,
    metadata: &[(&str, String)],
) -> pb::ModelProto {
    pb::ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "ganglion".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        metadata_props: metadata
            .iter()
            .map(|(k, v)| pb::StringStringEntryProto {
                key: k.to_string(),
                value: v.clone(),
            })
            .collect(),
        ..Default::default()
    }
}

/// Encodes and writes a model file.
pub fn write_model(model: &pb::ModelProto, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, model.encode_to_vec())
}

/// One convolution of a `conv_stack_model`: the layer, its weights in the
/// flat buffer, and whether a ReLU follows it.
pub struct ConvStage<'a> {
    pub conv: &'a super::conv::Conv2d,
    pub relu: bool,
}

/// Builds an ONNX model running `stages` (stride-1 "same" convolutions with
/// dilation, each optionally followed by ReLU) over one `[1, cin, h, w]`
/// image `input`, producing `output` `[1, cout, h, w]`.
pub fn conv_stack_model(
    stages: &[ConvStage],
    params: &[f32],
    (input, output): (&str, &str),
    (h, w): (usize, usize),
    metadata: &[(&str, String)],
) -> pb::ModelProto {
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut current = input.to_string();
    let last = stages.len().saturating_sub(1);
    for (i, s) in stages.iter().enumerate() {
        let c = s.conv;
        let (wn, bn) = (format!("conv{i}.weight"), format!("conv{i}.bias"));
        inits.push(float_tensor(
            &wn,
            &[c.cout, c.cin, c.k, c.k],
            c.weight(params),
        ));
        inits.push(float_tensor(&bn, &[c.cout], c.bias(params)));
        let out = if i == last && !s.relu {
            output.to_string()
        } else {
            format!("conv{i}.out")
        };
        let mut n = node("Conv", &format!("conv{i}"), &[&current, &wn, &bn], &out);
        let (k, d, p) = (c.k as i64, c.dilation as i64, c.pad() as i64);
        n.attribute.push(ints_attr("kernel_shape", &[k, k]));
        n.attribute.push(ints_attr("dilations", &[d, d]));
        n.attribute.push(ints_attr("pads", &[p, p, p, p]));
        n.attribute.push(ints_attr("strides", &[1, 1]));
        nodes.push(n);
        current = out;
        if s.relu {
            let out = if i == last {
                output.to_string()
            } else {
                format!("relu{i}.out")
            };
            nodes.push(node("Relu", &format!("relu{i}"), &[&current], &out));
            current = out;
        }
    }
    let (cin, cout) = (
        stages.first().map_or(0, |s| s.conv.cin),
        stages.last().map_or(0, |s| s.conv.cout),
    );
    let f = pb::tensor_proto::DataType::Float;
    model_from_graph(
        pb::GraphProto {
            name: "ganglion_conv".into(),
            node: nodes,
            initializer: inits,
            input: vec![fixed_value(input, f, &[1, cin, h, w])],
            output: vec![fixed_value(output, f, &[1, cout, h, w])],
            ..Default::default()
        },
        metadata,
    )
}
