// 2-D pooling, float32 and float64. x (N, C, H, W) is seen as N*C independent planes.
//
// Scheme: one thread per output element (forward) or per input element (avg backward),
// grid-stride loops with 64-bit indices; consecutive threads take consecutive columns, so
// global accesses are coalesced along W. No shared memory: windows are tiny and overlap
// little, so the L1/L2 caches already serve the re-reads.
//   max forward : y = max over the window, idx = flat h*W + w of the first maximum (NaN wins,
//                 padding counts as -inf) -- the same tie-break as numpy's argmax.
//   max backward: scatter gy into gx at idx with atomicAdd (windows may share a maximum;
//                 the API gives no window geometry, so a gather is not possible).
//   avg forward : window sum / divisor (KH*KW, or the count of non-padding taps).
//   avg backward: a gather -- each input pixel sums gy / divisor over the windows covering
//                 it: deterministic, no atomics.
// No #include: the file compiles as-is under NVRTC.

typedef long long i64;

template <typename T> __device__ __forceinline__ T neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double neg_inf<double>() { return __longlong_as_double(0xfff0000000000000LL); }

template <typename T>
__device__ __forceinline__ void maxpool_fwd_impl(const T* __restrict__ x, T* __restrict__ y, i64* __restrict__ idx,
                                                 i64 NC, int H, int W, int OH, int OW, int KH, int KW,
                                                 int sh, int sw, int ph, int pw, int dh, int dw) {
    const i64 total = NC * OH * OW;
    for (i64 e = blockIdx.x * (i64)blockDim.x + threadIdx.x; e < total; e += (i64)gridDim.x * blockDim.x) {
        int ow = (int)(e % OW), oh = (int)((e / OW) % OH);
        const T* plane = x + (e / ((i64)OW * OH)) * H * W;
        T best = neg_inf<T>();
        i64 arg = 0;
        bool first = true;
        for (int i = 0; i < KH; ++i) {
            int h = oh * sh - ph + i * dh;
            for (int j = 0; j < KW; ++j) {
                int w = ow * sw - pw + j * dw;
                T v = (h >= 0 && h < H && w >= 0 && w < W) ? plane[(i64)h * W + w] : neg_inf<T>();
                bool v_nan = v != v, best_nan = best != best;
                if (first || (!best_nan && (v > best || v_nan))) {
                    best = v;
                    arg = (i64)h * W + w;
                    first = false;
                }
            }
        }
        y[e] = best;
        idx[e] = arg;
    }
}

template <typename T>
__device__ __forceinline__ void maxpool_bwd_impl(const T* __restrict__ gy, const i64* __restrict__ idx, T* gx,
                                                 i64 NC, int HW, int P) {
    const i64 total = NC * P;
    for (i64 e = blockIdx.x * (i64)blockDim.x + threadIdx.x; e < total; e += (i64)gridDim.x * blockDim.x) {
        i64 k = idx[e];
        if (k >= 0 && k < HW) atomicAdd(gx + (e / P) * HW + k, gy[e]);
    }
}

// Divisor of output (oh, ow): KH*KW, or (count_include_pad == 0) the taps inside the image.
__device__ __forceinline__ int avg_divisor(int oh, int ow, int H, int W, int KH, int KW, int sh, int sw,
                                           int ph, int pw, int include_pad) {
    if (include_pad) return KH * KW;
    int h0 = oh * sh - ph, w0 = ow * sw - pw;
    int rows = min(h0 + KH, H) - max(h0, 0), cols = min(w0 + KW, W) - max(w0, 0);
    return max(rows, 0) * max(cols, 0);
}

template <typename T>
__device__ __forceinline__ void avgpool_fwd_impl(const T* __restrict__ x, T* __restrict__ y, i64 NC, int H, int W,
                                                 int OH, int OW, int KH, int KW, int sh, int sw, int ph, int pw,
                                                 int include_pad) {
    const i64 total = NC * OH * OW;
    for (i64 e = blockIdx.x * (i64)blockDim.x + threadIdx.x; e < total; e += (i64)gridDim.x * blockDim.x) {
        int ow = (int)(e % OW), oh = (int)((e / OW) % OH);
        const T* plane = x + (e / ((i64)OW * OH)) * H * W;
        T s = T(0);
        for (int i = 0; i < KH; ++i) {
            int h = oh * sh - ph + i;
            if (h < 0 || h >= H) continue;
            for (int j = 0; j < KW; ++j) {
                int w = ow * sw - pw + j;
                if (w >= 0 && w < W) s += plane[(i64)h * W + w];
            }
        }
        y[e] = s / T(avg_divisor(oh, ow, H, W, KH, KW, sh, sw, ph, pw, include_pad));
    }
}

template <typename T>
__device__ __forceinline__ void avgpool_bwd_impl(const T* __restrict__ gy, T* __restrict__ gx, i64 NC, int H, int W,
                                                 int OH, int OW, int KH, int KW, int sh, int sw, int ph, int pw,
                                                 int include_pad) {
    const i64 total = NC * H * W;
    for (i64 e = blockIdx.x * (i64)blockDim.x + threadIdx.x; e < total; e += (i64)gridDim.x * blockDim.x) {
        int w = (int)(e % W), h = (int)((e / W) % H);
        const T* gplane = gy + (e / ((i64)W * H)) * OH * OW;
        T s = T(0);
        for (int i = 0; i < KH; ++i) {
            int th = h + ph - i;
            if (th < 0 || th % sh) continue;
            int oh = th / sh;
            if (oh >= OH) continue;
            for (int j = 0; j < KW; ++j) {
                int tw = w + pw - j;
                if (tw < 0 || tw % sw) continue;
                int ow = tw / sw;
                if (ow >= OW) continue;
                s += gplane[(i64)oh * OW + ow] / T(avg_divisor(oh, ow, H, W, KH, KW, sh, sw, ph, pw, include_pad));
            }
        }
        gx[e] = s;
    }
}

#define MINIGRAD_POOL(SUFFIX, T)                                                                      \
    extern "C" __global__ void maxpool_fwd_##SUFFIX(const T* x, T* y, i64* idx, i64 NC, int H, int W, \
                                                    int OH, int OW, int KH, int KW, int sh, int sw,   \
                                                    int ph, int pw, int dh, int dw) {                 \
        maxpool_fwd_impl<T>(x, y, idx, NC, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw);             \
    }                                                                                                 \
    extern "C" __global__ void maxpool_bwd_##SUFFIX(const T* gy, const i64* idx, T* gx, i64 NC,       \
                                                    int HW, int P) {                                  \
        maxpool_bwd_impl<T>(gy, idx, gx, NC, HW, P);                                                  \
    }                                                                                                 \
    extern "C" __global__ void avgpool_fwd_##SUFFIX(const T* x, T* y, i64 NC, int H, int W, int OH,   \
                                                    int OW, int KH, int KW, int sh, int sw, int ph,   \
                                                    int pw, int include_pad) {                        \
        avgpool_fwd_impl<T>(x, y, NC, H, W, OH, OW, KH, KW, sh, sw, ph, pw, include_pad);             \
    }                                                                                                 \
    extern "C" __global__ void avgpool_bwd_##SUFFIX(const T* gy, T* gx, i64 NC, int H, int W, int OH, \
                                                    int OW, int KH, int KW, int sh, int sw, int ph,   \
                                                    int pw, int include_pad) {                        \
        avgpool_bwd_impl<T>(gy, gx, NC, H, W, OH, OW, KH, KW, sh, sw, ph, pw, include_pad);           \
    }

MINIGRAD_POOL(f32, float)
MINIGRAD_POOL(f64, double)
