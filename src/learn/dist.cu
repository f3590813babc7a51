// CUDA mirror of the PPO minibatch loss in ppo.rs and dist.rs: gather the
// minibatch rows by the shuffled indices, advantage statistics, the clipped
// surrogate's gradient through the categorical or Gaussian log-probability
// (with the entropy bonus), and the value-loss gradient. One thread per sample.
#define HALF_LOG_2PI 0.9189385f

// dst[j] = src[idx[j]] (rows of `width` floats).
extern "C" __global__ void gather_rows(const float* src, const int* idx, float* dst, int n,
                                       int width) {
  GRID_STRIDE(i, (long long)n * width) {
    long long j = i / width;
    int c = (int)(i % width);
    dst[i] = src[(long long)idx[j] * width + c];
  }
}

// stats = (mean, unbiased std + 1e-8) of adv over the minibatch, or (0, 1)
// when not normalising or n ≤ 1. One block.
extern "C" __global__ void ppo_adv_stats(const float* adv, const int* idx, int n, int normalize,
                                         float* stats) {
  __shared__ double shared[32];
  if (!normalize || n <= 1) {
    if (threadIdx.x == 0) {
      stats[0] = 0.0f;
      stats[1] = 1.0f;
    }
    return;
  }
  double s = 0.0;
  for (int j = threadIdx.x; j < n; j += blockDim.x) s += (double)adv[idx[j]];
  double m = block_sum_d(s, shared) / (double)n;
  double q = 0.0;
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    double d = (double)adv[idx[j]] - m;
    q += d * d;
  }
  double var = block_sum_d(q, shared) / (double)(n - 1);
  if (threadIdx.x == 0) {
    stats[0] = (float)m;
    stats[1] = (float)sqrt(var) + 1e-8f;
  }
}

// −min(r·A, clip(r)·A) weight on log π: −A·r/n where the unclipped term is the
// minimum, else 0.
static __device__ __forceinline__ float surrogate_coef(float new_lp, float old_lp, float adv,
                                                       float clip, float inv_n) {
  float ratio = expf(new_lp - old_lp);
  float unclipped = ratio * adv;
  float r = ratio < 1.0f - clip ? 1.0f - clip : (ratio > 1.0f + clip ? 1.0f + clip : ratio);
  float clipped = r * adv;
  return unclipped <= clipped ? -adv * ratio * inv_n : 0.0f;
}

// Categorical head: dlogits (n × head, overwritten) of the minibatch loss.
extern "C" __global__ void ppo_categorical_grad(const float* logits, const float* actions,
                                                const float* old_logp, const float* adv,
                                                const int* idx, int n, int head,
                                                const float* stats, float clip, float ent_coef,
                                                float* dlogits) {
  float inv_n = 1.0f / (float)n;
  GRID_STRIDE(j, n) {
    int i = idx[j];
    const float* z = logits + j * head;
    float* d = dlogits + j * head;
    float av = actions[i];
    int a = av >= (float)(head - 1) ? head - 1 : (av > 0.0f ? (int)av : 0);
    float mx = -INFINITY;
    for (int c = 0; c < head; c++) mx = fmaxf(mx, z[c]);
    float se = 0.0f;
    for (int c = 0; c < head; c++) se += expf(z[c] - mx);
    float lse = mx + logf(se);
    float ent = 0.0f;
    for (int c = 0; c < head; c++) {
      float lp = z[c] - lse;
      ent += expf(lp) * lp;
    }
    ent = -ent;
    float a_n = (adv[i] - stats[0]) / stats[1];
    float c_logp = surrogate_coef(z[a] - lse, old_logp[i], a_n, clip, inv_n);
    float c_ent = -ent_coef * inv_n;
    for (int c = 0; c < head; c++) {
      float lp = z[c] - lse;
      float p = expf(lp);
      float onehot = c == a ? 1.0f : 0.0f;
      d[c] = c_logp * (onehot - p) + c_ent * (-p * (lp + ent));
    }
  }
}

// Diagonal Gaussian head: dmean (n × head, overwritten), and the log-std
// gradient added into dlog_std (the gradient buffer's log-std slice).
extern "C" __global__ void ppo_gaussian_grad(const float* mean, const float* actions,
                                             const float* old_logp, const float* adv,
                                             const int* idx, int n, int head,
                                             const float* log_std, const float* stats, float clip,
                                             float ent_coef, float* dmean, float* dlog_std) {
  float inv_n = 1.0f / (float)n;
  GRID_STRIDE(j, n) {
    int i = idx[j];
    const float* mu = mean + j * head;
    const float* a = actions + (long long)i * head;
    float lp = 0.0f;
    for (int c = 0; c < head; c++) {
      float z = (a[c] - mu[c]) / expf(log_std[c]);
      lp += -0.5f * z * z - log_std[c] - HALF_LOG_2PI;
    }
    float a_n = (adv[i] - stats[0]) / stats[1];
    float c_logp = surrogate_coef(lp, old_logp[i], a_n, clip, inv_n);
    float c_ent = -ent_coef * inv_n;
    for (int c = 0; c < head; c++) {
      float inv_var = expf(-2.0f * log_std[c]);
      float diff = a[c] - mu[c];
      dmean[j * head + c] = c_logp * diff * inv_var;
      atomicAdd(&dlog_std[c], c_logp * (diff * diff * inv_var - 1.0f) + c_ent);
    }
  }
}

// dvalue[j] = vf_coef · 2 · (V − R) / n.
extern "C" __global__ void ppo_value_grad(const float* values, const float* returns,
                                          const int* idx, int n, float vf_coef, float* dvalue) {
  float inv_n = 1.0f / (float)n;
  GRID_STRIDE(j, n) { dvalue[j] = vf_coef * 2.0f * (values[j] - returns[idx[j]]) * inv_n; }
}
