//! Finite-difference check of the VLA head's backward pass.

use super::{VlaConfig, VlaHead, VlaInput};
use crate::nn::gradcheck::{check_with, dot, random};
use ganglion_sim::Rng;

#[test]
fn vla_head_gradients_match_finite_differences() {
    let cfg = VlaConfig {
        feat: 3,
        pixels: 12,
        hidden: 4,
        keypoints: 2,
        embed: 5,
        task: 3,
        proprio: 2,
        mlp: vec![6],
        horizon: 2,
        action: 2,
    };
    let head = VlaHead::new(cfg.clone());
    let mut rng = Rng::new(5);
    let mut params = vec![0.0; head.num_params()];
    head.init(&mut params, &mut rng);
    // Output weights larger than the policy init, so every path carries
    // gradient; still small enough that f32 central differences are
    // accurate through the softmax.
    for p in params.iter_mut() {
        *p = 0.5 * *p + 0.1 * rng.normal();
    }
    let batch = 2;
    let feats: Vec<Vec<f32>> = (0..batch)
        .map(|_| random(cfg.feat * cfg.pixels, &mut rng))
        .collect();
    let votes: Vec<Vec<f32>> = (0..batch)
        .map(|_| random(3 * cfg.pixels, &mut rng))
        .collect();
    let mut mask = vec![0.0; cfg.pixels];
    mask[3] = -1e4;
    let embeds: Vec<Vec<f32>> = (0..batch).map(|_| random(cfg.embed, &mut rng)).collect();
    let props: Vec<Vec<f32>> = (0..batch).map(|_| random(cfg.proprio, &mut rng)).collect();
    let inputs: Vec<VlaInput> = (0..batch)
        .map(|i| VlaInput {
            feat: &feats[i],
            votes: &votes[i],
            mask: &mask,
            embed: &embeds[i],
            proprio: &props[i],
        })
        .collect();
    let out_len = batch * cfg.horizon * cfg.action;
    let r = random(out_len, &mut rng);
    let mut cache = Default::default();
    head.forward(&params, &inputs, &mut cache);
    let mut grads = vec![0.0; params.len()];
    head.backward(&params, &inputs, &r, &mut cache, &mut grads);
    let mut c2 = Default::default();
    let worst = check_with("vla head", &mut params, &grads, 0.05, 1e-2, |p| {
        dot(head.forward(p, &inputs, &mut c2), &r)
    });
    assert!(worst < 1e-2, "worst relative error {worst}");
}
