"""Conv2d data-movement kernels; the arithmetic is done by matmul.gemm_nt.

Scheme (implicit GEMM through explicit patch matrices, NCHW, groups G, Kc = C/G * KH * KW,
P = OH * OW, taps ordered (c, i, j) to match w.reshape(O, Kc)):
  * forward:          rows = im2row(x)  (N, G, P, Kc);  y[n, g] = w[g] @ rows[n, g].T
  * backward weight:  cols = im2col_k(x) (G, Kc, N*P);  gw[g]  = gy[g] (Og, N*P) @ cols[g].T
  * backward input:   stride 1 -> a forward conv of gy with the flipped, transposed weights
                      (contracts over O*KH*KW, long enough for the dot-product GEMM);
                      otherwise dcols = gy^T @ w per (n, g) then col2im_rows scatters them back.
Every kernel runs prange over (image, channel) planes, so no two threads write one element.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def im2row(x, kh, kw, sh, sw, ph, pw, dh, dw, groups, oh, ow):
    """x: (N, C, H, W) -> rows: (N, G, OH*OW, Cg*KH*KW), zero where the window hits padding.

    One task per (image, group) walks output pixels and writes each row contiguously; the
    image's planes it reads stay in L1/L2.
    """
    n, c, h, w = x.shape
    cg = c // groups
    kk = cg * kh * kw
    rows = np.empty((n, groups, oh * ow, kk), dtype=x.dtype)
    zero = x.dtype.type(0)
    for ng in prange(n * groups):
        b = ng // groups
        g = ng % groups
        for r in range(oh):
            for q in range(ow):
                row = rows[b, g, r * ow + q]
                col = 0
                for cl in range(cg):
                    ch = g * cg + cl
                    for i in range(kh):
                        hi = r * sh - ph + i * dh
                        for j in range(kw):
                            wi = q * sw - pw + j * dw
                            v = zero
                            if 0 <= hi < h and 0 <= wi < w:
                                v = x[b, ch, hi, wi]
                            row[col] = v
                            col += 1
    return rows


@njit(cache=True, parallel=True)
def im2col_k(x, kh, kw, sh, sw, ph, pw, dh, dw, groups, oh, ow):
    """x: (N, C, H, W) -> cols: (G, Cg*KH*KW, N*OH*OW), the patch matrix with k as the row."""
    n, c, h, w = x.shape
    cg = c // groups
    kk = cg * kh * kw
    p = oh * ow
    cols = np.empty((groups, kk, n * p), dtype=x.dtype)
    zero = x.dtype.type(0)
    for nc in prange(n * c):
        b = nc // c
        ch = nc % c
        g = ch // cg
        base = (ch % cg) * kh * kw
        for i in range(kh):
            for j in range(kw):
                col = base + i * kw + j
                for r in range(oh):
                    hi = r * sh - ph + i * dh
                    for q in range(ow):
                        wi = q * sw - pw + j * dw
                        v = zero
                        if 0 <= hi < h and 0 <= wi < w:
                            v = x[b, ch, hi, wi]
                        cols[g, col, b * p + r * ow + q] = v
    return cols


@njit(cache=True, parallel=True)
def col2im_rows(dcols, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """dcols: (N, G, OH*OW, Cg*KH*KW) -> gx: (N, C, H, W), summing every patch back (im2row's adjoint)."""
    n, groups, p, kk = dcols.shape
    cg = c // groups
    gx = np.zeros((n, c, h, w), dtype=dcols.dtype)
    for nc in prange(n * c):
        b = nc // c
        ch = nc % c
        g = ch // cg
        base = (ch % cg) * kh * kw
        for i in range(kh):
            for j in range(kw):
                col = base + i * kw + j
                for r in range(oh):
                    hi = r * sh - ph + i * dh
                    if 0 <= hi < h:
                        for q in range(ow):
                            wi = q * sw - pw + j * dw
                            if 0 <= wi < w:
                                gx[b, ch, hi, wi] += dcols[b, g, r * ow + q, col]
    return gx


@njit(cache=True, parallel=True)
def flip_transpose_weight(w, groups):
    """w: (O, Cg, KH, KW) -> w2: (C, Og, KH, KW), w2[g*Cg + c, o] = w[g*Og + o, c] rotated 180 degrees."""
    o, cg, kh, kw = w.shape
    og = o // groups
    w2 = np.empty((cg * groups, og, kh, kw), dtype=w.dtype)
    for oc in prange(o * cg):
        oo = oc // cg
        c = oc % cg
        g = oo // og
        for i in range(kh):
            for j in range(kw):
                w2[g * cg + c, oo % og, i, j] = w[oo, c, kh - 1 - i, kw - 1 - j]
    return w2


@njit(cache=True, parallel=True)
def group_major(gy, groups):
    """gy: (N, O, OH, OW) -> (G, O/G, N*OH*OW): each group's gradient with the batch folded into k."""
    n, o, oh, ow = gy.shape
    og = o // groups
    p = oh * ow
    out = np.empty((groups, og, n * p), dtype=gy.dtype)
    for oc in prange(o):
        g = oc // og
        for b in range(n):
            for r in range(oh):
                for q in range(ow):
                    out[g, oc % og, b * p + r * ow + q] = gy[b, oc, r, q]
    return out
