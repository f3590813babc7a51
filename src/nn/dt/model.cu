// CUDA mirror of the Decision Transformer glue in dt_model.rs: interleaving
// the (return, state, action) embeddings into tokens and back, the per-token
// key bias from the batch mask, selecting the state tokens for the last block
// and scattering their gradient back, and the residual adds.

// x[(3i + j)] = src_j[i] for j = return, state, action (rows of e floats).
extern "C" __global__ void dt_interleave(const float* r, const float* s, const float* a, float* x,
                                         int bk, int e) {
  GRID_STRIDE(i, (long long)bk * e) {
    long long row = i / e;
    int c = (int)(i % e);
    float* dst = x + 3 * row * e + c;
    dst[0] = r[i];
    dst[e] = s[i];
    dst[2 * e] = a[i];
  }
}

// The inverse: src_j[i] = x[(3i + j)].
extern "C" __global__ void dt_deinterleave(const float* x, float* r, float* s, float* a, int bk,
                                           int e) {
  GRID_STRIDE(i, (long long)bk * e) {
    long long row = i / e;
    int c = (int)(i % e);
    const float* src = x + 3 * row * e + c;
    r[i] = src[0];
    s[i] = src[e];
    a[i] = src[2 * e];
  }
}

// Token timestep (clamped to the table) and key bias, three tokens per step.
extern "C" __global__ void dt_token_meta(const int* timesteps, const float* mask, int* tok_ts,
                                         float* bias, int bk, int max_timestep) {
  GRID_STRIDE(i, bk) {
    int t = timesteps[i];
    t = t < 0 ? 0 : (t >= max_timestep ? max_timestep - 1 : t);
    float kb = (mask[i] - 1.0f) * 1e9f;
    for (int j = 0; j < 3; j++) {
      tok_ts[3 * i + j] = t;
      bias[3 * i + j] = kb;
    }
  }
}

// dst[i] = src[3i + j] (rows of e floats): token j of every timestep.
extern "C" __global__ void gather_token_rows(const float* src, float* dst, int bk, int e, int j) {
  GRID_STRIDE(i, (long long)bk * e) {
    long long row = i / e;
    int c = (int)(i % e);
    dst[i] = src[(3 * row + j) * e + c];
  }
}

// dst[3i + j] = src[i] (the other rows of dst are left as they are).
extern "C" __global__ void scatter_token_rows(const float* src, float* dst, int bk, int e, int j) {
  GRID_STRIDE(i, (long long)bk * e) {
    long long row = i / e;
    int c = (int)(i % e);
    dst[(3 * row + j) * e + c] = src[i];
  }
}

// out = a + b (the residual stream).
extern "C" __global__ void add_into(const float* a, const float* b, float* out, int n) {
  GRID_STRIDE(i, n) { out[i] = a[i] + b[i]; }
}
