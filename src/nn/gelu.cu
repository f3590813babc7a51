// CUDA mirror of gelu.rs (the transformer block's feed-forward activation).
#define GELU_C 0.7978846f
#define GELU_A 0.044715f

// BlockActivation::Gelu.forward: y <- gelu(x).
extern "C" __global__ void gelu_forward(const float* x, float* y, int n) {
  GRID_STRIDE(i, n) {
    float v = x[i];
    y[i] = 0.5f * v * (1.0f + fast_tanh(GELU_C * (v + GELU_A * v * v * v)));
  }
}

// BlockActivation::Gelu.forward_train: y <- gelu(x), x <- gelu'(x).
extern "C" __global__ void gelu_forward_train(float* x, float* y, int n) {
  GRID_STRIDE(i, n) {
    float v = x[i];
    float t = fast_tanh(GELU_C * (v + GELU_A * v * v * v));
    y[i] = 0.5f * v * (1.0f + t);
    x[i] = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_C * (1.0f + 3.0f * GELU_A * v * v);
  }
}

// BlockActivation::Relu.forward: y <- max(x, 0).
extern "C" __global__ void relu_forward_copy(const float* x, float* y, int n) {
  GRID_STRIDE(i, n) { y[i] = fmaxf(x[i], 0.0f); }
}

// BlockActivation::Relu.forward_train: y <- max(x, 0), x <- 1[x > 0].
extern "C" __global__ void relu_forward_train(float* x, float* y, int n) {
  GRID_STRIDE(i, n) {
    float v = x[i];
    y[i] = fmaxf(v, 0.0f);
    x[i] = v > 0.0f ? 1.0f : 0.0f;
  }
}
