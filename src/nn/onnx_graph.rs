//! A small builder for ONNX graphs: every op gets a fresh output name,
//! weights become initializers, and the composite pieces the exporters share
//! (Gemm from a `Linear`, a decomposed LayerNorm and GELU, reshapes) are one
//! call each. The Decision Transformer's and the VLA's exporters use it.

use tract_onnx::pb;

use crate::nn::gelu::{BlockActivation, GELU_A, GELU_C};
use crate::nn::layernorm::{LN_EPS, LayerNorm};
use crate::nn::linear::Linear;
use crate::nn::onnx::{float_tensor, int_attr, int64_tensor, ints_attr, node};

/// Nodes and initializers under construction; every op gets a fresh output name.
pub(crate) struct Graph<'p> {
    pub params: &'p [f32],
    pub nodes: Vec<pb::NodeProto>,
    pub inits: Vec<pb::TensorProto>,
    pub count: usize,
}

impl Graph<'_> {
    pub fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>) -> String {
        self.count += 1;
        let out = format!("{}_{}", op.to_lowercase(), self.count);
        self.op_to(op, inputs, attrs, &out);
        out
    }

    pub fn op_to(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>, out: &str) {
        let mut n = node(op, &format!("n{}_{op}", self.nodes.len()), inputs, out);
        n.attribute = attrs;
        self.nodes.push(n);
    }

    pub fn float(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        self.inits.push(float_tensor(name, dims, data));
        name.to_string()
    }

    pub fn scalar(&mut self, v: f32) -> String {
        self.count += 1;
        let name = format!("const_{}", self.count);
        self.float(&name, &[], &[v])
    }

    pub fn ints(&mut self, dims: &[usize], data: &[i64]) -> String {
        self.count += 1;
        let name = format!("ints_{}", self.count);
        self.inits.push(int64_tensor(&name, dims, data));
        name
    }

    pub fn reshape(&mut self, x: &str, shape: &[usize]) -> String {
        let s: Vec<i64> = shape.iter().map(|d| *d as i64).collect();
        let shape = self.ints(&[s.len()], &s);
        self.op("Reshape", &[x, &shape], vec![])
    }

    pub fn transpose(&mut self, x: &str, perm: &[i64]) -> String {
        self.op("Transpose", &[x], vec![ints_attr("perm", perm)])
    }

    /// `x·Wᵀ + b` on a 2-D `x`.
    pub fn gemm(&mut self, x: &str, l: &Linear, name: &str) -> String {
        let w = self.float(
            &format!("{name}.weight"),
            &[l.out_dim, l.in_dim],
            l.weight(self.params),
        );
        let b = self.float(&format!("{name}.bias"), &[l.out_dim], l.bias(self.params));
        self.op("Gemm", &[x, &w, &b], vec![int_attr("transB", 1)])
    }

    /// Gemm with output units `units` of `l` only (e.g. the key and value
    /// columns of a fused QKV projection).
    pub fn gemm_units(
        &mut self,
        x: &str,
        l: &Linear,
        name: &str,
        units: std::ops::Range<usize>,
    ) -> String {
        let n = units.len();
        let w = &l.weight(self.params)[units.start * l.in_dim..units.end * l.in_dim];
        let w = self.float(&format!("{name}.weight"), &[n, l.in_dim], w);
        let b = self.float(&format!("{name}.bias"), &[n], &l.bias(self.params)[units]);
        self.op("Gemm", &[x, &w, &b], vec![int_attr("transB", 1)])
    }

    /// Rows `rows` of the 2-D `x`.
    pub fn rows(&mut self, x: &str, rows: std::ops::Range<usize>) -> String {
        let starts = self.ints(&[1], &[rows.start as i64]);
        let ends = self.ints(&[1], &[rows.end as i64]);
        let axes = self.ints(&[1], &[0]);
        self.op("Slice", &[x, &starts, &ends, &axes], vec![])
    }

    /// LayerNorm over the last axis, decomposed.
    pub fn layernorm(&mut self, x: &str, ln: &LayerNorm, name: &str) -> String {
        let g = self.float(&format!("{name}.weight"), &[ln.dim], ln.gamma(self.params));
        let b = self.float(&format!("{name}.bias"), &[ln.dim], ln.beta(self.params));
        let axes = || vec![ints_attr("axes", &[-1]), int_attr("keepdims", 1)];
        let mean = self.op("ReduceMean", &[x], axes());
        let d = self.op("Sub", &[x, &mean], vec![]);
        let d2 = self.op("Mul", &[&d, &d], vec![]);
        let var = self.op("ReduceMean", &[&d2], axes());
        let eps = self.scalar(LN_EPS);
        let var = self.op("Add", &[&var, &eps], vec![]);
        let std = self.op("Sqrt", &[&var], vec![]);
        let xh = self.op("Div", &[&d, &std], vec![]);
        let y = self.op("Mul", &[&xh, &g], vec![]);
        self.op("Add", &[&y, &b], vec![])
    }

    pub fn activation(&mut self, x: &str, act: BlockActivation) -> String {
        match act {
            BlockActivation::Relu => self.op("Relu", &[x], vec![]),
            BlockActivation::Gelu => {
                let x2 = self.op("Mul", &[x, x], vec![]);
                let x3 = self.op("Mul", &[&x2, x], vec![]);
                let a = self.scalar(GELU_A);
                let ax3 = self.op("Mul", &[&x3, &a], vec![]);
                let inner = self.op("Add", &[x, &ax3], vec![]);
                let c = self.scalar(GELU_C);
                let u = self.op("Mul", &[&inner, &c], vec![]);
                let t = self.op("Tanh", &[&u], vec![]);
                let one = self.scalar(1.0);
                let t1 = self.op("Add", &[&t, &one], vec![]);
                let half = self.scalar(0.5);
                let hx = self.op("Mul", &[x, &half], vec![]);
                self.op("Mul", &[&hx, &t1], vec![])
            }
        }
    }
}
