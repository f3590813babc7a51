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
            Activation::Tanh => x.iter_mut().for_each(|v| *v = fast_tanh(*v)),
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

/// tanh as a 13/6 rational function on [-7.9, 7.9] (the classic Eigen-style
/// approximation, also what ONNX engines use), within a few ulp of `f32::tanh`
/// and several times faster; vectorisable because it has no branches but the
/// clamp. Training spends much of its time here.
#[inline]
#[allow(clippy::excessive_precision)] // published coefficients, kept verbatim
pub fn fast_tanh(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const A1: f32 = 4.893_524_6e-3;
    const A3: f32 = 6.372_619_3e-4;
    const A5: f32 = 1.485_722_4e-5;
    const A7: f32 = 5.122_297e-8;
    const A9: f32 = -8.604_672e-11;
    const A11: f32 = 2.000_188e-13;
    const A13: f32 = -2.760_768_5e-16;
    const B0: f32 = 4.893_525_2e-3;
    const B2: f32 = 2.268_434_7e-3;
    const B4: f32 = 1.185_347e-4;
    const B6: f32 = 1.198_258_4e-6;
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let p = x2 * A13 + A11;
    let p = x2 * p + A9;
    let p = x2 * p + A7;
    let p = x2 * p + A5;
    let p = x2 * p + A3;
    let p = x2 * p + A1;
    let p = x * p;
    let q = x2 * B6 + B4;
    let q = x2 * q + B2;
    let q = x2 * q + B0;
    p / q
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

#[cfg(test)]
mod tests {
    use super::fast_tanh;

    #[test]
    fn fast_tanh_matches_std() {
        let mut worst = 0.0f32;
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4;
            worst = worst.max((fast_tanh(x) - x.tanh()).abs());
        }
        for x in [-100.0f32, -9.0, 9.0, 100.0, 1e-8, -1e-8, 0.0] {
            worst = worst.max((fast_tanh(x) - x.tanh()).abs());
        }
        assert!(worst < 1e-6, "max abs error {worst}");
        assert!(fast_tanh(f32::NAN).is_nan());
    }
}
