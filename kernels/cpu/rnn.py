"""Whole-sequence recurrent kernels: the time loop of an RNN / LSTM / GRU layer in one call.

Stepping a recurrent layer from Python records ~10 ops per time step; these kernels run every
step (forward) and the whole backpropagation through time (backward) inside one compiled
function, as PyTorch does in C++. The input projection of all steps, xw = x W_ih^T + b_ih, is one
big matmul done before (it does not depend on h), so a step here is the recurrent product
h W_hh^T and the gate arithmetic, fused: each block of MR batch rows (one task) computes its rows
of h W_hh^T with the GEMM's register tile (micro.py) and then their gates while they are in cache.
W_hh is the same at every step, so it is packed into the tile's panels once per call, not once per
step; only the MR rows of h are packed per step. No BLAS call inside: BLAS's own threads would
fight Numba's for the same cores.

Modes (the layer's `mode`): TANH, RELU (G = 1), LSTM (G = 4, gates i f g o), GRU (G = 3, r z n);
gate layouts as PyTorch's (minigrad/nn/layers/rnn.py). Steps run in "processing order" s: time
t = s, or t = L - 1 - s when reverse (the backward direction of a bidirectional layer).

Workspace written by the forward, read by the backward (all indexed by s):
  hs (L+1, N, H): hs[0] = h0, hs[s+1] = the state after step s
  cs (L+1, N, H): the LSTM's cell states likewise (unused otherwise)
  gates (L, N, G*H): LSTM [i, f, g, o] and GRU [r, z, n] after their activations (unused for RNN)
  hn (L, N, H): GRU's h W_hn^T + b_hn, which r multiplies (unused otherwise)
"""

import numpy as np
from numba import njit, prange

from .fused import _sigmoid, _tanh  # (Numba's cache does not see edits there: see fused.py)
from .matmul import _pack_a, _pack_b, slp_vectorized
from .micro import MR, NR, micro_kernel
from .variant import variant

# Numba's cache checks only this file, not the ones it inlines (micro.py, matmul.py's packing):
# gen_micro.py rewrites this stamp from both, so that editing them rebuilds these kernels.
MICRO_KERNEL = "8x16-f23b2455b9c72015"

TANH, RELU, LSTM, GRU = 0, 1, 2, 3
MODES = {"RNN_TANH": TANH, "RNN_RELU": RELU, "LSTM": LSTM, "GRU": GRU}


@njit(cache=True, inline="always")
def _panel_times(a, r0, rows, k, ap, bp, out):
    """out[r0:r0+rows, :] = a[r0:r0+rows, :k] @ B, B packed in bp's NR-column panels (k-major);
    ap: scratch for one packed MR-row panel of a (rows <= MR)."""
    _pack_a(ap, a, False, r0, rows, 0, k)
    ncols = out.shape[1]
    for jp in range(bp.shape[0]):
        micro_kernel(k, ap[0], bp[jp], out, r0, jp * NR, rows, min(NR, ncols - jp * NR), False)


@njit(cache=True, inline="always")
def _forward_row(mode, hwn, xn, b_hh, hprev, hnew, s, n, cs, gates, hn):
    """One batch row of one step: the gates from hwn = h W_hh^T and xn, then the new state."""
    H = hnew.shape[0]
    one = hnew.dtype.type(1)
    if mode == TANH:
        for j in range(H):
            hnew[j] = _tanh(xn[j] + hwn[j] + b_hh[j])
    elif mode == RELU:
        for j in range(H):
            v = xn[j] + hwn[j] + b_hh[j]
            hnew[j] = v if v > 0 else 0 * v  # NaN stays NaN
    elif mode == LSTM:
        g, cprev, cnew = gates[s, n], cs[s, n], cs[s + 1, n]
        for j in range(H):
            i_ = _sigmoid(xn[j] + hwn[j] + b_hh[j])
            f_ = _sigmoid(xn[H + j] + hwn[H + j] + b_hh[H + j])
            g_ = _tanh(xn[2 * H + j] + hwn[2 * H + j] + b_hh[2 * H + j])
            o_ = _sigmoid(xn[3 * H + j] + hwn[3 * H + j] + b_hh[3 * H + j])
            c = f_ * cprev[j] + i_ * g_
            cnew[j] = c
            hnew[j] = o_ * _tanh(c)
            g[j], g[H + j], g[2 * H + j], g[3 * H + j] = i_, f_, g_, o_
    else:
        g, hnn = gates[s, n], hn[s, n]
        for j in range(H):
            r = _sigmoid(xn[j] + hwn[j] + b_hh[j])
            z = _sigmoid(xn[H + j] + hwn[H + j] + b_hh[H + j])
            hh = hwn[2 * H + j] + b_hh[2 * H + j]
            nn_ = _tanh(xn[2 * H + j] + r * hh)
            hnew[j] = (one - z) * nn_ + z * hprev[j]
            g[j], g[H + j], g[2 * H + j] = r, z, nn_
            hnn[j] = hh


def _sequence_forward(mode, xw, w_hh, b_hh, reverse, hs, cs, gates, hn):
    """xw: (L, N, G*H) input projections in time order; w_hh: (G*H, H), contiguous;
    b_hh: (G*H,) (zeros when the layer has none); hs[0] (and cs[0]) hold h0 (c0) on entry.
    Fills hs, cs, gates, hn (see the module docstring)."""
    L, N, GH = xw.shape
    H = hs.shape[2]
    hw = np.empty((N, GH), dtype=xw.dtype)
    bp = np.empty(((GH + NR - 1) // NR, H * NR), dtype=xw.dtype)
    _pack_b(bp, w_hh, True, 0, GH, 0, H)  # W_hh^T (H, G*H) in NR-column panels, once for all steps
    ntasks = (N + MR - 1) // MR
    ap = np.empty((ntasks, 1, H * MR), dtype=xw.dtype)
    for s in range(L):
        t = L - 1 - s if reverse else s
        for task in prange(ntasks):
            n0, n1 = task * MR, min(N, task * MR + MR)
            _panel_times(hs[s], n0, n1 - n0, H, ap[task], bp, hw)
            for n in range(n0, n1):
                _forward_row(mode, hw[n], xw[t, n], b_hh, hs[s, n], hs[s + 1, n], s, n, cs, gates, hn)


@njit(cache=True, inline="always")
def _backward_row(mode, go, dh, dc, dx, dr, hnew, hprev, s, n, cs, gates, hn):
    """One batch row of one step of BPTT: dx, dr from dh + go (and dc); dc becomes the previous
    step's; for the GRU dh becomes its direct part z dh (the W_hh part is added by the caller)."""
    H = hnew.shape[0]
    one = hnew.dtype.type(1)
    if mode == TANH:
        for j in range(H):
            h = hnew[j]
            d = (dh[j] + go[j]) * (one - h * h)
            dx[j] = d
            dr[j] = d
    elif mode == RELU:
        for j in range(H):
            d = dh[j] + go[j] if hnew[j] > 0 else 0 * dh[j]
            dx[j] = d
            dr[j] = d
    elif mode == LSTM:
        g, c_, cprev = gates[s, n], cs[s + 1, n], cs[s, n]
        for j in range(H):
            i_, f_, g_, o_ = g[j], g[H + j], g[2 * H + j], g[3 * H + j]
            d = dh[j] + go[j]
            tc = _tanh(c_[j])
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
            d = dh[j] + go[j]
            dn = d * (one - z) * (one - nn_ * nn_)
            dz = d * (hprev[j] - nn_) * z * (one - z)
            drr = dn * hh[j] * r * (one - r)
            dx[j], dx[H + j], dx[2 * H + j] = drr, dz, dn
            dr[j], dr[H + j], dr[2 * H + j] = drr, dz, dn * r
            dh[j] = d * z


def _sequence_backward(mode, gout, gh, gc, w_hh, reverse, hs, cs, gates, hn, dxw, dhw):
    """Backpropagation through time.

    gout: (L, N, H) gradient of the outputs (time order); gh, gc: (N, H) gradients of h_n and c_n
    (updated in place into those of h0 and c0); w_hh: (G*H, H), contiguous.
    Fills dxw (L, N, G*H), the gradient of xw (time order), and dhw (L, N, G*H), that of the
    pre-activation's recurrent part h W_hh^T + b_hh (processing order): the same numbers except
    for the GRU's n gate, whose recurrent part is scaled by r.
    """
    L, N, GH = dxw.shape
    H = gh.shape[1]
    back = np.empty((N, H), dtype=gh.dtype)
    bp = np.empty(((H + NR - 1) // NR, GH * NR), dtype=gh.dtype)
    _pack_b(bp, w_hh, False, 0, H, 0, GH)  # W_hh (G*H, H) in NR-column panels, once for all steps
    ntasks = (N + MR - 1) // MR
    ap = np.empty((ntasks, 1, GH * MR), dtype=gh.dtype)
    for s in range(L - 1, -1, -1):
        t = L - 1 - s if reverse else s
        for task in prange(ntasks):
            n0, n1 = task * MR, min(N, task * MR + MR)
            for n in range(n0, n1):
                _backward_row(mode, gout[t, n], gh[n], gc[n], dxw[t, n], dhw[s, n], hs[s + 1, n], hs[s, n], s, n,
                              cs, gates, hn)
            _panel_times(dhw[s], n0, n1 - n0, GH, ap[task], bp, back)  # the path through W_hh: dr W_hh
            for n in range(n0, n1):
                for j in range(H):
                    gh[n, j] = gh[n, j] + back[n, j] if mode == GRU else back[n, j]


# Each step is one parallel region; its threads meet at a barrier L times per call. Below about
# 4M multiply-adds per step (N * G*H * H) that costs more than the second core gives back (RNN
# 28->128, batch 64: 1M, and 3x slower on two threads of a busy machine), so small layers run
# the same code serially.
PARALLEL_MIN_WORK = 1 << 22
# Compiled like the GEMM (matmul.py): SLP on, so that the register tile's rows become SIMD registers.
_parallel = njit(cache=True, parallel=True, fastmath={"contract"}, error_model="numpy")
_serial = njit(cache=True, fastmath={"contract"}, error_model="numpy")  # (prange runs as range; see variant.py)
sequence_forward = slp_vectorized(_parallel(_sequence_forward))
sequence_backward = slp_vectorized(_parallel(_sequence_backward))
sequence_forward_serial = slp_vectorized(_serial(variant(_sequence_forward, "_serial")))
sequence_backward_serial = slp_vectorized(_serial(variant(_sequence_backward, "_serial")))
