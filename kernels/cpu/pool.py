"""2-D max and average pooling, NCHW. Every kernel runs prange over the N*C planes: each
thread owns whole planes, so the backward scatters need no atomics. Windows walk their taps
in (i, j) order, the same order as the numpy reference, so max ties pick the first tap.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def max_pool2d_forward(xp, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, w):
    """xp: (N, C, H + 2ph, W + 2pw) padded with -inf -> y (N, C, OH, OW) and idx (N, C, OH, OW):
    int64 row * W + col of each max in the unpadded plane (of width w). NaN wins like np.argmax.
    """
    n, c = xp.shape[0], xp.shape[1]
    y = np.empty((n, c, oh, ow), dtype=xp.dtype)
    idx = np.empty((n, c, oh, ow), dtype=np.int64)
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
                    v = l0[c0 + 1]
                    if v > best or (v != v and best == best):
                        best = v
                        tap = 1
                    v = l1[c0]
                    if v > best or (v != v and best == best):
                        best = v
                        tap = 2
                    v = l1[c0 + 1]
                    if v > best or (v != v and best == best):
                        best = v
                        tap = 3
                    ys[r, q] = best
                    ids[r, q] = (r * sh + tap // 2 - ph) * w + (c0 + tap % 2 - pw)
            continue
        for r in range(oh):
            for q in range(ow):
                best = plane[r * sh, q * sw]
                bi = r * sh
                bj = q * sw
                for i in range(kh):
                    line = plane[r * sh + i * dh]
                    for j in range(kw):
                        v = line[q * sw + j * dw]
                        if v > best or (v != v and best == best):
                            best = v
                            bi = r * sh + i * dh
                            bj = q * sw + j * dw
                ys[r, q] = best
                ids[r, q] = (bi - ph) * w + (bj - pw)
    return y, idx


@njit(cache=True, parallel=True)
def max_pool2d_backward(gy, idx, h, w):
    """gy, idx: (N, C, OH, OW) -> gx (N, C, H, W); returns (gx, number of indices outside the plane)."""
    n, c, oh, ow = gy.shape
    gx = np.zeros((n, c, h, w), dtype=gy.dtype)
    bad = np.zeros(n * c, dtype=np.int64)
    hw = h * w
    for nc in prange(n * c):
        b = nc // c
        ch = nc % c
        for r in range(oh):
            for q in range(ow):
                k = idx[b, ch, r, q]
                if 0 <= k < hw:
                    gx[b, ch, k // w, k % w] += gy[b, ch, r, q]
                else:
                    bad[nc] += 1
    return gx, bad.sum()


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
def avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad):
    """x: (N, C, H, W) -> y: (N, C, OH, OW), window mean (padding counts as 0)."""
    n, c, h, w = x.shape
    div = _avg_divisors(h, w, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad, x)
    y = np.empty((n, c, oh, ow), dtype=x.dtype)
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
def avg_pool2d_backward(gy, h, w, kh, kw, sh, sw, ph, pw, count_include_pad):
    """gy: (N, C, OH, OW) -> gx: (N, C, H, W), each window's gradient shared evenly by its taps."""
    n, c, oh, ow = gy.shape
    div = _avg_divisors(h, w, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad, gy)
    gx = np.zeros((n, c, h, w), dtype=gy.dtype)
    for nc in prange(n * c):
        b = nc // c
        ch = nc % c
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
