// Convolution helpers: im2col and col2im, float32 and float64. The GEMMs live in matmul.cu.
//
// Scheme (explicit GEMM): one thread per element, grid-stride loops, 64-bit indices.
//   im2col: x (N, C, H, W) -> cols (C*KH*KW, N*OH*OW); row (c, i, j), column (n, oh, ow).
//           Consecutive threads take consecutive ow, so the cols writes are coalesced.
//           With this layout group g owns rows [g*Cg*KH*KW, (g+1)*Cg*KH*KW), so
//             forward       Y_g (Og, N*P)     = W_g (Og, CgKK)   @ cols_g (CgKK, N*P)
//             grad weight   gW_g (Og, CgKK)   = gY_g (Og, N*P)   @ cols_g^T
//             grad input    dcols_g (CgKK, N*P) = W_g^T          @ gY_g,  then col2im
//           are one batched GEMM over the groups each (P = OH*OW).
//   col2im: the adjoint, written as a gather: one thread per input pixel sums every
//           (tap, output pixel) that read it -- deterministic, no atomics.
// No #include: the file compiles as-is under NVRTC.

typedef long long i64;

struct ConvGeom {
    int N, C, H, W, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw;
};

template <typename T>
__device__ __forceinline__ void im2col_impl(const T* __restrict__ x, T* __restrict__ cols, ConvGeom g) {
    const i64 P = (i64)g.OH * g.OW;
    const i64 NP = g.N * P;
    const i64 total = (i64)g.C * g.KH * g.KW * NP;
    for (i64 e = blockIdx.x * (i64)blockDim.x + threadIdx.x; e < total; e += (i64)gridDim.x * blockDim.x) {
        i64 col = e % NP, row = e / NP;
        int ow = (int)(col % g.OW), oh = (int)((col / g.OW) % g.OH), n = (int)(col / P);
        int j = (int)(row % g.KW), i = (int)((row / g.KW) % g.KH), c = (int)(row / ((i64)g.KW * g.KH));
        int h = oh * g.sh - g.ph + i * g.dh;
        int w = ow * g.sw - g.pw + j * g.dw;
        T v = T(0);
        if (h >= 0 && h < g.H && w >= 0 && w < g.W) v = x[(((i64)n * g.C + c) * g.H + h) * g.W + w];
        cols[e] = v;
    }
}

template <typename T>
__device__ __forceinline__ void col2im_impl(const T* __restrict__ cols, T* __restrict__ x, ConvGeom g) {
    const i64 P = (i64)g.OH * g.OW;
    const i64 NP = g.N * P;
    const i64 total = (i64)g.N * g.C * g.H * g.W;
    for (i64 e = blockIdx.x * (i64)blockDim.x + threadIdx.x; e < total; e += (i64)gridDim.x * blockDim.x) {
        int w = (int)(e % g.W), h = (int)((e / g.W) % g.H);
        int c = (int)((e / ((i64)g.W * g.H)) % g.C), n = (int)(e / ((i64)g.W * g.H * g.C));
        T acc = T(0);
        for (int i = 0; i < g.KH; ++i) {
            int th = h + g.ph - i * g.dh;           // = oh * sh when tap i of output row oh hits h
            if (th < 0 || th % g.sh) continue;
            int oh = th / g.sh;
            if (oh >= g.OH) continue;
            for (int j = 0; j < g.KW; ++j) {
                int tw = w + g.pw - j * g.dw;
                if (tw < 0 || tw % g.sw) continue;
                int ow = tw / g.sw;
                if (ow >= g.OW) continue;
                i64 row = ((i64)c * g.KH + i) * g.KW + j;
                acc += cols[row * NP + n * P + (i64)oh * g.OW + ow];
            }
        }
        x[e] = acc;
    }
}

#define MINIGRAD_CONV(SUFFIX, T)                                                                   \
    extern "C" __global__ void im2col_##SUFFIX(const T* x, T* cols, int N, int C, int H, int W,    \
                                               int KH, int KW, int OH, int OW, int sh, int sw,     \
                                               int ph, int pw, int dh, int dw) {                   \
        im2col_impl<T>(x, cols, ConvGeom{N, C, H, W, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw});     \
    }                                                                                              \
    extern "C" __global__ void col2im_##SUFFIX(const T* cols, T* x, int N, int C, int H, int W,    \
                                               int KH, int KW, int OH, int OW, int sh, int sw,     \
                                               int ph, int pw, int dh, int dw) {                   \
        col2im_impl<T>(cols, x, ConvGeom{N, C, H, W, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw});     \
    }

MINIGRAD_CONV(f32, float)
MINIGRAD_CONV(f64, double)
