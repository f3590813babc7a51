// CUDA mirror of dropout.rs. The CPU draws the mask from the trainer's `Rng`;
// the GPU draws it from a counter-based hash (splitmix64 of seed and index), so
// a mask costs no host round trip and the same seed gives the same mask. The
// two paths therefore agree exactly only with dropout off (see nn/cuda/dt.rs).

static __device__ __forceinline__ unsigned long long splitmix64(unsigned long long x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// dropout_mask: mask[i] = 0 with probability p, else 1/(1-p); p in (0, 0.999].
extern "C" __global__ void dropout_mask(float* mask, int n, float p, unsigned long long seed) {
  float keep = 1.0f / (1.0f - p);
  GRID_STRIDE(i, n) {
    unsigned long long h = splitmix64(seed + (unsigned long long)(i + 1) * 0x9E3779B97F4A7C15ull);
    float u = (float)(h >> 40) * (1.0f / 16777216.0f);
    mask[i] = u < p ? 0.0f : keep;
  }
}

// apply_mask (and BlockActivation::backward_from_grad): x <- x * m.
extern "C" __global__ void mul_inplace(float* x, const float* m, int n) {
  GRID_STRIDE(i, n) { x[i] *= m[i]; }
}

// out <- a * b (the dropped attention probabilities, kept for backward).
extern "C" __global__ void mul_out(const float* a, const float* b, float* out, int n) {
  GRID_STRIDE(i, n) { out[i] = a[i] * b[i]; }
}
