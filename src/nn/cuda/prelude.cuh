// Prepended to every kernel source before NVRTC compiles it: warp reductions,
// the grid-stride loop and `fast_tanh` (the same rational function as
// `activation::fast_tanh`, coefficient for coefficient). No #include, so the
// sources compile with NVRTC alone (no CUDA toolkit headers).
// Not every source uses every helper.
#pragma nv_diag_suppress 177
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(n); \
       i += (long long)blockDim.x * gridDim.x)

static __device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

static __device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

static __device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum of `v` over a block of up to 1024 threads (a multiple of 32), in double;
// every thread gets the result. `shared` holds 32 doubles.
static __device__ double block_sum_d(double v, double* shared) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum_d(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  double t = lane < warps ? shared[lane] : 0.0;
  return warp_sum_d(t);
}

static __device__ __forceinline__ float fast_tanh(float x) {
  const float CLAMP = 7.905311f;
  const float A1 = 4.8935246e-3f, A3 = 6.3726193e-4f, A5 = 1.4857224e-5f,
              A7 = 5.122297e-8f, A9 = -8.604672e-11f, A11 = 2.000188e-13f,
              A13 = -2.7607685e-16f;
  const float B0 = 4.8935252e-3f, B2 = 2.2684347e-3f, B4 = 1.185347e-4f,
              B6 = 1.1982584e-6f;
  // Comparisons (not fminf/fmaxf) so NaN stays NaN, as `f32::clamp`.
  x = x < -CLAMP ? -CLAMP : (x > CLAMP ? CLAMP : x);
  float x2 = x * x;
  float p = x2 * A13 + A11;
  p = x2 * p + A9;
  p = x2 * p + A7;
  p = x2 * p + A5;
  p = x2 * p + A3;
  p = x2 * p + A1;
  p = x * p;
  float q = x2 * B6 + B4;
  q = x2 * q + B2;
  q = x2 * q + B0;
  return p / q;
}
