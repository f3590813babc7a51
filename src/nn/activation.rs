//! Element-wise activations. Backward uses the forward *output*, so a layer
//! needs to keep only one buffer per activation.

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Tanh,
    Relu,
}

impl Activation {
    /// In place: `x ← f(x)`.
    pub fn forward(self, x: &mut [f32]) {
        match self {
            Activation::Tanh => x.iter_mut().for_each(|v| *v = v.tanh()),
            Activation::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
        }
    }

    /// In place: `d ← d · f'(x)`, given `y = f(x)`.
    pub fn backward(self, y: &[f32], d: &mut [f32]) {
        match self {
            Activation::Tanh => d.iter_mut().zip(y).for_each(|(g, y)| *g *= 1.0 - y * y),
            Activation::Relu => d.iter_mut().zip(y).for_each(|(g, y)| {
                if *y <= 0.0 {
                    *g = 0.0
                }
            }),
        }
    }

    /// The ONNX operator of the same function.
    pub fn onnx_op(self) -> &'static str {
        match self {
            Activation::Tanh => "Tanh",
            Activation::Relu => "Relu",
        }
    }

    /// Gain for orthogonal init of the layer feeding this activation.
    pub fn init_gain(self) -> f32 {
        std::f32::consts::SQRT_2
    }
}

impl std::str::FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tanh" => Ok(Activation::Tanh),
            "relu" => Ok(Activation::Relu),
            _ => Err(format!("unknown activation `{s}` (expected tanh or relu)")),
        }
    }
}
