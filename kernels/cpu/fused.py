"""Fused elementwise kernels: each reads and writes every element once, on all threads.

numpy spends one pass (and one temporary array) per operator: ReLU is two passes, an Adam step
about ten. These kernels do the same arithmetic in one pass, in the array's own precision, in
the same order as the contract's reference code (minigrad/backend/contract.py), so results match
it to the last bit or close to it. The wrappers in cpu_backend hand them C-contiguous arrays of
one float dtype: flattened to 1-D for the elementwise kernels, (N, C) for the cross-entropy; other
arrays go to the reference. The float32 tanh (GELU) is a vectorising rational function, within
3.5e-7 of tanh rather than bit-equal to numpy's.
"""
import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from .variant import variant


# ------------------------------------------------------------ tanh and sigmoid that vectorise
# float32 tanh(v) = v P(u) / Q(u), u = (v / 9)^2, |v| clamped at 9 (tanh is 1 in float32 beyond):
# a rational fit (fit_tanh.py prints it; max error 2e-8 in exact arithmetic, 3.5e-7 once
# evaluated in float32). Only multiply-adds, one division and comparisons, so loops of it vectorise
# (in kernels compiled with error_model="numpy", whose division has no zero check); a loop of libm's
# exp runs one element at a time, ~15x slower on AVX-512. rnn.py's gates use these too: Numba's
# cache checks only the compiled function's own file, so after editing them, touch rnn.py as well.
_f4 = np.float32
_CLAMP, _INV_CLAMP = _f4(9.0), _f4(1 / 9.0)
_P0, _P1, _P2, _P3, _P4 = map(_f4, (0.9999999064, 10.83229035, 22.8754655, 10.87957139, 0.5675376419))
_Q1, _Q2, _Q3, _Q4 = map(_f4, (37.83226082, 169.549233, 173.8548501, 33.15744423))
_ONE, _HALF = _f4(1), _f4(0.5)


@njit(inline="always")
def _tanh32(v):
    v = _CLAMP if v > _CLAMP else (-_CLAMP if v < -_CLAMP else v)  # comparisons: NaN must stay NaN
    u = (v * _INV_CLAMP) * (v * _INV_CLAMP)
    y = v * ((((_P4 * u + _P3) * u + _P2) * u + _P1) * u + _P0) / ((((_Q4 * u + _Q3) * u + _Q2) * u + _Q1) * u + _ONE)
    return _ONE if y > _ONE else (-_ONE if y < -_ONE else y)


@njit(inline="always")
def _tanh64(v):
    """tanh through one exp (absolute error ~1e-16; |v| clamped at 20, where tanh is 1 to double
    precision, so that exp cannot overflow)."""
    v = 20 if v > 20 else (-20 if v < -20 else v)
    e = math.exp(2 * v)
    return (e - 1) / (e + 1)


def _tanh(v):
    """tanh in v's precision: _tanh32 for float32, _tanh64 otherwise (chosen when compiled)."""
    return math.tanh(v)


@overload(_tanh)
def _tanh_by_type(v):
    if v == types.float32:
        return lambda v: _tanh32(v)
    return lambda v: _tanh64(v)


def _sigmoid(v):
    """1 / (1 + exp(-v)) in v's precision; float32 through the vectorising tanh."""
    return 1 / (1 + math.exp(-v))


@overload(_sigmoid)
def _sigmoid_by_type(v):
    if v == types.float32:
        return lambda v: _HALF + _HALF * _tanh32(_HALF * v)
    return lambda v: 1 / (1 + math.exp(-v))  # noqa: E731 (an overload returns its implementation)

_K = math.sqrt(2 / math.pi)


@njit(cache=True, parallel=True, error_model="numpy")
def gelu_tanh(x, y, slope):
    """x: (n,) -> y = GELU's tanh approximation, slope = dy/dx, both (n,) (the formulas:
    contract.Backend.gelu_tanh)."""
    f = x.dtype.type
    k, c, c3, half, one = f(_K), f(0.044715), f(3 * 0.044715), f(0.5), f(1)
    for i in prange(x.shape[0]):
        v = x[i]
        v2 = v * v
        t = _tanh(k * v * (one + c * v2))
        y[i] = half * v * (one + t)
        slope[i] = half * (one + t) + half * v * (one - t * t) * k * (one + c3 * v2)


@njit(cache=True, parallel=True)
def relu_forward(x, y):
    """x: (n,) -> y (n,) = max(x, 0), NaN kept."""
    zero = x.dtype.type(0)
    for i in prange(x.shape[0]):
        v = x[i]
        y[i] = zero if v <= zero else v
    return y


@njit(cache=True, parallel=True)
def relu_backward(gy, y, gx):
    """gy, y: (n,) with y the ReLU output -> gx (n,) = gy where y > 0, else 0."""
    zero = gy.dtype.type(0)
    for i in prange(gy.shape[0]):
        gx[i] = gy[i] if y[i] > zero else zero
    return gx


@njit(cache=True, parallel=True)
def adam_update(p, g, m, v, vmax, lr, b1, b2, eps, wd, decoupled, amsgrad, bc1, bc2):
    """One Adam/AdamW step on p (n,) in place, with moments m, v (and vmax when amsgrad) in place.

    bc1 = 1 - b1^t, bc2 = 1 - b2^t. wd: weight decay, decoupled (AdamW: p *= 1 - lr wd first) or
    added to the gradient (Adam).
    """
    f = p.dtype.type
    one_m_b1, b2_, one_m_b2 = f(1 - b1), f(b2), f(1 - b2)
    wd_, shrink, eps_ = f(wd), f(1 - lr * wd), f(eps)
    step, sqrt_bc2 = f(lr / bc1), f(np.sqrt(bc2))
    for i in prange(p.shape[0]):
        gi = g[i]
        pi = p[i]
        if wd != 0:
            if decoupled:
                pi = pi * shrink
            else:
                gi = gi + wd_ * pi
        mi = m[i] + (gi - m[i]) * one_m_b1
        vi = v[i] * b2_ + one_m_b2 * gi * gi
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vi = max(vmax[i], vi)
            vmax[i] = vi
        p[i] = pi - step * (mi / (np.sqrt(vi) / sqrt_bc2 + eps_))


@njit(cache=True, parallel=True)
def sgd_update(p, g, buf, lr, momentum, dampening, wd, nesterov, first):
    """One SGD step on p (n,) in place; buf (n,) is the momentum buffer (ignored when momentum == 0),
    set to the gradient on the first step."""
    f = p.dtype.type
    lr_, mom, damp, wd_ = f(lr), f(momentum), f(1 - dampening), f(wd)
    for i in prange(p.shape[0]):
        gi = g[i]
        if wd != 0:
            gi = gi + wd_ * p[i]
        if momentum != 0:
            b = gi if first else buf[i] * mom + damp * gi
            buf[i] = b
            gi = gi + mom * b if nesterov else b
        p[i] = p[i] - lr_ * gi


def _softmax_cross_entropy(x, t, w, has_weight, ignore_index, eps):
    """x: (N, C) logits, t: (N,) int64 classes (or ignore_index), w: (C,) class weights (read if has_weight).

    Returns (loss (N,), g (N, C), wt (N,)): per-row loss -sum_c a_c log softmax(x)_c with
    a_c = (1 - eps) wt [c == t] + eps w_c / C (zero on ignored rows), its gradient
    g = softmax(x) sum_c a_c - a, and the row's target weight wt (for the mean).
    """
    n, c = x.shape
    f = x.dtype.type
    loss = np.empty(n, dtype=x.dtype)
    g = np.empty((n, c), dtype=x.dtype)
    wt = np.empty(n, dtype=x.dtype)
    for i in prange(n):
        row = x[i]
        gi = g[i]
        m = row[0]
        for k in range(1, c):
            m = max(m, row[k])
        s = 0.0  # sums in float64
        for k in range(c):
            e = np.exp(row[k] - m)
            gi[k] = e
            s += e
        log_s = np.log(s)
        ti = t[i]
        valid = ti != ignore_index
        tt = ti if valid else 0
        wti = (w[tt] if has_weight else f(1)) if valid else f(0)
        wt[i] = wti
        on = f(1 - eps) * wti
        off = f(eps / c) if valid else f(0)
        total = 0.0   # sum over c of a_c
        li = 0.0
        for k in range(c):
            a = off * (w[k] if has_weight else f(1)) + (on if k == tt else f(0))
            total += a
            li -= a * (row[k] - m - log_s)
            gi[k] = gi[k] / s  # softmax
        for k in range(c):
            a = off * (w[k] if has_weight else f(1)) + (on if k == tt else f(0))
            gi[k] = gi[k] * total - a
        loss[i] = li
    return loss, g, wt


# A parallel call wakes the thread pool; a (64, 10) batch of logits takes less time than that on one
# thread, so below SERIAL_MAX elements cpu_backend calls the serial build (prange runs as range).
# The optimiser updates above stay parallel at every size: serial updates of the small parameters
# let the pool fall asleep before the next large one (seed MLP step: 30k instead of 46k images/s).
SERIAL_MAX = 1 << 14
softmax_cross_entropy = njit(cache=True, parallel=True)(_softmax_cross_entropy)
softmax_cross_entropy_serial = njit(cache=True)(variant(_softmax_cross_entropy, "_serial"))
