//! Bad model files and bad inputs give clear errors, never panics.

use ganglion::learn::ActorCritic;
use ganglion::nn::Activation;
use ganglion::policy::{ActionSpec, OnnxPolicy, Policy, PolicyError};
use ganglion::sim::Rng;

fn exported(dir: &std::path::Path) -> std::path::PathBuf {
    let mut rng = Rng::new(1);
    let m = ActorCritic::new(
        4,
        ActionSpec::Discrete { n: 2 },
        &[8],
        Activation::Tanh,
        0.0,
        &mut rng,
    );
    let p = dir.join("p.onnx");
    m.export_onnx(&p, &[]).unwrap();
    p
}

fn err_text(r: anyhow::Result<OnnxPolicy>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn garbage_and_truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(exported(dir.path())).unwrap();
    let spec = ActionSpec::Discrete { n: 2 };
    for (name, bytes) in [
        ("empty", Vec::new()),
        ("text", b"this is not an onnx file".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        (
            "noise",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        ),
    ] {
        let path = dir.path().join(format!("{name}.onnx"));
        std::fs::write(&path, &bytes).unwrap();
        let msg = err_text(OnnxPolicy::load(&path, 4, spec.clone()));
        assert!(msg.contains(&format!("{name}.onnx")), "{name}: {msg}");
    }
    let msg = err_text(OnnxPolicy::load(&dir.path().join("missing.onnx"), 4, spec));
    assert!(msg.contains("missing.onnx"), "{msg}");
}

#[test]
fn mismatched_shapes_name_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = exported(dir.path());
    let msg = err_text(OnnxPolicy::load(&path, 6, ActionSpec::Discrete { n: 2 }));
    assert!(
        msg.contains("input `obs`") && msg.contains("[1, 6]"),
        "{msg}"
    );
    let msg = err_text(OnnxPolicy::load(&path, 4, ActionSpec::Discrete { n: 3 }));
    assert!(
        msg.contains("output `logits`") && msg.contains("[1, 3]"),
        "{msg}"
    );
    let msg = err_text(OnnxPolicy::load(
        &path,
        4,
        ActionSpec::Continuous { dim: 1 },
    ));
    assert!(msg.contains("output `logits`"), "{msg}");
}

#[test]
fn wrong_sized_buffers_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = OnnxPolicy::load(&exported(dir.path()), 4, ActionSpec::Discrete { n: 2 }).unwrap();
    let mut a = [0.0f32];
    assert!(matches!(
        p.act(&[0.0; 3], &mut a),
        Err(PolicyError::ObsSize { got: 3, want: 4 })
    ));
    let mut a2 = [0.0f32; 2];
    assert!(matches!(
        p.act(&[0.0; 4], &mut a2),
        Err(PolicyError::ActionSize { got: 2, want: 1 })
    ));
    // Non-finite observations run (the safety filter deals with the action).
    p.act(&[f32::NAN, 0.0, 0.0, 0.0], &mut a).unwrap();
}
