// CUDA mirror of embedding.rs: gather rows by (clamped) index, and the
// backward scatter-add with atomics (rows that share an index add up).

// Embedding::forward_add: out[r] += table[clamp(index[r])].
extern "C" __global__ void embedding_forward_add(float* out, const float* table, const int* index,
                                                 int rows, int dim, int table_rows) {
  GRID_STRIDE(i, (long long)rows * dim) {
    long long r = i / dim;
    int c = (int)(i % dim);
    int ix = index[r];
    ix = ix < 0 ? 0 : (ix >= table_rows ? table_rows - 1 : ix);
    out[i] += table[(long long)ix * dim + c];
  }
}

// Embedding::backward: dtable[clamp(index[r])] += dout[r].
extern "C" __global__ void embedding_backward(float* dtable, const int* index, const float* dout,
                                              int rows, int dim, int table_rows) {
  GRID_STRIDE(i, (long long)rows * dim) {
    long long r = i / dim;
    int c = (int)(i % dim);
    int ix = index[r];
    ix = ix < 0 ? 0 : (ix >= table_rows ? table_rows - 1 : ix);
    atomicAdd(&dtable[(long long)ix * dim + c], dout[i]);
  }
}
