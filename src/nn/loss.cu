// CUDA mirror of loss.rs: per-row loss and gradient (one thread per row; the
// rows are short), then one block sums the row losses in double. The number of
// counted rows is known on the host from the batch's mask and passed in.

static __device__ __forceinline__ bool is_valid(float m) { return m > 0.5f; }

// mse: dpred = scale·(pred − target) on valid rows (0 elsewhere),
// row_loss[r] = Σ (pred − target)² (0 for padding). scale = 2 / count.
extern "C" __global__ void mse_forward_backward(const float* pred, const float* target,
                                                const float* mask, int rows, int dim, float scale,
                                                float* dpred, float* row_loss) {
  GRID_STRIDE(r, rows) {
    const float* p = pred + r * dim;
    const float* t = target + r * dim;
    float* d = dpred + r * dim;
    double sum = 0.0;
    bool valid = is_valid(mask[r]);
    for (int c = 0; c < dim; c++) {
      float e = p[c] - t[c];
      if (valid) {
        sum += (double)e * (double)e;
        d[c] = scale * e;
      } else {
        d[c] = 0.0f;
      }
    }
    row_loss[r] = (float)sum;
  }
}

// cross_entropy: softmax − onehot, times inv = 1/count, on rows whose mask is
// valid and whose target is a class index; row_loss = lse − z[y].
extern "C" __global__ void cross_entropy_forward_backward(const float* logits, const float* target,
                                                          const float* mask, int rows, int classes,
                                                          float inv, float* dlogits,
                                                          float* row_loss) {
  GRID_STRIDE(r, rows) {
    const float* z = logits + r * classes;
    float* d = dlogits + r * classes;
    float t = target[r];
    bool label = is_valid(mask[r]) && isfinite(t) && t >= 0.0f && floorf(t) == t &&
                 t < (float)classes;
    if (!label) {
      for (int c = 0; c < classes; c++) d[c] = 0.0f;
      row_loss[r] = 0.0f;
      continue;
    }
    int y = (int)t;
    float mx = -INFINITY;
    for (int c = 0; c < classes; c++) mx = fmaxf(mx, z[c]);
    float total = 0.0f;
    for (int c = 0; c < classes; c++) {
      float e = expf(z[c] - mx);
      d[c] = e;
      total += e;
    }
    row_loss[r] = logf(total) + mx - z[y];
    for (int c = 0; c < classes; c++) d[c] *= inv / total;
    d[y] -= inv;
  }
}

// out[0] = (Σ x) / divisor, summed in double by one block (blockDim ≤ 1024,
// a multiple of 32). Launch with one block.
extern "C" __global__ void sum_scaled(const float* x, int n, float divisor, float* out) {
  __shared__ double shared[32];
  double s = 0.0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s += (double)x[i];
  s = block_sum_d(s, shared);
  if (threadIdx.x == 0) out[0] = divisor > 0.0f ? (float)(s / (double)divisor) : 0.0f;
}
