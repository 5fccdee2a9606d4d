"""2-D max and average pooling, NCHW. Every kernel runs prange over the N*C planes: each
thread owns whole planes, so the backward scatters need no atomics. Windows walk their taps
in (i, j) order, the same order as the numpy reference, so max ties pick the first tap.
"""
import numpy as np
from numba import njit, prange


@njit(inline="always")
def _pick(best, tap, v, t):
    """The running (max, tap) after seeing value v at tap t; a NaN wins, as in np.argmax.

    Written without branches (LLVM emits selects): with random data a branch per tap
    mispredicts half the time (the seed CNN's two pools, batch 64: 3.9 ms -> 2.1 ms).
    """
    take = (v > best) | ((v != v) & (best == best))
    return (v if take else best), (t if take else tap)


@njit(cache=True, parallel=True)
def max_pool2d_forward(xp, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, w, y, idx, want_idx):
    """xp: (N, C, H + 2ph, W + 2pw) padded with -inf -> y (N, C, OH, OW) and, when want_idx, idx
    (N, C, OH, OW): int64 row * W + col of each max in the unpadded plane (of width w).
    NaN wins like np.argmax. Without want_idx (inference) idx is not written.
    """
    n, c = xp.shape[0], xp.shape[1]
    for nc in prange(n * c):
        b = nc // c
        ch = nc % c
        plane = xp[b, ch]
        ys = y[b, ch]
        ids = idx[b, ch]
        if kh == 2 and kw == 2 and dh == 1 and dw == 1:  # the common 2x2 window, unrolled
            for r in range(oh):
                l0 = plane[r * sh]
                l1 = plane[r * sh + 1]
                for q in range(ow):
                    c0 = q * sw
                    best = l0[c0]
                    tap = 0
                    best, tap = _pick(best, tap, l0[c0 + 1], 1)
                    best, tap = _pick(best, tap, l1[c0], 2)
                    best, tap = _pick(best, tap, l1[c0 + 1], 3)
                    ys[r, q] = best
                    if want_idx:
                        ids[r, q] = (r * sh + tap // 2 - ph) * w + (c0 + tap % 2 - pw)
            continue
        for r in range(oh):
            for q in range(ow):
                best = plane[r * sh, q * sw]
                tap = 0
                for i in range(kh):
                    line = plane[r * sh + i * dh]
                    for j in range(kw):
                        best, tap = _pick(best, tap, line[q * sw + j * dw], i * kw + j)
                ys[r, q] = best
                if want_idx:
                    ids[r, q] = (r * sh + (tap // kw) * dh - ph) * w + (q * sw + (tap % kw) * dw - pw)
    return y, idx


@njit(cache=True, parallel=True)
def max_pool2d_backward(gy, idx, h, w, gx):
    """gy, idx: (N, C, OH, OW) -> gx (N*C, H*W) (overwritten); returns the number of indices outside the plane."""
    n, c, oh, ow = gy.shape
    bad = np.zeros(n * c, dtype=np.int64)
    hw = h * w
    g = gy.reshape(n * c, oh * ow)
    ix = idx.reshape(n * c, oh * ow)
    for nc in prange(n * c):
        dst = gx[nc]
        dst[:] = 0
        for p in range(oh * ow):
            k = ix[nc, p]
            if 0 <= k < hw:
                dst[k] += g[nc, p]
            else:
                bad[nc] += 1
    return bad.sum()


@njit(cache=True)
def _avg_divisors(h, w, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad, dtype_like):
    """(OH, OW) divisor of every window: KH*KW, or the number of its taps inside the image."""
    div = np.empty((oh, ow), dtype=dtype_like.dtype)
    for r in range(oh):
        for q in range(ow):
            if count_include_pad:
                div[r, q] = kh * kw
            else:
                cnt = 0
                for i in range(kh):
                    hi = r * sh - ph + i
                    for j in range(kw):
                        wi = q * sw - pw + j
                        if 0 <= hi < h and 0 <= wi < w:
                            cnt += 1
                div[r, q] = cnt
    return div


@njit(cache=True, parallel=True)
def avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad, y):
    """x: (N, C, H, W) -> y: (N, C, OH, OW), window mean (padding counts as 0)."""
    n, c, h, w = x.shape
    div = _avg_divisors(h, w, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad, x)
    for nc in prange(n * c):
        b = nc // c
        ch = nc % c
        for r in range(oh):
            for q in range(ow):
                s = x.dtype.type(0)
                for i in range(kh):
                    hi = r * sh - ph + i
                    if 0 <= hi < h:
                        for j in range(kw):
                            wi = q * sw - pw + j
                            if 0 <= wi < w:
                                s += x[b, ch, hi, wi]
                y[b, ch, r, q] = s / div[r, q]
    return y


@njit(cache=True, parallel=True)
def avg_pool2d_backward(gy, h, w, kh, kw, sh, sw, ph, pw, count_include_pad, gx):
    """gy: (N, C, OH, OW) -> gx: (N, C, H, W) (overwritten), each window's gradient shared evenly by its taps."""
    n, c, oh, ow = gy.shape
    div = _avg_divisors(h, w, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad, gy)
    for nc in prange(n * c):
        b = nc // c
        ch = nc % c
        gx[b, ch] = 0
        for r in range(oh):
            for q in range(ow):
                g = gy[b, ch, r, q] / div[r, q]
                for i in range(kh):
                    hi = r * sh - ph + i
                    if 0 <= hi < h:
                        for j in range(kw):
                            wi = q * sw - pw + j
                            if 0 <= wi < w:
                                gx[b, ch, hi, wi] += g
    return gx
