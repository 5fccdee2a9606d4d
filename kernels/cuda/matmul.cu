// Batched GEMM  C[b] = A[b] @ B[b]   (A: M x K, B: K x N, C: M x N), float32 and float64.
//
// Tiling: a block of 256 threads owns a BM x BN tile of C and walks K in slabs of BK.
// Each slab of A (BM x BK) and B (BK x BN) is staged in shared memory; each thread keeps a
// TM x TN micro tile of C in registers (register blocking) and does TM*TN FMAs per k from
// TM + TN shared loads. The shared tiles are double-buffered: while the block computes on
// slab t, every thread already holds slab t+1 in registers and writes it to the other
// buffer, so there is one __syncthreads per slab.
//   large: BM = BN = 128, BK = 8, TM = TN = 8      small: BM = BN = 64, BK = 8, TM = TN = 4
// A thread's micro tile is split in two halves (rows r and r + BM/2, cols c and c + BN/2) so
// that a warp reads consecutive shared words -- no bank conflicts.
// Operands are strided views (any element strides), so transposes need no copy; the tile
// loader picks the thread -> element mapping that makes global reads coalesced.
// Batch: blockIdx.z walks (batch x split) with a grid-stride loop; a batch's base offset
// is b * stride, or a per-batch offset table (broadcast batch shapes). Split-K: split s
// handles K range [s * k_chunk, (s+1) * k_chunk) and writes its partial into C + s * c_split.
// Edges: loads outside M, N, K read 0; stores are guarded, so any M, N, K works.
// No #include: the file compiles as-is under NVRTC.

typedef long long i64;

// Explicit fused multiply-adds: no reliance on C++ overloads of fma() being visible.
__device__ __forceinline__ float madd(float a, float b, float c) { return fmaf(a, b, c); }
__device__ __forceinline__ double madd(double a, double b, double c) { return fma(a, b, c); }

template <typename T, int ROWS, int NT>
__device__ __forceinline__ void load_tile(T (&reg)[ROWS * 8 / NT], const T* __restrict__ p,
                                          i64 s_row, i64 s_k, int row0, int k0, int nrows, int kmax,
                                          bool k_contig, int tid) {
    // Tile = ROWS x 8 (rows along M or N, 8 along K). Thread tid fetches ROWS*8/NT elements.
#pragma unroll
    for (int e = 0; e < ROWS * 8 / NT; ++e) {
        int idx = tid + e * NT;
        int r, k;
        if (k_contig) { r = idx >> 3; k = idx & 7; }      // neighbours along K in memory
        else { r = idx % ROWS; k = idx / ROWS; }          // neighbours along the row axis
        int gr = row0 + r, gk = k0 + k;
        reg[e] = (gr < nrows && gk < kmax) ? p[gr * s_row + gk * s_k] : T(0);
    }
}

template <typename T, int ROWS, int NT>
__device__ __forceinline__ void store_tile(T* s, const T (&reg)[ROWS * 8 / NT], bool k_contig, int tid) {
    // Shared layout is [k][row] so the compute loop reads rows contiguously.
#pragma unroll
    for (int e = 0; e < ROWS * 8 / NT; ++e) {
        int idx = tid + e * NT;
        int r, k;
        if (k_contig) { r = idx >> 3; k = idx & 7; }
        else { r = idx % ROWS; k = idx / ROWS; }
        s[k * ROWS + r] = reg[e];
    }
}

template <typename T, int BM, int BN, int TM, int TN>
__device__ __forceinline__ void gemm_tile(
    const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
    int M, int N, int K, i64 sam, i64 sak, i64 sbk, i64 sbn, i64 ldc,
    i64 batch, i64 a_bs, i64 b_bs, i64 c_bs,
    const i64* __restrict__ a_off, const i64* __restrict__ b_off, int use_off,
    int splits, int k_chunk, i64 c_split) {
    constexpr int BK = 8;
    constexpr int NT = (BM / TM) * (BN / TN);   // 256
    constexpr int TX = BN / TN;                  // threads along N
    constexpr int HM = TM / 2, HN = TN / 2;
    __shared__ __align__(16) T As[2][BK * BM];
    __shared__ __align__(16) T Bs[2][BK * BN];

    const int tid = threadIdx.x;
    const int tx = tid % TX, ty = tid / TX;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const bool a_kc = (sak == 1);   // A row-major in K: read along K
    const bool b_kc = (sbk == 1);   // B column-major: read along K (else along N)

    for (i64 z = blockIdx.z; z < batch * splits; z += gridDim.z) {
        const i64 b = z / splits;
        const int s = (int)(z % splits);
        const T* Ab = A + (use_off ? a_off[b] : b * a_bs);
        const T* Bb = B + (use_off ? b_off[b] : b * b_bs);
        T* Cb = C + b * c_bs + s * c_split;
        const int kbeg = s * k_chunk;
        const int kend = min(K, kbeg + k_chunk);

        T acc[TM][TN];
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

        T ra[BM * BK / NT], rb[BN * BK / NT];
        // B is loaded as the transposed problem: rows along N, strides (sbn, sbk).
        load_tile<T, BM, NT>(ra, Ab, sam, sak, m0, kbeg, M, kend, a_kc, tid);
        load_tile<T, BN, NT>(rb, Bb, sbn, sbk, n0, kbeg, N, kend, b_kc, tid);
        store_tile<T, BM, NT>(As[0], ra, a_kc, tid);
        store_tile<T, BN, NT>(Bs[0], rb, b_kc, tid);
        __syncthreads();

        int buf = 0;
        for (int k0 = kbeg; k0 < kend; k0 += BK) {
            const bool more = k0 + BK < kend;
            if (more) {   // prefetch the next slab into registers
                load_tile<T, BM, NT>(ra, Ab, sam, sak, m0, k0 + BK, M, kend, a_kc, tid);
                load_tile<T, BN, NT>(rb, Bb, sbn, sbk, n0, k0 + BK, N, kend, b_kc, tid);
            }
            const T* as = As[buf];
            const T* bs = Bs[buf];
#pragma unroll
            for (int k = 0; k < BK; ++k) {
                T fa[TM], fb[TN];
#pragma unroll
                for (int i = 0; i < HM; ++i) {
                    fa[i] = as[k * BM + ty * HM + i];
                    fa[HM + i] = as[k * BM + BM / 2 + ty * HM + i];
                }
#pragma unroll
                for (int j = 0; j < HN; ++j) {
                    fb[j] = bs[k * BN + tx * HN + j];
                    fb[HN + j] = bs[k * BN + BN / 2 + tx * HN + j];
                }
#pragma unroll
                for (int i = 0; i < TM; ++i)
#pragma unroll
                    for (int j = 0; j < TN; ++j) acc[i][j] = madd(fa[i], fb[j], acc[i][j]);
            }
            if (more) {   // the other buffer is free: everyone finished reading it last slab
                store_tile<T, BM, NT>(As[buf ^ 1], ra, a_kc, tid);
                store_tile<T, BN, NT>(Bs[buf ^ 1], rb, b_kc, tid);
            }
            __syncthreads();
            buf ^= 1;
        }

#pragma unroll
        for (int i = 0; i < TM; ++i) {
            int m = m0 + (i < HM ? ty * HM + i : BM / 2 + ty * HM + (i - HM));
            if (m >= M) continue;
#pragma unroll
            for (int j = 0; j < TN; ++j) {
                int n = n0 + (j < HN ? tx * HN + j : BN / 2 + tx * HN + (j - HN));
                if (n < N) Cb[m * ldc + n] = acc[i][j];
            }
        }
        __syncthreads();   // shared buffers are reused by the next batch iteration
    }
}

// extern "C" entry points: gemm_<BM>x<BN>_<f32|f64>. MINB = blocks per SM the register
// budget must allow (2 keeps f32 at <= 128 registers without spills; f64 128x128 needs 1).
#define MINIGRAD_GEMM(NAME, T, BM, BN, TM, TN, MINB)                                                  \
    extern "C" __global__ void __launch_bounds__(256, MINB) NAME(                                 \
        const T* A, const T* B, T* C, int M, int N, int K, i64 sam, i64 sak, i64 sbk, i64 sbn,    \
        i64 ldc, i64 batch, i64 a_bs, i64 b_bs, i64 c_bs, const i64* a_off, const i64* b_off,     \
        int use_off, int splits, int k_chunk, i64 c_split) {                                      \
        gemm_tile<T, BM, BN, TM, TN>(A, B, C, M, N, K, sam, sak, sbk, sbn, ldc, batch, a_bs,      \
                                     b_bs, c_bs, a_off, b_off, use_off, splits, k_chunk, c_split); \
    }

MINIGRAD_GEMM(gemm_128x128_f32, float, 128, 128, 8, 8, 2)
MINIGRAD_GEMM(gemm_128x128_f64, double, 128, 128, 8, 8, 1)
MINIGRAD_GEMM(gemm_64x64_f32, float, 64, 64, 4, 4, 2)
MINIGRAD_GEMM(gemm_64x64_f64, double, 64, 64, 4, 4, 2)
