// CUDA mirror of activation.rs (the MLP activations): in-place forward,
// backward from the forward *output*.

// Activation::Tanh.forward: x <- fast_tanh(x).
extern "C" __global__ void tanh_forward(float* x, int n) {
  GRID_STRIDE(i, n) { x[i] = fast_tanh(x[i]); }
}

// Activation::Tanh.backward: d <- d * (1 - y^2).
extern "C" __global__ void tanh_backward(const float* y, float* d, int n) {
  GRID_STRIDE(i, n) { d[i] *= 1.0f - y[i] * y[i]; }
}

// Activation::Relu.forward: x <- max(x, 0) (NaN -> 0, as f32::max).
extern "C" __global__ void relu_forward(float* x, int n) {
  GRID_STRIDE(i, n) { x[i] = fmaxf(x[i], 0.0f); }
}

// Activation::Relu.backward: d <- 0 where y <= 0.
extern "C" __global__ void relu_backward(const float* y, float* d, int n) {
  GRID_STRIDE(i, n) {
    if (y[i] <= 0.0f) d[i] = 0.0f;
  }
}
