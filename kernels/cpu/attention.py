"""Fused scaled dot-product attention on the CPU: tiled, with an online softmax (the FlashAttention-2 scheme).

The plain version (contract.Backend.attention_forward) builds the whole (L, S) score matrix per
head. These kernels never do: they walk the keys in blocks of `bc` columns for a block of `br`
query rows, and keep per row only the running maximum m, the running sum l of exp(score - m)
and the running output. A new block with a larger maximum rescales what was summed so far by
exp(m_old - m_new). The forward pass saves the output and each row's log-sum-exp
lse = m + log(l); the backward pass recomputes each score tile and its probabilities
P = exp(score - lse) from them, so its extra memory is a few tiles per thread. Each tile product
runs on the GEMM's 8x16 register micro-kernel (micro.py) after packing its two operands.

Arrays: q (N, L, E), k (N, S, E), v (N, S, Ev), C-contiguous, float32 or float64 (one dtype);
mask (M, Lm, Sm) additive (-inf = masked out), Lm in {1, L}, Sm in {1, S}, picked per batch row
by mask_index (N,). Work is split over the batch*heads (and, in the forward pass, query blocks)
with prange. A row with nothing to attend to gets output 0 and lse = +inf (its gradients are 0).
ibits/fbits: per-task scratch rows (int and the same memory as floats) for the exponentials.
"""
import numpy as np
from numba import njit, prange

from .matmul import _pack_a, _pack_b, slp_vectorized
from .micro import MR, NR, micro_kernel

# As for the GEMM (matmul.py): FMA contraction only, so that the SLP vectoriser keeps the micro-kernel's
# register tile; and no flag about NaN or inf, since masks rely on -inf.
_FLAGS = {"contract"}


@njit(cache=True, fastmath=_FLAGS)
def _tile(A, a_km, B, b_nk, C, m, n, kk, add, ap, bp):
    """C[:m, :n] (+= when add, else =) A[:m, :kk] @ B[:kk, :n] on the GEMM's packed micro-kernel.

    A is stored (kk, m) when a_km, B is stored (n, kk) when b_nk: packing absorbs the transposes.
    ap, bp: packing buffers of at least (ceil(m / MR), kk * MR) and (ceil(n / NR), kk * NR).
    """
    _pack_a(ap, A, a_km, 0, m, 0, kk)
    _pack_b(bp, B, b_nk, 0, n, 0, kk)
    for jp in range((n + NR - 1) // NR):
        cols = min(NR, n - jp * NR)
        for ip in range((m + MR - 1) // MR):
            micro_kernel(kk, ap[ip], bp[jp], C, ip * MR, jp * NR, min(MR, m - ip * MR), cols, add)


# exp(x) = 2^n exp(r), n = round(x / ln 2), |r| <= ln(2) / 2: a polynomial for exp(r), and 2^n made by
# writing n + bias into a float's exponent bits (an int array seen through a float view). libm's exp,
# which Numba calls one element at a time, would be the scores' main cost (~15 ns each).
_LN2_HI, _LN2_LO = 0.693145751953125, 1.42860682030941723212e-6  # ln 2 split: n * _LN2_HI is exact


@njit(inline="always")
def _exp_rows(s, rows, cols, shift, ibits, fbits):
    """s[r, :cols] = exp(s[r, :cols] - shift[r]) for r < rows; exactly 0 where that is below the dtype's
    smallest normal exponent (and for -inf, the masked scores); NaN stays NaN. ibits: (>= cols,) int32
    (float32) or int64 (float64) scratch, fbits: the same memory seen as s's dtype."""
    f = s.dtype.type
    single = s.itemsize == 4
    lo = f(-87.0) if single else f(-708.0)
    log2e, hi_, lo_ = f(1.4426950408889634), f(_LN2_HI), f(_LN2_LO)
    magic = f(12582912.0) if single else f(6755399441055744.0)  # 1.5 * 2^23, 1.5 * 2^52: rounds on adding
    bias, mant = (127, 23) if single else (1023, 52)
    it = ibits.dtype.type
    for r in range(rows):
        sr = s[r]
        sh = shift[r]
        for c in range(cols):
            x = sr[c] - sh
            xc = lo if x < lo else x
            nf = (xc * log2e + magic) - magic
            y = xc - nf * hi_ - nf * lo_
            if single:
                p = f(1 / 5040) + y * f(1 / 40320)
            else:
                p = f(1 / 6227020800) + y * f(1 / 87178291200)
                p = f(1 / 479001600) + y * p
                p = f(1 / 39916800) + y * p
                p = f(1 / 3628800) + y * p
                p = f(1 / 362880) + y * p
                p = f(1 / 40320) + y * p
                p = f(1 / 5040) + y * p
            p = f(1 / 720) + y * p
            p = f(1 / 120) + y * p
            p = f(1 / 24) + y * p
            p = f(1 / 6) + y * p
            p = f(0.5) + y * p
            p = f(1) + y * p
            p = f(1) + y * p
            sr[c] = f(0) if x <= lo else p
            ibits[c] = (it(nf) + bias) << mant
        for c in range(cols):
            sr[c] *= fbits[c]


@njit(inline="always")
def _buffers(dt, E, Ev, br, bc):
    """Packing buffers big enough for every tile product of the attention kernels."""
    big = max(E, Ev, br, bc)
    return (np.empty(((big + MR - 1) // MR, big * MR), dt), np.empty(((big + NR - 1) // NR, big * NR), dt))


@njit(inline="always")
def _scores(qs, kj, s, rows, cols, mask, mi, has_mask, causal, i0, j0, E, ap, bp):
    """s[:rows, :cols] = qs @ kj^T (qs: scaled query rows i0.., kj: keys j0.., (cols, E)), plus the
    mask, -inf where key j > query i when causal."""
    ninf = -np.inf
    lm, sm = mask.shape[1], mask.shape[2]
    _tile(qs, False, kj, True, s, rows, cols, E, False, ap, bp)
    for r in range(rows):
        sr = s[r]
        if has_mask:
            mrow = mask[mi, i0 + r if lm > 1 else 0]
            for c in range(cols):
                sr[c] += mrow[j0 + c if sm > 1 else 0]
        if causal:
            for c in range(max(0, i0 + r + 1 - j0), cols):
                sr[c] = ninf


@slp_vectorized
@njit(cache=True, parallel=True, fastmath=_FLAGS)
def attention_forward(q, k, v, mask, mask_index, has_mask, causal, scale, out, lse, br, bc, ibits, fbits):
    """Fill out (N, L, Ev) = softmax(q k^T scale + mask) v and lse (N, L), block by block."""
    n_batch, L, E = q.shape
    S, Ev = k.shape[1], v.shape[2]
    dt = q.dtype
    f = dt.type
    sc = f(scale)
    ninf = -np.inf
    blocks = (L + br - 1) // br
    for task in prange(n_batch * blocks):
        n = task // blocks
        i0 = (task % blocks) * br
        rows = min(L, i0 + br) - i0
        qs = np.empty((rows, E), dt)
        s = np.empty((rows, bc), dt)
        ap, bp = _buffers(dt, E, Ev, br, bc)
        acc = np.zeros((rows, Ev), dt)
        m = np.full(rows, ninf, dt)
        tot = np.zeros(rows, dt)
        shift = np.empty(rows, dt)
        for r in range(rows):
            for d in range(E):
                qs[r, d] = q[n, i0 + r, d] * sc
        jend = min(S, i0 + rows) if causal else S
        for j0 in range(0, jend, bc):
            cols = min(jend, j0 + bc) - j0
            _scores(qs, k[n, j0:], s, rows, cols, mask, mask_index[n], has_mask, causal, i0, j0, E, ap, bp)
            for r in range(rows):
                sr = s[r]
                mx = m[r]
                for c in range(cols):
                    mx = max(mx, sr[c])
                shift[r] = np.inf if mx == ninf else mx  # nothing to attend to so far: exp gives 0s
            _exp_rows(s, rows, cols, shift, ibits[task], fbits[task])
            for r in range(rows):
                if shift[r] == np.inf:
                    continue
                sr = s[r]
                alpha = np.exp(m[r] - shift[r])
                t = f(0)
                for c in range(cols):
                    t += sr[c]
                tot[r] = tot[r] * alpha + t
                m[r] = shift[r]
                if alpha != 1:
                    ar = acc[r]
                    for e in range(Ev):
                        ar[e] *= alpha
            _tile(s, False, v[n, j0:], False, acc, rows, Ev, cols, True, ap, bp)
        for r in range(rows):
            if tot[r] == 0:
                lse[n, i0 + r] = np.inf
                for e in range(Ev):
                    out[n, i0 + r, e] = 0
            else:
                lse[n, i0 + r] = m[r] + np.log(tot[r])
                inv = 1 / tot[r]
                for e in range(Ev):
                    out[n, i0 + r, e] = acc[r, e] * inv


@slp_vectorized
@njit(cache=True, parallel=True, fastmath=_FLAGS)
def attention_backward(gout, q, k, v, out, lse, mask, mask_index, has_mask, causal, scale, gq, gk, gv, br, bc,
                       ibits, fbits):
    """Fill gq, gk, gv (the shapes of q, k, v) from gout (N, L, Ev) and the forward's out and lse.

    One head per task: for each key block j, for each query block i (from the diagonal on when
    causal), P = exp(S_ij - lse_i), gv_j += P^T gout_i, gS = P (gout_i v_j^T - delta_i) scale,
    gq_i += gS k_j, gk_j += gS^T q_i, with delta_i = rowsum(gout_i * out_i).
    """
    n_batch, L, E = q.shape
    S, Ev = k.shape[1], v.shape[2]
    dt = q.dtype
    f = dt.type
    sc = f(scale)
    for n in prange(n_batch):
        delta = np.empty(L, dt)
        for i in range(L):
            t = f(0)
            for e in range(Ev):
                t += gout[n, i, e] * out[n, i, e]
            delta[i] = t
        gqn = gq[n]
        for i in range(L):
            for d in range(E):
                gqn[i, d] = 0
        qs = np.empty((br, E), dt)
        s = np.empty((br, bc), dt)
        ap, bp = _buffers(dt, E, Ev, br, bc)
        dp = np.empty((br, bc), dt)
        gk_acc = np.empty((bc, E), dt)
        gv_acc = np.empty((bc, Ev), dt)
        for j0 in range(0, S, bc):
            cols = min(S, j0 + bc) - j0
            for c in range(cols):
                for d in range(E):
                    gk_acc[c, d] = 0
                for e in range(Ev):
                    gv_acc[c, e] = 0
            first = (j0 // br) * br if causal else 0
            for i0 in range(first, L, br):
                rows = min(L, i0 + br) - i0
                for r in range(rows):
                    for d in range(E):
                        qs[r, d] = q[n, i0 + r, d] * sc
                _scores(qs, k[n, j0:], s, rows, cols, mask, mask_index[n], has_mask, causal, i0, j0, E, ap, bp)
                _exp_rows(s, rows, cols, lse[n, i0:], ibits[n], fbits[n])
                go = gout[n, i0:]
                _tile(s, True, go, False, gv_acc, cols, Ev, rows, True, ap, bp)
                _tile(go, False, v[n, j0:], True, dp, rows, cols, Ev, False, ap, bp)
                for r in range(rows):
                    sr = s[r]
                    dr = dp[r]
                    dl = delta[i0 + r]
                    for c in range(cols):
                        dr[c] = sr[c] * (dr[c] - dl) * sc
                _tile(dp, False, k[n, j0:], False, gqn[i0:], rows, E, cols, True, ap, bp)
                _tile(dp, True, q[n, i0:], False, gk_acc, cols, E, rows, True, ap, bp)
            for c in range(cols):
                for d in range(E):
                    gk[n, j0 + c, d] = gk_acc[c, d]
                for e in range(Ev):
                    gv[n, j0 + c, e] = gv_acc[c, e]


# ------------------------------------------------------------------ short sequences: one head as one tile
# When S is short (SHORT_MAX keys or fewer) a 64 x 64 tile covers whole rows anyway, and the online
# rescaling and per-tile packing cost as much as the arithmetic. These kernels take one head per task and
# hold its (L, S) scores as one tile (at most L x SHORT_MAX per task; long sequences take the tiled kernels
# above, which never hold L x S): a whole-row softmax, each operand packed once, and with is_causal the
# micro-tiles right of the diagonal skipped.
SHORT_MAX = 128


@njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def _row_sum(x, cols):
    t = x.dtype.type(0)
    for c in range(cols):
        t += x[c]
    return t


@njit(cache=True, fastmath={"reassoc", "nnan", "nsz"})
def _row_max(x, cols):
    """max(x[:cols]); a NaN score makes the row's sum (and so its output) NaN whatever this returns."""
    m = x.dtype.type(-np.inf)
    for c in range(cols):
        y = x[c]
        m = y if y > m else m
    return m


@njit(inline="always")
def _products(ap, bp, C, m, n, kk, causal, mode, add):
    """C[:m, :n] (+)= A @ B from packed panels (A: m x kk, B: kk x n). With causal (key j <= query i):
    mode 0 skips the B panels right of the diagonal (C is scores, indexed [i, j]); mode 1 stops each row
    panel's k at the diagonal (A is indexed [i, j]); mode 2 starts it there (A is indexed [j, i])."""
    jn = (n + NR - 1) // NR
    for ip in range((m + MR - 1) // MR):
        i0 = ip * MR
        rows = min(MR, m - i0)
        k0, k1, jend = 0, kk, jn
        if causal:
            if mode == 0:
                jend = min(jn, (i0 + rows - 1) // NR + 1)
            elif mode == 1:
                k1 = min(kk, i0 + rows)
            else:
                k0 = min(kk, i0)
        for jp in range(jend):
            micro_kernel(k1 - k0, ap[ip, k0 * MR:], bp[jp, k0 * NR:], C, i0, jp * NR, rows, min(NR, n - jp * NR),
                         add)


@njit(cache=True, fastmath={"reassoc", "nnan", "nsz", "contract"})
def _scale_add_max(x, sc, add, cols):
    """x[:cols] = x[:cols] * sc + add[:cols] -> max(x[:cols]) in one pass (a NaN score makes the row's sum,
    and so its output, NaN whatever the maximum returned)."""
    m = x.dtype.type(-np.inf)
    for c in range(cols):
        y = x[c] * sc + add[c]
        x[c] = y
        m = y if y > m else m
    return m


@njit(inline="always")
def _softmax_rows(s, L, S, mask, mi, has_mask, causal, sc, lse_n, forward, ibits, fbits):
    """Turn the raw scores s (L, S) into probabilities: scale, mask (-inf past key i when causal), then
    exp against each row's maximum (forward: normalised, lse_n filled) or against lse_n (backward).
    Whole rows of S in each pass, so that every loop vectorises (the masked entries are exactly 0)."""
    f = s.dtype.type
    lm, sm = mask.shape[1], mask.shape[2]
    shift = np.empty(L, s.dtype)
    add = np.zeros(S, s.dtype)  # row i's additive mask: the user's row, -inf past key i when causal
    for i in range(L):
        sr = s[i]
        if has_mask:
            mrow = mask[mi, i if lm > 1 else 0]
            for c in range(S):
                add[c] = mrow[c if sm > 1 else 0]
            if causal:
                for c in range(i + 1, S):
                    add[c] = -np.inf
        elif causal:  # rows run in order: only one entry changes from one row to the next
            if i == 0:
                for c in range(1, S):
                    add[c] = -np.inf
            elif i < S:
                add[i] = 0
        mx = _scale_add_max(sr, sc, add, S)
        if forward:
            shift[i] = np.inf if mx == -np.inf else mx  # nothing to attend to: exp gives 0s
        else:
            shift[i] = lse_n[i]
    _exp_rows(s, L, S, shift, ibits, fbits)
    if forward:
        for i in range(L):
            sr = s[i]
            t = _row_sum(sr, S)
            if t == 0:  # as the tiled kernel: probabilities 0, lse +inf
                lse_n[i] = np.inf
                continue
            lse_n[i] = shift[i] + np.log(t)
            inv = f(1) / t
            for c in range(S):
                sr[c] *= inv


@slp_vectorized
@njit(cache=True, parallel=True, fastmath=_FLAGS)
def attention_forward_short(q, k, v, mask, mask_index, has_mask, causal, scale, out, lse, ibits, fbits):
    """attention_forward for S <= SHORT_MAX (same arguments, no tile sizes): per head, P = softmax(q k^T
    scale + mask) whole rows at a time, out = P v."""
    n_batch, L, E = q.shape
    S, Ev = k.shape[1], v.shape[2]
    dt = q.dtype
    sc = dt.type(scale)
    for n in prange(n_batch):
        ap, bp = _buffers(dt, E, Ev, L, S)
        s = np.zeros((L, S), dt)  # zeros where the causal products skip: no stray NaN or subnormal is read
        _pack_a(ap, q[n], False, 0, L, 0, E)
        _pack_b(bp, k[n], True, 0, S, 0, E)
        _products(ap, bp, s, L, S, E, causal, 0, False)
        _softmax_rows(s, L, S, mask, mask_index[n], has_mask, causal, sc, lse[n], True, ibits[n], fbits[n])
        _pack_a(ap, s, False, 0, L, 0, S)
        _pack_b(bp, v[n], False, 0, Ev, 0, S)
        _products(ap, bp, out[n], L, Ev, S, causal, 1, False)


@slp_vectorized
@njit(cache=True, parallel=True, fastmath=_FLAGS)
def attention_backward_short(gout, q, k, v, out, lse, mask, mask_index, has_mask, causal, scale, gq, gk, gv,
                             ibits, fbits):
    """attention_backward for S <= SHORT_MAX: per head, P recomputed from lse, gv = P^T gout,
    gS = P (gout v^T - delta) scale, gq = gS k, gk = gS^T q (delta_i = rowsum(gout_i * out_i))."""
    n_batch, L, E = q.shape
    S, Ev = k.shape[1], v.shape[2]
    dt = q.dtype
    f = dt.type
    sc = f(scale)
    for n in prange(n_batch):
        ap, bp = _buffers(dt, E, Ev, L, S)
        s = np.zeros((L, S), dt)
        dp = np.zeros((L, S), dt)
        _pack_a(ap, q[n], False, 0, L, 0, E)
        _pack_b(bp, k[n], True, 0, S, 0, E)
        _products(ap, bp, s, L, S, E, causal, 0, False)
        _softmax_rows(s, L, S, mask, mask_index[n], has_mask, causal, sc, lse[n], False, ibits[n], fbits[n])
        _pack_a(ap, gout[n], False, 0, L, 0, Ev)
        _pack_b(bp, v[n], True, 0, S, 0, Ev)
        _products(ap, bp, dp, L, S, Ev, causal, 0, False)
        for i in range(L):
            dl = _row_sum_product(gout[n, i], out[n, i], Ev)
            pr, dr = s[i], dp[i]
            for c in range(S):
                dr[c] = pr[c] * (dr[c] - dl) * sc
        _pack_a(ap, s, True, 0, S, 0, L)
        _pack_b(bp, gout[n], False, 0, Ev, 0, L)
        _products(ap, bp, gv[n], S, Ev, L, causal, 2, False)
        _pack_a(ap, dp, False, 0, L, 0, S)
        _pack_b(bp, k[n], False, 0, E, 0, S)
        _products(ap, bp, gq[n], L, E, S, causal, 1, False)
        _pack_a(ap, dp, True, 0, S, 0, L)
        _pack_b(bp, q[n], False, 0, E, 0, L)
        _products(ap, bp, gk[n], S, E, L, causal, 2, False)


@njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def _row_sum_product(a, b, cols):
    t = a.dtype.type(0)
    for c in range(cols):
        t += a[c] * b[c]
    return t
