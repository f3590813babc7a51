//! A closed-form policy for servo arms, shipped beside `robots/arm-servo.toml`
//! so that config has a model like any other: each joint's goal is `gain` ×
//! its present position, so from anywhere in its limits the arm glides
//! home (0 rad at every joint's `zero_tick`), a fraction `1 − gain` of the
//! way per tick. One linear layer, exported as ONNX (input `obs`, output
//! `mean`) with its model card; `ganglion servo home-policy` writes it.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::nn::activation::Activation;
use crate::nn::mlp::Mlp;
use crate::nn::onnx::{mlp_model, write_model};
use crate::policy::card::{ActionSpec, CARD_FORMAT, ModelCard};

/// Writes the home policy for `joints` joints to `out` and its card beside.
pub fn export_home_policy(out: &Path, joints: usize, gain: f32, command: &str) -> Result<()> {
    if joints == 0 || joints > super::plant::MAX_JOINTS {
        bail!(
            "a home policy for {joints} joints (1 to {})",
            super::plant::MAX_JOINTS
        );
    }
    if !(gain.is_finite() && (0.0..1.0).contains(&gain)) {
        bail!("the gain must be in [0, 1), got {gain}");
    }
    let mlp = Mlp::new(&[joints, joints], Activation::Tanh, 0);
    let mut params = vec![0.0f32; mlp.num_params()];
    // Weight rows are outputs: goal_i = gain × position_i; zero bias.
    for i in 0..joints {
        params[i * joints + i] = gain;
    }
    let meta = [
        ("ganglion.kind", "servo-home".to_string()),
        ("ganglion.gain", gain.to_string()),
    ];
    let model = mlp_model(&mlp, &params, "obs", "mean", &meta);
    write_model(&model, out).with_context(|| format!("writing {}", out.display()))?;
    let mut training = toml::Table::new();
    // As written (0.9), not as the f32 widens (0.8999999761581421).
    let gain_text: f64 = gain.to_string().parse().unwrap_or(gain as f64);
    training.insert("gain".into(), gain_text.into());
    training.insert(
        "rule".into(),
        "closed form, no training: goal = gain × present position (rad), per joint".into(),
    );
    let card = ModelCard {
        format: CARD_FORMAT.into(),
        name: out
            .file_stem()
            .map_or("servo-home".into(), |s| s.to_string_lossy().into_owned()),
        kind: "mlp".into(),
        env: "servo".into(),
        algo: "closed-form".into(),
        seed: 0,
        ganglion_version: env!("CARGO_PKG_VERSION").into(),
        command: command.to_string(),
        sha256: crate::input::sha256_file(out, crate::input::FileKind::Model)?,
        obs_dim: joints,
        action: ActionSpec::Continuous { dim: joints },
        critic: None,
        training,
        eval: None,
        dt: None,
    };
    card.save_for(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{OnnxPolicy, Policy};

    #[test]
    fn home_policy_scales_positions() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("home.onnx");
        export_home_policy(&out, 3, 0.5, "test").unwrap();
        let card = ModelCard::load_for(&out).unwrap();
        card.verify_sha256(&out).unwrap();
        let mut p = OnnxPolicy::load(&out, 3, card.action.clone()).unwrap();
        let mut act = [0.0f32; 3];
        p.act(&[0.4, -1.0, 0.0], &mut act).unwrap();
        assert_eq!(act, [0.2, -0.5, 0.0]);
        assert!(export_home_policy(&out, 3, 1.0, "test").is_err());
    }
}
