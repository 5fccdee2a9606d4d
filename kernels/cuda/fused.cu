// Fused element-wise kernels, float32 and float64.
//
//   bias_relu_fwd : y = max(x + b[c], 0) for x (N, C, *S) flattened, c = (i / S) % C.
//                   One thread per element, grid-stride loop: one read, one write, instead
//                   of three passes (add, compare, select).
//   relu_bwd      : gx = gy where y > 0 else 0 (the bias gradient is gx summed by the host).
//   softmax_xent_fwd / _bwd : logits x (B, C), int64 targets t (B,).
//                   One block (256 threads, a power of two) per row, grid-stride over rows.
//                   The row is read with a block-stride loop (coalesced); max and sum(exp)
//                   are reduced through a shared-memory tree, so exp never overflows:
//                     lse[r]  = m + log(sum exp(x - m)),   loss[r] = lse[r] - x[r, t[r]]
//                     gx[r,k] = (exp(x[r,k] - lse[r]) - [k == t[r]]) * g[r]
//                   A target outside [0, C) marks the row ignored: loss 0, gradient 0.
// No #include: the file compiles as-is under NVRTC.

typedef long long i64;

__device__ __forceinline__ float ex(float v) { return expf(v); }
__device__ __forceinline__ double ex(double v) { return exp(v); }
__device__ __forceinline__ float lg(float v) { return logf(v); }
__device__ __forceinline__ double lg(double v) { return log(v); }

template <typename T> __device__ __forceinline__ T lowest();
template <> __device__ __forceinline__ float lowest<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double lowest<double>() { return __longlong_as_double(0xfff0000000000000LL); }

template <typename T>
__device__ __forceinline__ void bias_relu_fwd_impl(const T* __restrict__ x, const T* __restrict__ b, T* __restrict__ y,
                                                   i64 total, int C, i64 S) {
    for (i64 e = blockIdx.x * (i64)blockDim.x + threadIdx.x; e < total; e += (i64)gridDim.x * blockDim.x) {
        T v = x[e] + b[(e / S) % C];
        y[e] = v > T(0) ? v : T(0);
    }
}

template <typename T>
__device__ __forceinline__ void relu_bwd_impl(const T* __restrict__ gy, const T* __restrict__ y, T* __restrict__ gx,
                                              i64 total) {
    for (i64 e = blockIdx.x * (i64)blockDim.x + threadIdx.x; e < total; e += (i64)gridDim.x * blockDim.x)
        gx[e] = y[e] > T(0) ? gy[e] : T(0);
}

// Tree reduction over blockDim.x (a power of two) values in shared memory; returns the result
// to every thread. IS_MAX picks max, otherwise sum.
template <typename T, bool IS_MAX>
__device__ __forceinline__ T block_reduce(T v, T* sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            T o = sh[threadIdx.x + s];
            sh[threadIdx.x] = IS_MAX ? (o > sh[threadIdx.x] ? o : sh[threadIdx.x]) : sh[threadIdx.x] + o;
        }
        __syncthreads();
    }
    T r = sh[0];
    __syncthreads();   // sh is reused by the next reduction
    return r;
}

template <typename T>
__device__ __forceinline__ T row_lse(const T* __restrict__ row, int C, T* sh) {
    T m = lowest<T>();
    for (int k = threadIdx.x; k < C; k += blockDim.x) m = row[k] > m ? row[k] : m;
    m = block_reduce<T, true>(m, sh);
    T s = T(0);
    for (int k = threadIdx.x; k < C; k += blockDim.x) s += ex(row[k] - m);
    s = block_reduce<T, false>(s, sh);
    return m + lg(s);
}

template <typename T>
__device__ __forceinline__ void softmax_xent_fwd_impl(const T* __restrict__ x, const i64* __restrict__ t,
                                                      T* __restrict__ loss, T* __restrict__ lse, int B, int C,
                                                      T* sh) {
    for (int r = blockIdx.x; r < B; r += gridDim.x) {
        const T* row = x + (i64)r * C;
        T l = row_lse(row, C, sh);
        if (threadIdx.x == 0) {
            i64 k = t[r];
            lse[r] = l;
            loss[r] = (k >= 0 && k < C) ? l - row[k] : T(0);
        }
    }
}

template <typename T>
__device__ __forceinline__ void softmax_xent_bwd_impl(const T* __restrict__ x, const i64* __restrict__ t,
                                                      const T* __restrict__ lse, const T* __restrict__ g,
                                                      T* __restrict__ gx, int B, int C) {
    for (int r = blockIdx.x; r < B; r += gridDim.x) {
        const i64 off = (i64)r * C;
        const i64 k = t[r];
        const bool ignored = k < 0 || k >= C;
        const T gr = g[r], l = lse[r];
        for (int c = threadIdx.x; c < C; c += blockDim.x)
            gx[off + c] = ignored ? T(0) : (ex(x[off + c] - l) - (c == k ? T(1) : T(0))) * gr;
    }
}

#define MINIGRAD_FUSED(SUFFIX, T)                                                                     \
    extern "C" __global__ void bias_relu_fwd_##SUFFIX(const T* x, const T* b, T* y, i64 total, int C, \
                                                      i64 S) {                                        \
        bias_relu_fwd_impl<T>(x, b, y, total, C, S);                                                  \
    }                                                                                                 \
    extern "C" __global__ void relu_bwd_##SUFFIX(const T* gy, const T* y, T* gx, i64 total) {         \
        relu_bwd_impl<T>(gy, y, gx, total);                                                           \
    }                                                                                                 \
    extern "C" __global__ void __launch_bounds__(256) softmax_xent_fwd_##SUFFIX(                      \
        const T* x, const i64* t, T* loss, T* lse, int B, int C) {                                    \
        __shared__ T sh[256];                                                                         \
        softmax_xent_fwd_impl<T>(x, t, loss, lse, B, C, sh);                                          \
    }                                                                                                 \
    extern "C" __global__ void __launch_bounds__(256) softmax_xent_bwd_##SUFFIX(                      \
        const T* x, const i64* t, const T* lse, const T* g, T* gx, int B, int C) {                    \
        softmax_xent_bwd_impl<T>(x, t, lse, g, gx, B, C);                                             \
    }

MINIGRAD_FUSED(f32, float)
MINIGRAD_FUSED(f64, double)
