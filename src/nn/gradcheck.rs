//! Finite-difference gradient checks for every layer and the whole MLP. The loss
//! is `L = Σ r ⊙ y` with fixed random `r`, so `dL/dy = r`.

use super::activation::Activation;
use super::linear::Linear;
use super::mlp::Mlp;
use ganglion_sim::Rng;

pub(super) fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.normal()).collect()
}

pub(super) fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// Compares `analytic` with central differences of `loss` at `x` (each entry
/// perturbed in turn). Tolerance is relative, with an absolute floor for f32.
pub(super) fn check(name: &str, x: &mut [f32], analytic: &[f32], loss: impl FnMut(&[f32]) -> f64) {
    let worst = check_with(name, x, analytic, 1.0, 5e-3, loss);
    assert!(worst.is_finite(), "{name}");
}

/// Central differences with the error relative to
/// `max(|numeric|, |analytic|, floor)` and asserted below `tol`. Returns the
/// worst error.
pub(super) fn check_with(
    name: &str,
    x: &mut [f32],
    analytic: &[f32],
    floor: f64,
    tol: f64,
    mut loss: impl FnMut(&[f32]) -> f64,
) -> f64 {
    // Small enough that ReLU kinks are rarely straddled, large enough for f32.
    let eps = 1e-3f32;
    let mut worst = 0.0f64;
    for i in 0..x.len() {
        let orig = x[i];
        x[i] = orig + eps;
        let up = loss(x);
        x[i] = orig - eps;
        let down = loss(x);
        x[i] = orig;
        let numeric = (up - down) / (2.0 * eps as f64);
        let a = analytic[i] as f64;
        let err = (numeric - a).abs() / numeric.abs().max(a.abs()).max(floor);
        assert!(
            err < tol,
            "{name}: gradient {i}: analytic {a} vs numeric {numeric}"
        );
        worst = worst.max(err);
    }
    worst
}

#[test]
fn linear_gradients() {
    let mut rng = Rng::new(11);
    let (batch, i, o) = (3, 5, 4);
    let layer = Linear::new(i, o, 2); // non-zero offset on purpose
    let mut params = random(2 + layer.num_params(), &mut rng);
    let mut x = random(batch * i, &mut rng);
    let r = random(batch * o, &mut rng);

    let mut grads = vec![0.0; params.len()];
    let mut dx = vec![0.0; batch * i];
    layer.backward(&params, &x, &r, Some(&mut dx), &mut grads, batch);
    assert!(grads[..2].iter().all(|g| *g == 0.0), "offset respected");

    let mut y = vec![0.0; batch * o];
    let p0 = params.clone();
    check("linear dx", &mut x.clone(), &dx, |xx| {
        layer.forward(&p0, xx, &mut y, batch);
        dot(&y, &r)
    });
    let mut y = vec![0.0; batch * o];
    check("linear dparams", &mut params, &grads, |pp| {
        layer.forward(pp, &x, &mut y, batch);
        dot(&y, &r)
    });
    x.clear();
}

#[test]
fn activation_gradients() {
    let mut rng = Rng::new(12);
    for act in [Activation::Tanh, Activation::Relu] {
        // Keep ReLU inputs away from the kink where the derivative jumps.
        let mut x: Vec<f32> = random(16, &mut rng)
            .into_iter()
            .map(|v| if v.abs() < 0.1 { v + 0.3 } else { v })
            .collect();
        let r = random(16, &mut rng);
        let mut y = x.clone();
        act.forward(&mut y);
        let mut d = r.clone();
        act.backward(&y, &mut d);
        check(&format!("{act:?}"), &mut x, &d, |xx| {
            let mut yy = xx.to_vec();
            act.forward(&mut yy);
            dot(&yy, &r)
        });
    }
}

#[test]
fn mlp_gradients() {
    let mut rng = Rng::new(13);
    for act in [Activation::Tanh, Activation::Relu] {
        let mlp = Mlp::new(&[4, 7, 6, 3], act, 0);
        let mut params = vec![0.0; mlp.num_params()];
        mlp.init(&mut params, 1.0, &mut rng);
        // Non-zero biases so ReLU units are not all on a kink.
        for p in params.iter_mut() {
            *p += 0.05 * rng.normal();
        }
        let batch = 5;
        let mut x = random(batch * 4, &mut rng);
        let r = random(batch * 3, &mut rng);
        let mut cache = mlp.new_cache();
        mlp.forward(&params, &x, batch, &mut cache);
        let mut grads = vec![0.0; params.len()];
        let dx = mlp
            .backward(&params, &r, batch, &mut cache, &mut grads)
            .to_vec();

        let mut c2 = mlp.new_cache();
        let p0 = params.clone();
        check(&format!("mlp {act:?} dx"), &mut x, &dx, |xx| {
            dot(mlp.forward(&p0, xx, batch, &mut c2), &r)
        });
        check(&format!("mlp {act:?} dparams"), &mut params, &grads, |pp| {
            dot(mlp.forward(pp, &x, batch, &mut c2), &r)
        });
    }
}
