// CUDA mirror of attention.rs. The four products per (sequence, head) are
// cuBLAS strided-batched SGEMMs over the head-major Q, K, V (nn/cuda/ops.rs);
// these kernels do the layout changes and the masked causal softmax and its
// backward, one warp per score row.
#define PAD_BIAS -1e9f

// qkv (B*T × 3E, Q|K|V side by side, heads contiguous) -> head-major q, k, v
// (B*H × T × D).
extern "C" __global__ void attn_split_qkv(const float* qkv, float* q, float* k, float* v, int B,
                                          int T, int H, int D) {
  long long E = (long long)H * D;
  GRID_STRIDE(i, (long long)B * H * T * D) {
    int d = (int)(i % D);
    long long r = i / D;
    int t = (int)(r % T);
    long long bh = r / T;
    int h = (int)(bh % H);
    long long b = bh / H;
    long long src = (b * T + t) * 3 * E + (long long)h * D + d;
    q[i] = qkv[src];
    k[i] = qkv[src + E];
    v[i] = qkv[src + 2 * E];
  }
}

// Head-major y (B*H × T × D) -> token-major out (B*T × E).
extern "C" __global__ void attn_merge_heads(const float* y, float* out, int B, int T, int H, int D) {
  long long E = (long long)H * D;
  GRID_STRIDE(i, (long long)B * H * T * D) {
    int d = (int)(i % D);
    long long r = i / D;
    int t = (int)(r % T);
    long long bh = r / T;
    int h = (int)(bh % H);
    long long b = bh / H;
    out[(b * T + t) * E + (long long)h * D + d] = y[i];
  }
}

// Token-major x (B*T × E) -> head-major y (B*H × T × D): the gradient of the
// attention output, on its way into the backward products.
extern "C" __global__ void attn_split_heads(const float* x, float* y, int B, int T, int H, int D) {
  long long E = (long long)H * D;
  GRID_STRIDE(i, (long long)B * H * T * D) {
    int d = (int)(i % D);
    long long r = i / D;
    int t = (int)(r % T);
    long long bh = r / T;
    int h = (int)(bh % H);
    long long b = bh / H;
    y[i] = x[(b * T + t) * E + (long long)h * D + d];
  }
}

// Head-major dq, dk, dv -> dqkv (B*T × 3E), the inverse of attn_split_qkv.
extern "C" __global__ void attn_merge_qkv_grad(const float* dq, const float* dk, const float* dv,
                                               float* dqkv, int B, int T, int H, int D) {
  long long E = (long long)H * D;
  GRID_STRIDE(i, (long long)B * H * T * D) {
    int d = (int)(i % D);
    long long r = i / D;
    int t = (int)(r % T);
    long long bh = r / T;
    int h = (int)(bh % H);
    long long b = bh / H;
    long long dst = (b * T + t) * 3 * E + (long long)h * D + d;
    dqkv[dst] = dq[i];
    dqkv[dst + E] = dk[i];
    dqkv[dst + 2 * E] = dv[i];
  }
}

// In place on the raw scores Q·Kᵀ (B*H × T × T): row i becomes
// softmax_j≤i(s·scale + key_bias[b, j]), zero above the diagonal.
extern "C" __global__ void attn_softmax_forward(float* att, const float* bias, int B, int H, int T,
                                                float scale) {
  int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
  long long row = (long long)blockIdx.x * warps + (threadIdx.x >> 5);
  if (row >= (long long)B * H * T) return;
  int i = (int)(row % T);
  long long b = row / T / H;
  float* a = att + row * T;
  const float* kb = bias + b * T;
  float mx = -INFINITY;
  for (int j = lane; j <= i; j += 32) {
    float s = a[j] * scale + kb[j];
    a[j] = s;
    mx = fmaxf(mx, s);
  }
  mx = warp_max(mx);
  float sum = 0.0f;
  for (int j = lane; j <= i; j += 32) {
    float e = expf(a[j] - mx);
    a[j] = e;
    sum += e;
  }
  float inv = 1.0f / warp_sum(sum);
  for (int j = lane; j < T; j += 32) a[j] = j <= i ? a[j] * inv : 0.0f;
}

// In place on dP (B*H × T × T): dS = P ⊙ (dP − Σ_j P·dP) · scale for j ≤ i,
// zero for padded keys and above the diagonal.
extern "C" __global__ void attn_softmax_backward(const float* att, float* dp, const float* bias,
                                                 int B, int H, int T, float scale) {
  int warps = blockDim.x >> 5, lane = threadIdx.x & 31;
  long long row = (long long)blockIdx.x * warps + (threadIdx.x >> 5);
  if (row >= (long long)B * H * T) return;
  int i = (int)(row % T);
  long long b = row / T / H;
  const float* p = att + row * T;
  float* d = dp + row * T;
  const float* kb = bias + b * T;
  float dot = 0.0f;
  for (int j = lane; j <= i; j += 32) dot += p[j] * d[j];
  dot = warp_sum(dot);
  for (int j = lane; j < T; j += 32) {
    float g = 0.0f;
    if (j <= i && !(kb[j] <= 0.5f * PAD_BIAS)) g = p[j] * (d[j] - dot) * scale;
    d[j] = g;
  }
}
