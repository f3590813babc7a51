// CUDA mirror of layernorm.rs: one warp per row. Backward accumulates dx
// (+=, as the CPU) per row and dgamma/dbeta in shared memory per block, then
// once per block into global memory.
#define LN_EPS 1e-5f

// LayerNorm::forward. Launch with blockDim a multiple of 32; warp w of block b
// takes row b * (blockDim / 32) + w.
extern "C" __global__ void layernorm_forward(const float* x, float* y, float* mean, float* rstd,
                                             const float* gamma, const float* beta, int rows,
                                             int dim) {
  int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
  int row = blockIdx.x * warps + (threadIdx.x >> 5);
  if (row >= rows) return;
  const float* xr = x + (long long)row * dim;
  float inv_d = 1.0f / (float)dim;
  float s = 0.0f;
  for (int i = lane; i < dim; i += 32) s += xr[i];
  float m = warp_sum(s) * inv_d;
  float v = 0.0f;
  for (int i = lane; i < dim; i += 32) {
    float d = xr[i] - m;
    v += d * d;
  }
  float var = warp_sum(v) * inv_d;
  float r = 1.0f / sqrtf(var + LN_EPS);
  float* yr = y + (long long)row * dim;
  for (int i = lane; i < dim; i += 32) yr[i] = (xr[i] - m) * r * gamma[i] + beta[i];
  if (lane == 0) {
    mean[row] = m;
    rstd[row] = r;
  }
}

// LayerNorm::backward. Dynamic shared memory: 2 * dim floats.
extern "C" __global__ void layernorm_backward(const float* x, const float* mean, const float* rstd,
                                              const float* dy, float* dx, const float* gamma,
                                              float* dgamma, float* dbeta, int rows, int dim) {
  extern __shared__ float sh[];
  float* sdg = sh;
  float* sdb = sh + dim;
  for (int i = threadIdx.x; i < 2 * dim; i += blockDim.x) sh[i] = 0.0f;
  __syncthreads();
  int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
  float inv_d = 1.0f / (float)dim;
  for (int row = blockIdx.x * warps + (threadIdx.x >> 5); row < rows; row += gridDim.x * warps) {
    const float* xr = x + (long long)row * dim;
    const float* dyr = dy + (long long)row * dim;
    float* dxr = dx + (long long)row * dim;
    float m = mean[row], s = rstd[row];
    float sum_dn = 0.0f, sum_dn_xh = 0.0f;
    for (int i = lane; i < dim; i += 32) {
      float xh = (xr[i] - m) * s;
      float dn = dyr[i] * gamma[i];
      sum_dn += dn;
      sum_dn_xh += dn * xh;
      atomicAdd(&sdg[i], dyr[i] * xh);
      atomicAdd(&sdb[i], dyr[i]);
    }
    float mean_dn = warp_sum(sum_dn) * inv_d;
    float mean_dn_xh = warp_sum(sum_dn_xh) * inv_d;
    for (int i = lane; i < dim; i += 32) {
      float xh = (xr[i] - m) * s;
      dxr[i] += s * (dyr[i] * gamma[i] - mean_dn - xh * mean_dn_xh);
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    atomicAdd(&dgamma[i], sdg[i]);
    atomicAdd(&dbeta[i], sdb[i]);
  }
}
