"""Fused scaled dot-product attention on the CPU: tiled, with an online softmax (the FlashAttention-2 scheme).

The plain version (contract.Backend.attention_forward) builds the whole (L, S) score matrix per
head. These kernels never do: they walk the keys in blocks of `bc` columns for a block of `br`
query rows, and keep per row only the running maximum m, the running sum l of exp(score - m)
and the running output. A new block with a larger maximum rescales what was summed so far by
exp(m_old - m_new). The forward pass saves the output and each row's log-sum-exp
lse = m + log(l); the backward pass recomputes each score tile and its probabilities
P = exp(score - lse) from them, so its extra memory is a few tiles per thread.

Arrays: q (N, L, E), k (N, S, E), v (N, S, Ev), C-contiguous, float32 or float64 (one dtype);
mask (M, Lm, Sm) additive (-inf = masked out), Lm in {1, L}, Sm in {1, S}, picked per batch row
by mask_index (N,). Work is split over the batch*heads (and, in the forward pass, query blocks)
with prange. A row with nothing to attend to gets output 0 and lse = +inf (its gradients are 0).
"""
import numpy as np
from numba import njit, prange

# Reassociation lets LLVM vectorise the sums; no flag about NaN or inf: masks rely on -inf.
_FLAGS = {"reassoc", "contract"}


@njit(inline="always", fastmath=_FLAGS)
def _mm_acc(a, b, c, m, kk, n):
    """c[:m, :n] += a[:m, :kk] @ b[:kk, :n] (b's rows contiguous; zeros in a are skipped)."""
    for i in range(m):
        ci = c[i]
        for p in range(kk):
            x = a[i, p]
            if x != 0:
                bp = b[p]
                for j in range(n):
                    ci[j] += x * bp[j]


@njit(inline="always", fastmath=_FLAGS)
def _mm_tn_acc(a, b, c, m, kk, n):
    """c[:m, :n] += a[:kk, :m]^T @ b[:kk, :n]."""
    for p in range(kk):
        ap = a[p]
        bp = b[p]
        for i in range(m):
            x = ap[i]
            if x != 0:
                ci = c[i]
                for j in range(n):
                    ci[j] += x * bp[j]


@njit(inline="always", fastmath=_FLAGS)
def _scores(qs, kt, s, rows, cols, mask, mi, has_mask, causal, i0, j0, E):
    """s[:rows, :cols] = qs @ kt (qs: scaled query rows i0.., kt: (E, bc) keys j0.. transposed), plus
    the mask, -inf where key j > query i when causal."""
    ninf = -np.inf
    lm, sm = mask.shape[1], mask.shape[2]
    for r in range(rows):
        sr = s[r]
        for c in range(cols):
            sr[c] = 0
    _mm_acc(qs, kt, s, rows, E, cols)
    for r in range(rows):
        sr = s[r]
        if has_mask:
            mrow = mask[mi, i0 + r if lm > 1 else 0]
            for c in range(cols):
                sr[c] += mrow[j0 + c if sm > 1 else 0]
        if causal:
            for c in range(max(0, i0 + r + 1 - j0), cols):
                sr[c] = ninf


@njit(cache=True, parallel=True, fastmath=_FLAGS)
def attention_forward(q, k, v, mask, mask_index, has_mask, causal, scale, out, lse, br, bc):
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
        kt = np.empty((E, bc), dt)
        s = np.empty((rows, bc), dt)
        acc = np.zeros((rows, Ev), dt)
        m = np.full(rows, ninf, dt)
        tot = np.zeros(rows, dt)
        for r in range(rows):
            for d in range(E):
                qs[r, d] = q[n, i0 + r, d] * sc
        jend = min(S, i0 + rows) if causal else S
        for j0 in range(0, jend, bc):
            cols = min(jend, j0 + bc) - j0
            for c in range(cols):
                for d in range(E):
                    kt[d, c] = k[n, j0 + c, d]
            _scores(qs, kt, s, rows, cols, mask, mask_index[n], has_mask, causal, i0, j0, E)
            for r in range(rows):
                sr = s[r]
                mx = m[r]
                for c in range(cols):
                    mx = max(mx, sr[c])
                if mx == ninf:  # nothing to attend to in this row so far
                    for c in range(cols):
                        sr[c] = 0
                    continue
                alpha = np.exp(m[r] - mx)
                t = f(0)
                for c in range(cols):
                    p = np.exp(sr[c] - mx)
                    sr[c] = p
                    t += p
                tot[r] = tot[r] * alpha + t
                m[r] = mx
                if alpha != 1:
                    ar = acc[r]
                    for e in range(Ev):
                        ar[e] *= alpha
            _mm_acc(s, v[n, j0:], acc, rows, cols, Ev)
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


@njit(cache=True, parallel=True, fastmath=_FLAGS)
def attention_backward(gout, q, k, v, out, lse, mask, mask_index, has_mask, causal, scale, gq, gk, gv, br, bc):
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
        kt = np.empty((E, bc), dt)
        vt = np.empty((Ev, bc), dt)
        s = np.empty((br, bc), dt)
        dp = np.empty((br, bc), dt)
        gk_acc = np.empty((bc, E), dt)
        gv_acc = np.empty((bc, Ev), dt)
        for j0 in range(0, S, bc):
            cols = min(S, j0 + bc) - j0
            for c in range(cols):
                for d in range(E):
                    kt[d, c] = k[n, j0 + c, d]
                    gk_acc[c, d] = 0
                for e in range(Ev):
                    vt[e, c] = v[n, j0 + c, e]
                    gv_acc[c, e] = 0
            first = (j0 // br) * br if causal else 0
            for i0 in range(first, L, br):
                rows = min(L, i0 + br) - i0
                for r in range(rows):
                    for d in range(E):
                        qs[r, d] = q[n, i0 + r, d] * sc
                _scores(qs, kt, s, rows, cols, mask, mask_index[n], has_mask, causal, i0, j0, E)
                for r in range(rows):
                    sr = s[r]
                    lr = lse[n, i0 + r]
                    for c in range(cols):
                        sr[c] = np.exp(sr[c] - lr)
                    dr = dp[r]
                    for c in range(cols):
                        dr[c] = 0
                go = gout[n, i0:]
                _mm_tn_acc(s, go, gv_acc, cols, rows, Ev)
                _mm_acc(go, vt, dp, rows, Ev, cols)
                for r in range(rows):
                    sr = s[r]
                    dr = dp[r]
                    dl = delta[i0 + r]
                    for c in range(cols):
                        dr[c] = sr[c] * (dr[c] - dl) * sc
                _mm_acc(dp, k[n, j0:], gqn[i0:], rows, cols, E)
                _mm_tn_acc(dp, q[n, i0:], gk_acc, cols, rows, E)
            for c in range(cols):
                for d in range(E):
                    gk[n, j0 + c, d] = gk_acc[c, d]
                for e in range(Ev):
                    gv[n, j0 + c, e] = gv_acc[c, e]
