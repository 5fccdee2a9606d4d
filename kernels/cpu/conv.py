"""Conv2d kernels: patch gathering (im2row / im2col), its adjoint (col2im), direct convolution
and its weight gradient, and the bias gradient.

Scheme (NCHW, groups G, Cg = C / G, Kc = Cg * KH * KW, P = OH * OW). The wrapper pads x once,
so every kernel here is branch-free:
  * forward, long Kc:  rows = im2row(xp) (N, G, P, Kc), taps (i, j, c);
                       y[n, g] = w[g] (Og, Kc) @ rows[n, g].T, starting from the bias
  * forward, short Kc: conv_direct - for each tap, y[n, o] += w[o, c, i, j] * shifted x plane;
                       the inner loop runs along a whole (wide) plane, so it vectorises
  * backward weight:   cols = im2col(xp) (G, Kc, N*P);  gw[g] = gy[g] (Og, N*P) @ cols[g].T
                       (stride 1 with few taps: conv_direct_weight_grad, one dot product per tap)
  * backward input:    dcols[n, g] = w[g].T @ gy[n, g]  (Kc, P), then col2im adds each tap's
                       plane back onto the padded gradient (the adjoint of gathering patches)
  * bias:              channel_sum(gy) over N, OH, OW
Every kernel runs prange over independent (image, channel) planes: no two threads write one element.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def im2row(xp, kh, kw, sh, sw, dh, dw, groups, oh, ow, rows):
    """xp: padded (N, C, Hp, Wp) -> rows: (N, G, OH*OW, KH*KW*Cg), the patch under each output pixel.

    Taps are ordered (i, j, c), so each row is written front to back in runs of Cg channels (the
    caller orders the weights the same way); the reads hop between the image's channel planes,
    which sit in L1.
    """
    n, c = xp.shape[0], xp.shape[1]
    cg = c // groups
    for ng in prange(n * groups):
        b = ng // groups
        g = ng % groups
        img = xp[b, g * cg:]
        out = rows[b, g]
        for r in range(oh):
            for q in range(ow):
                row = out[r * ow + q]
                col = 0
                for i in range(kh):
                    for j in range(kw):
                        y0 = r * sh + i * dh
                        x0 = q * sw + j * dw
                        for cl in range(cg):
                            row[col + cl] = img[cl, y0, x0]
                        col += cg
    return rows


@njit(cache=True, parallel=True)
def im2col(xp, kh, kw, sh, sw, dh, dw, groups, oh, ow, cols):
    """xp: padded (N, C, Hp, Wp) -> cols: (G, Cg*KH*KW, N*OH*OW), the patch matrix with k as the row."""
    n, c = xp.shape[0], xp.shape[1]
    cg = c // groups
    p = oh * ow
    for nc in prange(n * c):
        b = nc // c
        ch = nc % c
        g = ch // cg
        plane = xp[b, ch]
        for i in range(kh):
            for j in range(kw):
                dst = cols[g, (ch % cg) * kh * kw + i * kw + j]
                for r in range(oh):
                    src = plane[r * sh + i * dh]
                    off = b * p + r * ow
                    for q in range(ow):
                        dst[off + q] = src[q * sw + j * dw]
    return cols


@njit(cache=True, parallel=True)
def col2im(dcols, c, hp, wp, kh, kw, sh, sw, dh, dw, oh, ow, gxp):
    """dcols: (N, G, Cg*KH*KW, OH*OW) -> padded gradient gxp (N, C, Hp, Wp): every tap's plane added back
    (gxp is overwritten: each plane is cleared first)."""
    n, groups = dcols.shape[0], dcols.shape[1]
    cg = c // groups
    for nc in prange(n * c):
        b = nc // c
        ch = nc % c
        g = ch // cg
        plane = gxp[b, ch]
        plane[:] = 0
        for i in range(kh):
            for j in range(kw):
                src = dcols[b, g, (ch % cg) * kh * kw + i * kw + j]
                for r in range(oh):
                    dst = plane[r * sh + i * dh]
                    off = r * ow
                    for q in range(ow):
                        dst[q * sw + j * dw] += src[off + q]
    return gxp


@njit(cache=True, parallel=True, fastmath=True)
def conv_direct(xp, w, bias, sh, sw, dh, dw, groups, oh, ow, y):
    """xp: padded (N, C, Hp, Wp), w: (O, Cg, KH, KW), bias: (O,) -> y: (N, O, OH, OW), tap by tap from the bias.

    Stride 1 uses "wide" rows: output pixel t = r * Wp + q of a plane reads input t + i*dh*Wp + j*dw,
    so each tap is ONE long contiguous multiply-add over the plane (it vectorises) into a scratch
    plane in L1; its columns q >= OW are junk, and only the others are copied out.
    """
    n, c, hp, wp = xp.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    if sh == 1 and sw == 1:
        span = (oh - 1) * wp + ow  # last read: span - 1 + (kh-1)*dh*wp + (kw-1)*dw == hp*wp - 1
        flat = xp.reshape(n, c, hp * wp)
        for no in prange(n * o):
            b = no // o
            oo = no % o
            g = oo // og
            wide = np.empty(span, dtype=xp.dtype)
            wide[:] = bias[oo]
            for cl in range(cg):
                src = flat[b, g * cg + cl]
                for i in range(kh):
                    for j in range(kw):
                        wv = w[oo, cl, i, j]
                        seg = src[i * dh * wp + j * dw:]
                        for t in range(span):
                            wide[t] += wv * seg[t]
            out = y[b, oo]
            for r in range(oh):
                for q in range(ow):
                    out[r, q] = wide[r * wp + q]
        return y
    for no in prange(n * o):
        b = no // o
        oo = no % o
        g = oo // og
        out = y[b, oo]
        out[:] = bias[oo]
        for r in range(oh):
            dst = out[r]
            for cl in range(cg):
                plane = xp[b, g * cg + cl]
                for i in range(kh):
                    src = plane[r * sh + i * dh]
                    for j in range(kw):
                        wv = w[oo, cl, i, j]
                        for q in range(ow):
                            dst[q] += wv * src[q * sw + j * dw]
    return y


@njit(cache=True, parallel=True)
def group_major(gy, groups, out):
    """gy: (N, O, OH, OW) -> (G, O/G, N*OH*OW): each group's gradient with the batch folded into k."""
    n, o, oh, ow = gy.shape
    og = o // groups
    p = oh * ow
    for oc in prange(o):
        g = oc // og
        for b in range(n):
            src = gy[b, oc]
            dst = out[g, oc % og]
            for r in range(oh):
                for q in range(ow):
                    dst[b * p + r * ow + q] = src[r, q]
    return out


@njit(cache=True, parallel=True, fastmath=True)
def conv_direct_weight_grad(xp, gy, cg, kh, kw, dh, dw):
    """Stride-1 weight gradient tap by tap: xp padded (N, C, Hp, Wp), gy (N, O, OH, OW) -> gw (O, Cg, KH, KW).

    gw[o, c, i, j] = sum over n of <gy[n, o], x[n, c] shifted by (i*dh, j*dw)>. As in conv_direct, gy is
    laid out in "wide" rows of Wp (zeros in the extra columns) so each tap is one contiguous dot
    product; a thread owns whole output channels, and the gy and x planes stay in L1 across the taps.
    """
    n, c, hp, wp = xp.shape
    o, oh, ow = gy.shape[1], gy.shape[2], gy.shape[3]
    og = o // (c // cg)
    span = (oh - 1) * wp + ow
    flat = xp.reshape(n, c, hp * wp)
    gw = np.zeros((o, cg, kh, kw), dtype=np.float64)
    for oo in prange(o):
        g = oo // og
        wide = np.zeros(oh * wp, dtype=gy.dtype)
        for b in range(n):
            for r in range(oh):
                for q in range(ow):
                    wide[r * wp + q] = gy[b, oo, r, q]
            for cl in range(cg):
                src = flat[b, g * cg + cl]
                for i in range(kh):
                    for j in range(kw):
                        seg = src[i * dh * wp + j * dw:]
                        acc = gy.dtype.type(0)
                        for t in range(span):
                            acc += wide[t] * seg[t]
                        gw[oo, cl, i, j] += acc
    return gw


@njit(cache=True, parallel=True, fastmath=True)
def channel_sum(gy):
    """gy: (N, O, OH, OW) -> (O,) sums over N, OH, OW (the conv bias gradient), in the input's precision."""
    n, o = gy.shape[0], gy.shape[1]
    flat = gy.reshape(n, o, -1)
    out = np.empty(o, dtype=gy.dtype)
    for oc in prange(o):
        acc = 0.0  # float64 partial sums: a long float32 sum would drift
        for b in range(n):
            row = flat[b, oc]
            for p in range(row.shape[0]):
                acc += row[p]
        out[oc] = acc
    return out
