"""Blocked, packed GEMM in "NT" form:  C[t] += A[a_idx[t]] @ Bt[b_idx[t]].T  (float32 / float64).

Blocking scheme (GotoBLAS order, outer-product micro-kernel):
  * Work is cut into (k slice, batch t, MG-row block, NC-column block) tasks, spread with prange.
  * Per k block of at most KC_MAX, a task packs its NC columns of B into panels of NR columns
    stored k-major (bp[k*NR + j]), then packs A MC rows at a time into panels of MR rows
    (ap[k*MR + i]); ragged panels are zero-filled, so the micro-kernel never branches inside.
  * Micro-kernel (micro.py): an MR x NR tile of C in registers; each k is one outer product,
    NR loads of b and MR broadcasts of a. A B panel (KC_MAX x NR) stays in L1 while the tile
    walks down the packed A block (in L2). No horizontal sums, so short k costs nothing extra.
  * LLVM's SLP vectoriser turns each row of the tile into one SIMD register. Numba leaves SLP off
    by default, so every compile of this module's kernels runs under `slp_vectorizer()`, and
    `fastmath` is limited to "contract" (FMA): with reassociation allowed the loop vectoriser
    would rewrite the k loop into dot products instead.
"""
from contextlib import contextmanager

import numba
import numpy as np
from numba import njit, prange

from .micro import MR, NR, micro_kernel

MC = 96       # rows of A packed at a time (a multiple of MR)
KC_MAX = 256  # longest k block: a float32 B panel is 16 KiB, half of L1


@contextmanager
def slp_vectorizer():
    """Compile with LLVM's SLP vectoriser on (read by Numba at each compile; a cached kernel loads as built)."""
    old = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        numba.config.SLP_VECTORIZE = old


@njit(cache=True, inline="always")
def _pack_a(dst, src, r0, nrows, k0, kk):
    """dst[p, k*MR + i] = src[r0 + p*MR + i, k0 + k] for the rows < nrows, zero past them."""
    zero = dst.dtype.type(0)
    for p in range((nrows + MR - 1) // MR):
        d = dst[p]
        for i in range(MR):
            if p * MR + i < nrows:
                s = src[r0 + p * MR + i, k0:]
                for k in range(kk):
                    d[k * MR + i] = s[k]
            else:
                for k in range(kk):
                    d[k * MR + i] = zero


@njit(cache=True, inline="always")
def _pack_b(dst, src, r0, nrows, k0, kk):
    """dst[p, k*NR + j] = src[r0 + p*NR + j, k0 + k] (src is Bt: rows are columns of B), zero past nrows."""
    zero = dst.dtype.type(0)
    for p in range((nrows + NR - 1) // NR):
        d = dst[p]
        for j in range(NR):
            if p * NR + j < nrows:
                s = src[r0 + p * NR + j, k0:]
                for k in range(kk):
                    d[k * NR + j] = s[k]
            else:
                for k in range(kk):
                    d[k * NR + j] = zero


@njit(cache=True, parallel=True, fastmath={"contract"})
def _gemm_nt(A, Bt, C, a_idx, b_idx, MG, NC, KS):
    _, nt, M, N = C.shape
    K = A.shape[2]
    kslice = (K + KS - 1) // KS
    nkb = (kslice + KC_MAX - 1) // KC_MAX
    kc = (kslice + nkb - 1) // nkb                     # even split of the slice
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
        kbeg = s * kslice
        kend = min(K, kbeg + kslice)
        Ap = np.empty((MC // MR, kc * MR), dtype=A.dtype)
        Bp = np.empty(((NC + NR - 1) // NR, kc * NR), dtype=A.dtype)
        At = A[a_idx[t]]
        Ct = C[s, t]
        for k0 in range(kbeg, kend, kc):
            kk = min(kend, k0 + kc) - k0
            _pack_b(Bp, Bt[b_idx[t]], j0, nj, k0, kk)
            for i0 in range(g0, g1, MC):
                mi = min(g1, i0 + MC) - i0
                _pack_a(Ap, At, i0, mi, k0, kk)
                for jp in range((nj + NR - 1) // NR):
                    cols = min(NR, nj - jp * NR)
                    for ip in range((mi + MR - 1) // MR):
                        rows = min(MR, mi - ip * MR)
                        micro_kernel(kk, Ap[ip], Bp[jp], Ct, i0 + ip * MR, j0 + jp * NR, rows, cols)
    return C


def gemm_nt(A, Bt, C, a_idx, b_idx, MG, NC, KS):
    """A: (na, M, K), Bt: (nb, N, K), C: (KS, nt, M, N), all C-contiguous; a_idx, b_idx: (nt,) int64.

    C[s, t] += A[a_idx[t]][:, ks] @ Bt[b_idx[t]][:, ks].T over the s-th of KS slices ks of K
    (sum C over axis 0 afterwards when KS > 1). A task owns MG rows x NC columns of one C[s, t]
    (MG a multiple of MR). C must be initialised (zeros).
    """
    with slp_vectorizer():
        return _gemm_nt(A, Bt, C, a_idx, b_idx, MG, NC, KS)


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
