// Scaled dot-product attention, float32 and float64: the online-softmax scheme of the Numba kernels
// (kernels/cpu/attention.py), one thread per query row (forward, dq) or per key row (dk, dv).
//
// UNVERIFIED ON A GPU: these kernels have only run under the CPU emulator of tests/test_cuda.py (and
// compile with nvcc where CI has it); they get checked on a device with the GPU issue.
//
//   attn_fwd   : thread (n, i) walks the keys j (j <= i when causal) once, keeping the running max m,
//                the running sum l of exp(s - m) and the running output acc (registers, Ev <= 256):
//                a larger max rescales both by exp(m_old - m_new). Writes out = acc / l and
//                lse = m + log(l) (+inf, with out = 0, for a row with nothing to attend to).
//   attn_bwd_q : thread (n, i) recomputes p_ij = exp(s_ij - lse_i), dp_ij = gout_i . v_j and
//                gq_i = scale * sum_j p_ij (dp_ij - delta_i) k_j, delta_i = gout_i . out_i (stored).
//   attn_bwd_kv: thread (n, j) walks the queries: gv_j = sum_i p_ij gout_i,
//                gk_j = scale * sum_i p_ij (dp_ij - delta_i) q_i.
// No L x S matrix anywhere, no atomics. Threads read K/V rows straight from global memory: staging
// key blocks in shared memory (FlashAttention's tiling) is the next step once a GPU can measure it.
// Masks: additive (M, Lm, Sm), Lm in {1, L}, Sm in {1, S}, batch row n uses mask[mask_index[n]].
// scale arrives as a one-element array. No #include: the file compiles as-is under NVRTC.

typedef long long i64;

#define ATTN_MAX_D 256

__device__ __forceinline__ float ex(float v) { return expf(v); }
__device__ __forceinline__ double ex(double v) { return exp(v); }
__device__ __forceinline__ float lg(float v) { return logf(v); }
__device__ __forceinline__ double lg(double v) { return log(v); }

template <typename T> __device__ __forceinline__ T neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double neg_inf<double>() { return __longlong_as_double(0xfff0000000000000LL); }

// Score of query row i against key row j of batch row n (-inf when masked out).
template <typename T>
__device__ __forceinline__ T score(const T* q, const T* k, const T* mask, const i64* mask_index, T scale, int n,
                                   int i, int j, int L, int S, int E, int Lm, int Sm, int has_mask, int causal) {
    if (causal && j > i) return neg_inf<T>();
    const T* qi = q + ((i64)n * L + i) * E;
    const T* kj = k + ((i64)n * S + j) * E;
    T s = T(0);
    for (int d = 0; d < E; ++d) s += qi[d] * kj[d];
    s *= scale;
    if (has_mask) s += mask[(mask_index[n] * Lm + (Lm > 1 ? i : 0)) * (i64)Sm + (Sm > 1 ? j : 0)];
    return s;
}

template <typename T>
__device__ __forceinline__ void fwd_impl(const T* q, const T* k, const T* v, const T* mask, const i64* mask_index,
                                         T* out, T* lse, const T* scale_p, int N, int L, int S, int E, int Ev,
                                         int Lm, int Sm, int has_mask, int causal) {
    const T scale = scale_p[0];
    T acc[ATTN_MAX_D];
    for (i64 row = blockIdx.x * (i64)blockDim.x + threadIdx.x; row < (i64)N * L; row += (i64)gridDim.x * blockDim.x) {
        int n = (int)(row / L), i = (int)(row % L);
        T m = neg_inf<T>(), l = T(0);
        for (int e = 0; e < Ev; ++e) acc[e] = T(0);
        int jend = causal ? min(S, i + 1) : S;
        for (int j = 0; j < jend; ++j) {
            T s = score(q, k, mask, mask_index, scale, n, i, j, L, S, E, Lm, Sm, has_mask, causal);
            if (s == neg_inf<T>()) continue;
            T m_new = s > m ? s : m;
            T alpha = ex(m - m_new), p = ex(s - m_new);
            l = l * alpha + p;
            const T* vj = v + ((i64)n * S + j) * Ev;
            for (int e = 0; e < Ev; ++e) acc[e] = acc[e] * alpha + p * vj[e];
            m = m_new;
        }
        T* o = out + row * Ev;
        if (l == T(0)) {
            lse[row] = -neg_inf<T>();
            for (int e = 0; e < Ev; ++e) o[e] = T(0);
        } else {
            lse[row] = m + lg(l);
            for (int e = 0; e < Ev; ++e) o[e] = acc[e] / l;
        }
    }
}

template <typename T>
__device__ __forceinline__ void bwd_q_impl(const T* gout, const T* q, const T* k, const T* v, const T* out,
                                           const T* lse, const T* mask, const i64* mask_index, const T* scale_p,
                                           T* gq, T* delta, int N, int L, int S, int E, int Ev, int Lm, int Sm,
                                           int has_mask, int causal) {
    const T scale = scale_p[0];
    T acc[ATTN_MAX_D];
    for (i64 row = blockIdx.x * (i64)blockDim.x + threadIdx.x; row < (i64)N * L; row += (i64)gridDim.x * blockDim.x) {
        int n = (int)(row / L), i = (int)(row % L);
        const T* go = gout + row * Ev;
        T dl = T(0);
        for (int e = 0; e < Ev; ++e) dl += go[e] * out[row * Ev + e];
        delta[row] = dl;
        for (int d = 0; d < E; ++d) acc[d] = T(0);
        int jend = causal ? min(S, i + 1) : S;
        for (int j = 0; j < jend; ++j) {
            T p = ex(score(q, k, mask, mask_index, scale, n, i, j, L, S, E, Lm, Sm, has_mask, causal) - lse[row]);
            if (p == T(0)) continue;
            const T* vj = v + ((i64)n * S + j) * Ev;
            T dp = T(0);
            for (int e = 0; e < Ev; ++e) dp += go[e] * vj[e];
            T ds = p * (dp - dl) * scale;
            const T* kj = k + ((i64)n * S + j) * E;
            for (int d = 0; d < E; ++d) acc[d] += ds * kj[d];
        }
        for (int d = 0; d < E; ++d) gq[row * E + d] = acc[d];
    }
}

template <typename T>
__device__ __forceinline__ void bwd_kv_impl(const T* gout, const T* q, const T* k, const T* v, const T* lse,
                                            const T* delta, const T* mask, const i64* mask_index, const T* scale_p,
                                            T* gk, T* gv, int N, int L, int S, int E, int Ev, int Lm, int Sm,
                                            int has_mask, int causal) {
    const T scale = scale_p[0];
    T acc_k[ATTN_MAX_D];
    T acc_v[ATTN_MAX_D];
    for (i64 col = blockIdx.x * (i64)blockDim.x + threadIdx.x; col < (i64)N * S; col += (i64)gridDim.x * blockDim.x) {
        int n = (int)(col / S), j = (int)(col % S);
        for (int d = 0; d < E; ++d) acc_k[d] = T(0);
        for (int e = 0; e < Ev; ++e) acc_v[e] = T(0);
        const T* vj = v + col * Ev;
        for (int i = causal ? j : 0; i < L; ++i) {
            i64 row = (i64)n * L + i;
            T p = ex(score(q, k, mask, mask_index, scale, n, i, j, L, S, E, Lm, Sm, has_mask, causal) - lse[row]);
            if (p == T(0)) continue;
            const T* go = gout + row * Ev;
            T dp = T(0);
            for (int e = 0; e < Ev; ++e) {
                dp += go[e] * vj[e];
                acc_v[e] += p * go[e];
            }
            T ds = p * (dp - delta[row]) * scale;
            const T* qi = q + row * E;
            for (int d = 0; d < E; ++d) acc_k[d] += ds * qi[d];
        }
        for (int d = 0; d < E; ++d) gk[col * E + d] = acc_k[d];
        for (int e = 0; e < Ev; ++e) gv[col * Ev + e] = acc_v[e];
    }
}

#define ATTN_KERNELS(T, SUF)                                                                                       \
extern "C" __global__ void attn_fwd_##SUF(const T* q, const T* k, const T* v, const T* mask,                     \
                                          const i64* mask_index, T* out, T* lse, const T* scale, int N, int L,   \
                                          int S, int E, int Ev, int Lm, int Sm, int has_mask, int causal) {      \
    fwd_impl<T>(q, k, v, mask, mask_index, out, lse, scale, N, L, S, E, Ev, Lm, Sm, has_mask, causal);          \
}                                                                                                                  \
extern "C" __global__ void attn_bwd_q_##SUF(const T* gout, const T* q, const T* k, const T* v, const T* out,     \
                                            const T* lse, const T* mask, const i64* mask_index, const T* scale,  \
                                            T* gq, T* delta, int N, int L, int S, int E, int Ev, int Lm, int Sm, \
                                            int has_mask, int causal) {                                          \
    bwd_q_impl<T>(gout, q, k, v, out, lse, mask, mask_index, scale, gq, delta, N, L, S, E, Ev, Lm, Sm,          \
                  has_mask, causal);                                                                             \
}                                                                                                                  \
extern "C" __global__ void attn_bwd_kv_##SUF(const T* gout, const T* q, const T* k, const T* v, const T* lse,    \
                                             const T* delta, const T* mask, const i64* mask_index,              \
                                             const T* scale, T* gk, T* gv, int N, int L, int S, int E, int Ev,  \
                                             int Lm, int Sm, int has_mask, int causal) {                         \
    bwd_kv_impl<T>(gout, q, k, v, lse, delta, mask, mask_index, scale, gk, gv, N, L, S, E, Ev, Lm, Sm,         \
                   has_mask, causal);                                                                            \
}

ATTN_KERNELS(float, f32)
ATTN_KERNELS(double, f64)
