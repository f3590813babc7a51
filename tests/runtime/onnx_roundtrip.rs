//! The exporter's files, run by tract, match the native forward pass (≤ 1e-5).

use ganglion::learn::ActorCritic;
use ganglion::nn::{Activation, MlpCache};
use ganglion::policy::{ActionSpec, OnnxPolicy, Policy, argmax};
use ganglion::sim::Rng;

fn perturbed_model(action: ActionSpec, activation: Activation, seed: u64) -> ActorCritic {
    let mut rng = Rng::new(seed);
    let mut m = ActorCritic::new(5, action, &[16, 8], activation, -0.5, &mut rng);
    // Move away from the tiny-output init so differences would show.
    for p in m.params.iter_mut() {
        *p += 0.3 * rng.normal();
    }
    m
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn actor_and_critic_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for (k, (action, act)) in [
        (ActionSpec::Discrete { n: 3 }, Activation::Tanh),
        (ActionSpec::Continuous { dim: 2 }, Activation::Relu),
    ]
    .into_iter()
    .enumerate()
    {
        let model = perturbed_model(action.clone(), act, 7 + k as u64);
        let path = dir.path().join(format!("m{k}.onnx"));
        let critic_path = model.export_onnx(&path, &[]).unwrap();
        let mut actor = OnnxPolicy::load(&path, 5, action.clone()).unwrap();
        let mut critic =
            OnnxPolicy::load(&critic_path, 5, ActionSpec::Continuous { dim: 1 }).unwrap();
        let mut rng = Rng::new(99);
        let mut cache = MlpCache::default();
        let mut worst = 0.0f32;
        for _ in 0..50 {
            let obs: Vec<f32> = (0..5).map(|_| 2.0 * rng.normal()).collect();
            let native = model
                .actor
                .forward(&model.params, &obs, 1, &mut cache)
                .to_vec();
            let onnx = actor.raw_output(&obs).unwrap();
            worst = worst.max(max_diff(&native, &onnx));
            let v_native = model
                .critic
                .forward(&model.params, &obs, 1, &mut cache)
                .to_vec();
            let v_onnx = critic.raw_output(&obs).unwrap();
            worst = worst.max(max_diff(&v_native, &v_onnx));
            // The action the policy takes agrees with the native head.
            let mut a = vec![0.0; action.action_dim()];
            actor.act(&obs, &mut a).unwrap();
            match action {
                ActionSpec::Discrete { .. } => assert_eq!(a[0] as usize, argmax(&native).unwrap()),
                ActionSpec::Continuous { .. } => assert!(max_diff(&a, &native) <= 1e-5),
            }
        }
        assert!(worst <= 1e-5, "max abs diff {worst}");
    }
}
