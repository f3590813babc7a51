// CUDA mirror of optim.rs: global-norm gradient clipping as a two-stage
// reduction (per-block partial sums of squares in double, then one block that
// turns them into the norm and the clip scale), and the Adam(W) step, which
// reads the clip scale from device memory, so no step needs the host.

// partial[blockIdx.x] = Σ g² over this block's grid-stride share.
extern "C" __global__ void sq_sum_partial(const float* g, long long n, double* partial) {
  __shared__ double shared[32];
  double s = 0.0;
  GRID_STRIDE(i, n) { s += (double)g[i] * (double)g[i]; }
  s = block_sum_d(s, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// clip_grad_norm's arithmetic: norm = sqrt(Σ partial) (as f32); scale =
// max_norm / (norm + 1e-6) when norm > max_norm > 0 ... else 1. One block.
extern "C" __global__ void clip_scale(const double* partial, int parts, float max_norm, float* norm,
                                      float* scale) {
  __shared__ double shared[32];
  double s = 0.0;
  for (int i = threadIdx.x; i < parts; i += blockDim.x) s += partial[i];
  s = block_sum_d(s, shared);
  if (threadIdx.x == 0) {
    float nrm = (float)sqrt(s);
    norm[0] = nrm;
    scale[0] = (nrm > max_norm && nrm > 0.0f) ? max_norm / (nrm + 1e-6f) : 1.0f;
  }
}

// Adam::update with decoupled weight decay, on g·gscale[0]. c1, c2 are the
// bias corrections 1 − β^t computed on the host, as the CPU does.
extern "C" __global__ void adamw_step(float* p, const float* g, float* m, float* v, long long n,
                                      float lr, float b1, float b2, float c1, float c2, float eps,
                                      float wd, const float* gscale) {
  float sc = gscale[0];
  GRID_STRIDE(i, n) {
    float gi = g[i] * sc;
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float m_hat = mi / c1;
    float v_hat = vi / c2;
    p[i] -= lr * (m_hat / (sqrtf(v_hat) + eps) + wd * p[i]);
  }
}
