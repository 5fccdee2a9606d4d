"""Whole-sequence recurrent kernels: the time loop of an RNN / LSTM / GRU layer in one call.

Stepping a recurrent layer from Python records ~10 ops per time step; these kernels run every
step (forward) and the whole backpropagation through time (backward) inside one compiled
function, as PyTorch does in C++. The input projection of all steps, xw = x W_ih^T + b_ih, is one
big matmul done before (it does not depend on h), so a step here is the recurrent product
h W_hh^T (np.dot: BLAS) and the gate arithmetic, fused into one pass over (N, G*H).

Modes (the layer's `mode`): TANH, RELU (G = 1), LSTM (G = 4, gates i f g o), GRU (G = 3, r z n);
gate layouts as PyTorch's (minigrad/nn/layers/rnn.py). Steps run in "processing order" s: time
t = s, or t = L - 1 - s when reverse (the backward direction of a bidirectional layer).

Workspace written by the forward, read by the backward (all indexed by s):
  hs (L+1, N, H): hs[0] = h0, hs[s+1] = the state after step s
  cs (L+1, N, H): the LSTM's cell states likewise (unused otherwise)
  gates (L, N, G*H): LSTM [i, f, g, o] and GRU [r, z, n] after their activations (unused for RNN)
  hn (L, N, H): GRU's h W_hn^T + b_hn, which r multiplies (unused otherwise)
"""
import math

import numpy as np
from numba import njit

TANH, RELU, LSTM, GRU = 0, 1, 2, 3
MODES = {"RNN_TANH": TANH, "RNN_RELU": RELU, "LSTM": LSTM, "GRU": GRU}


@njit(cache=True, inline="always")
def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


@njit(cache=True)
def sequence_forward(mode, xw, w_hh_t, b_hh, reverse, hs, cs, gates, hn):
    """xw: (L, N, G*H) input projections in time order; w_hh_t: (H, G*H) = W_hh^T, contiguous;
    b_hh: (G*H,) (zeros when the layer has none); hs[0] (and cs[0]) hold h0 (c0) on entry.
    Fills hs, cs, gates, hn (see the module docstring)."""
    L, N, GH = xw.shape
    H = hs.shape[2]
    one = xw.dtype.type(1)
    for s in range(L):
        t = L - 1 - s if reverse else s
        hw = np.dot(hs[s], w_hh_t)  # (N, G*H)
        x = xw[t]
        for n in range(N):
            hwn, xn, hprev, hnew = hw[n], x[n], hs[s, n], hs[s + 1, n]
            if mode == TANH:
                for j in range(H):
                    hnew[j] = math.tanh(xn[j] + hwn[j] + b_hh[j])
            elif mode == RELU:
                for j in range(H):
                    v = xn[j] + hwn[j] + b_hh[j]
                    hnew[j] = v if v > 0 else 0 * v
            elif mode == LSTM:
                g, cprev, cnew = gates[s, n], cs[s, n], cs[s + 1, n]
                for j in range(H):
                    i_ = _sigmoid(xn[j] + hwn[j] + b_hh[j])
                    f_ = _sigmoid(xn[H + j] + hwn[H + j] + b_hh[H + j])
                    g_ = math.tanh(xn[2 * H + j] + hwn[2 * H + j] + b_hh[2 * H + j])
                    o_ = _sigmoid(xn[3 * H + j] + hwn[3 * H + j] + b_hh[3 * H + j])
                    c = f_ * cprev[j] + i_ * g_
                    cnew[j] = c
                    hnew[j] = o_ * math.tanh(c)
                    g[j], g[H + j], g[2 * H + j], g[3 * H + j] = i_, f_, g_, o_
            else:
                g, hnn = gates[s, n], hn[s, n]
                for j in range(H):
                    r = _sigmoid(xn[j] + hwn[j] + b_hh[j])
                    z = _sigmoid(xn[H + j] + hwn[H + j] + b_hh[H + j])
                    hh = hwn[2 * H + j] + b_hh[2 * H + j]
                    nn_ = math.tanh(xn[2 * H + j] + r * hh)
                    hnew[j] = (one - z) * nn_ + z * hprev[j]
                    g[j], g[H + j], g[2 * H + j] = r, z, nn_
                    hnn[j] = hh


@njit(cache=True)
def sequence_backward(mode, gout, gh, gc, w_hh, reverse, hs, cs, gates, hn, dxw, dhw):
    """Backpropagation through time.

    gout: (L, N, H) gradient of the outputs (time order); gh, gc: (N, H) gradients of h_n and c_n
    (updated in place into those of h0 and c0); w_hh: (G*H, H), contiguous.
    Fills dxw (L, N, G*H), the gradient of xw (time order), and dhw (L, N, G*H), that of the
    pre-activation's recurrent part h W_hh^T + b_hh (processing order): the same numbers except
    for the GRU's n gate, whose recurrent part is scaled by r.
    """
    L, N, GH = dxw.shape
    H = gh.shape[1]
    one = gh.dtype.type(1)
    for s in range(L - 1, -1, -1):
        t = L - 1 - s if reverse else s
        go = gout[t]
        for n in range(N):
            dh, dx, dr, hnew, hprev = gh[n], dxw[t, n], dhw[s, n], hs[s + 1, n], hs[s, n]
            if mode == TANH:
                for j in range(H):
                    h = hnew[j]
                    d = (dh[j] + go[n, j]) * (one - h * h)
                    dx[j] = d
                    dr[j] = d
            elif mode == RELU:
                for j in range(H):
                    d = dh[j] + go[n, j] if hnew[j] > 0 else 0 * dh[j]
                    dx[j] = d
                    dr[j] = d
            elif mode == LSTM:
                g, dc, c_, cprev = gates[s, n], gc[n], cs[s + 1, n], cs[s, n]
                for j in range(H):
                    i_, f_, g_, o_ = g[j], g[H + j], g[2 * H + j], g[3 * H + j]
                    d = dh[j] + go[n, j]
                    tc = math.tanh(c_[j])
                    dcj = dc[j] + d * o_ * (one - tc * tc)
                    di = dcj * g_ * i_ * (one - i_)
                    df = dcj * cprev[j] * f_ * (one - f_)
                    dg = dcj * i_ * (one - g_ * g_)
                    do = d * tc * o_ * (one - o_)
                    dc[j] = dcj * f_
                    dx[j], dx[H + j], dx[2 * H + j], dx[3 * H + j] = di, df, dg, do
                    dr[j], dr[H + j], dr[2 * H + j], dr[3 * H + j] = di, df, dg, do
            else:
                g, hh = gates[s, n], hn[s, n]
                for j in range(H):
                    r, z, nn_ = g[j], g[H + j], g[2 * H + j]
                    d = dh[j] + go[n, j]
                    dn = d * (one - z) * (one - nn_ * nn_)
                    dz = d * (hprev[j] - nn_) * z * (one - z)
                    drr = dn * hh[j] * r * (one - r)
                    dx[j], dx[H + j], dx[2 * H + j] = drr, dz, dn
                    dr[j], dr[H + j], dr[2 * H + j] = drr, dz, dn * r
                    dh[j] = d * z  # the direct path h' = ... + z h; the W_hh path is added below
        if mode == GRU:
            gh += np.dot(dhw[s], w_hh)
        else:
            gh[:] = np.dot(dhw[s], w_hh)
