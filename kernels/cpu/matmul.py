"""Blocked, packed GEMM in "NT" form:  C[t] += A[a_idx[t]] @ Bt[b_idx[t]].T  (float32 / float64).

Blocking scheme (dot-product form, because numba runs LLVM's *loop* vectoriser but not SLP):
  * Work is cut into (batch t, MC-row block, NC-column block) tasks, spread with prange.
  * Per k block of at most KC_MAX (split evenly, rounded up to 16 = one zmm of float32), a
    task copies its MC x kc slice of A and NC x kc slice of Bt into private contiguous
    buffers, zero-padded in k and in the ragged rows: the micro-kernel then never branches.
  * Micro-kernel: a 4 x 4 tile of C as 16 dot products over k. LLVM keeps 16 vector
    accumulators in zmm registers fed by 8 vector loads per step (16 FMAs : 8 loads) and
    reduces each horizontally once per tile per k block. The 4 rows of A stay in L1 while
    the tile sweeps the NC rows of packed Bt (which sit in L2).
  * Packed rows get 16 spare elements so rows never sit 4 KiB apart (L1 set conflicts).
  * Indices all come from range() loops starting at 0, so LLVM can drop numba's
    negative-index wraparound and sees unit-stride loads.
"""
import numpy as np
from numba import njit, prange

MR = 4        # rows of A per micro tile
MC = 64       # rows of A packed at a time
NR = 4        # rows of Bt (columns of C) per micro tile
KC_MAX = 384  # longest k block
PAD = 16      # spare elements per packed row


@njit(fastmath=True, inline="always")
def _micro_4x4(kcp, Ap, ia, Bp, jb, C, ci, cj, m_end, n_end, zero):
    """C[ci:ci+4, cj:cj+4] += Ap[ia:ia+4, :kcp] @ Bp[jb:jb+4, :kcp].T, stores clipped to (m_end, n_end)."""
    a0 = Ap[ia]
    a1 = Ap[ia + 1]
    a2 = Ap[ia + 2]
    a3 = Ap[ia + 3]
    b0 = Bp[jb]
    b1 = Bp[jb + 1]
    b2 = Bp[jb + 2]
    b3 = Bp[jb + 3]
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = zero
    for k in range(kcp):
        x0 = a0[k]
        x1 = a1[k]
        x2 = a2[k]
        x3 = a3[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        s00 += x0 * y0
        s01 += x0 * y1
        s02 += x0 * y2
        s03 += x0 * y3
        s10 += x1 * y0
        s11 += x1 * y1
        s12 += x1 * y2
        s13 += x1 * y3
        s20 += x2 * y0
        s21 += x2 * y1
        s22 += x2 * y2
        s23 += x2 * y3
        s30 += x3 * y0
        s31 += x3 * y1
        s32 += x3 * y2
        s33 += x3 * y3
    if ci + 4 <= m_end and cj + 4 <= n_end:
        C[ci, cj] += s00
        C[ci, cj + 1] += s01
        C[ci, cj + 2] += s02
        C[ci, cj + 3] += s03
        C[ci + 1, cj] += s10
        C[ci + 1, cj + 1] += s11
        C[ci + 1, cj + 2] += s12
        C[ci + 1, cj + 3] += s13
        C[ci + 2, cj] += s20
        C[ci + 2, cj + 1] += s21
        C[ci + 2, cj + 2] += s22
        C[ci + 2, cj + 3] += s23
        C[ci + 3, cj] += s30
        C[ci + 3, cj + 1] += s31
        C[ci + 3, cj + 2] += s32
        C[ci + 3, cj + 3] += s33
    else:  # ragged edge tile: store only what lies inside C
        t = ((s00, s01, s02, s03), (s10, s11, s12, s13), (s20, s21, s22, s23), (s30, s31, s32, s33))
        for i in range(4):
            if ci + i < m_end:
                row = t[i]
                for j in range(4):
                    if cj + j < n_end:
                        C[ci + i, cj + j] += row[j]


@njit(cache=True, inline="always")
def _pack(dst, src, r0, nrows, k0, kk, kcp, zero):
    """dst[r, :kcp] = src[r0 + r, k0:k0 + kk] zero-padded to kcp, for r < nrows (row by row: unit stride)."""
    for r in range(nrows):
        d = dst[r]
        s = src[r0 + r, k0:]
        for k in range(kk):
            d[k] = s[k]
        for k in range(kk, kcp):
            d[k] = zero


@njit(cache=True, parallel=True, fastmath=True)
def gemm_nt(A, Bt, C, a_idx, b_idx, MG, NC, KS):
    """A: (na, M, K), Bt: (nb, N, K), C: (KS, nt, M, N), all C-contiguous; a_idx, b_idx: (nt,) int64.

    C[s, t] += A[a_idx[t]][:, ks] @ Bt[b_idx[t]][:, ks].T over the s-th of KS slices ks of K
    (sum C over axis 0 afterwards when KS > 1). A task owns MG rows x NC columns of one C[s, t]
    (MG, NC multiples of 4): per k block it packs its Bt panel once, then packs A in MC-row
    blocks and sweeps the micro-kernel over them. C must be initialised (zeros).
    """
    _, nt, M, N = C.shape
    K = A.shape[2]
    zero = C.dtype.type(0)
    kslice = (K + KS - 1) // KS
    nkb = (kslice + KC_MAX - 1) // KC_MAX
    kc = ((kslice + nkb - 1) // nkb + 15) // 16 * 16   # even split of the slice, rounded to a zmm
    nmg = (M + MG - 1) // MG
    nnb = (N + NC - 1) // NC
    for task in prange(KS * nt * nmg * nnb):
        s = task // (nt * nmg * nnb)
        task2 = task % (nt * nmg * nnb)
        t = task2 // (nmg * nnb)
        r = task2 % (nmg * nnb)
        g0 = (r // nnb) * MG
        g1 = min(M, g0 + MG)
        j0 = (r % nnb) * NC
        nj = min(N, j0 + NC) - j0
        ncols = (nj + NR - 1) // NR * NR
        kbeg = s * kslice
        kend = min(K, kbeg + kslice)
        # rows past an edge hold garbage: the micro-kernel never stores their results
        Ap = np.empty((MC, kc + PAD), dtype=A.dtype)
        Bp = np.empty((NC, kc + PAD), dtype=A.dtype)
        At = A[a_idx[t]]
        Ct = C[s, t]
        for k0 in range(kbeg, kend, kc):
            kk = min(kend, k0 + kc) - k0
            kcp = (kk + 15) // 16 * 16
            _pack(Bp, Bt[b_idx[t]], j0, nj, k0, kk, kcp, zero)
            for i0 in range(g0, g1, MC):
                mi = min(g1, i0 + MC) - i0
                _pack(Ap, At, i0, mi, k0, kk, kcp, zero)
                for ia in range(0, (mi + MR - 1) // MR * MR, MR):
                    for jb in range(0, ncols, NR):
                        _micro_4x4(kcp, Ap, ia, Bp, jb, Ct, i0 + ia, j0 + jb, i0 + mi, j0 + nj, zero)
    return C


@njit(cache=True, parallel=True)
def transpose_last2(X):
    """X: (nb, R, S) any strides -> (nb, S, R) C-contiguous copy, in 32 x 32 tiles."""
    nb, R, S = X.shape
    Y = np.empty((nb, S, R), dtype=X.dtype)
    T = 32
    nr = (R + T - 1) // T
    ns = (S + T - 1) // T
    for task in prange(nb * nr * ns):
        b = task // (nr * ns)
        q = task % (nr * ns)
        r0 = (q // ns) * T
        s0 = (q % ns) * T
        r1 = min(R, r0 + T)
        s1 = min(S, s0 + T)
        for s in range(s0, s1):
            for r in range(r0, r1):
                Y[b, s, r] = X[b, r, s]
    return Y
