// CUDA mirror of linear.rs. The products themselves are cuBLAS SGEMMs (see
// nn/cuda/gpu.rs); this is the bias broadcast that `Linear::forward` does
// before its gemm with beta = 1. The bias gradient is a cuBLAS product with a
// ones vector (deterministic, unlike an atomic column sum).

// out[r, c] = bias[c] for a rows × cols output.
extern "C" __global__ void bias_broadcast(float* out, const float* bias, int rows, int cols) {
  GRID_STRIDE(i, (long long)rows * cols) { out[i] = bias[i % cols]; }
}
