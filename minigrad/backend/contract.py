"""The backend contract: every kernel a device's backend provides, and how a module becomes a backend.

A backend is a flat module of plain functions on raw arrays, plus two names: `name` (a short
string) and `xp` (its array module: numpy, cupy, ...). `numpy_backend` is the readable one and
the test oracle; `cpu_backend` ("numba") and `cuda_backend` ("cuda") run the same maths as
compiled kernels. The class `Backend` below states the contract: its methods are the kernels,
documented with their shapes and dtypes.

  * Required kernels (marked @required) every backend module defines, with exactly the
    parameter names written here: matmul, the conv2d and the pooling kernels.
  * Optional kernels (the fused ones) have a reference version here, written with the
    backend's own array module `self.xp`, so on a GPU they run on the GPU's arrays. A backend
    module defines one only when it has something faster; where its kernel does not apply (a
    dtype, a layout) it calls the reference itself: `reference(xp).<kernel>(...)`.
  * The memory helpers (on_device, to_host, from_host) move arrays between the host and the
    device; their references suit any device whose arrays are numpy arrays.

`bind(module)` checks a module against the contract and returns the `Backend` object that
`Device.backend`, `Function.backend` and `get_backend(device)` hand out. Its kernels are plain
attributes (the module's functions, or the references), so `backend.matmul(a, b)` costs one
attribute lookup. A module without a required kernel, or with parameters named otherwise, is
refused with a ContractError naming the backend and the kernel.

Add a kernel: state it here, either as a @required stub (then numpy_backend and every other
backend define it) or as an optional method whose body is the reference (then only the
backends with a faster version define it). Ops call it as `self.backend.<kernel>(...)`.

Add a device: write one backend module (`name`, `xp`, the required kernels) and add one line to
the registry in minigrad/backend/__init__.py (or call `register_device` from your own code).
"""
import contextlib
import functools
import inspect
import math

import numpy as np


_erf_elementwise = np.vectorize(math.erf, otypes=[np.float64])


class ContractError(TypeError):
    """A backend module that does not meet the contract."""


def required(kernel):
    """Mark a kernel every backend must define; the stub's body is its documentation only."""
    @functools.wraps(kernel)  # keeps the name, the docstring and (through __wrapped__) the parameters
    def missing(self, *args, **kwargs):
        raise NotImplementedError(f"backend {self.name!r} has no {kernel.__name__} kernel")
    missing.required = True
    return missing


class Backend:
    """The kernels of one backend. x: (N, C, H, W) images, w: (O, C // groups, KH, KW) filters;
    stride, padding, dilation and kernel_size are pairs (rows, cols). Float kernels take float32
    or float64 arrays and return the input's dtype. Arguments arrive validated by the ops."""

    def __init__(self, name, xp, module=None):
        self.name, self.xp, self.module = name, xp, module

    def __repr__(self):
        return f"<Backend {self.name!r}" + (f" from {self.module.__name__}>" if self.module else ">")

    # ------------------------------------------------------------------ required kernels
    @required
    def matmul(self, a, b):
        """a: (..., M, K), b: (..., K, N) -> (..., M, N), batch dimensions broadcast as np.matmul."""

    @required
    def conv2d_forward(self, x, w, stride, padding, dilation, groups, bias=None):
        """x: (N, C, H, W), w: (O, C // groups, KH, KW), bias: (O,) or None -> y: (N, O, OH, OW)."""

    @required
    def conv2d_backward_input(self, gy, w, x_shape, stride, padding, dilation, groups):
        """gy: (N, O, OH, OW), w: (O, C // groups, KH, KW) -> gx: x_shape (the transposed convolution)."""

    @required
    def conv2d_backward_weight(self, gy, x, w_shape, stride, padding, dilation, groups):
        """gy: (N, O, OH, OW), x: (N, C, H, W) -> gw: w_shape."""

    @required
    def conv2d_backward_bias(self, gy):
        """gy: (N, O, OH, OW) -> (O,): summed over the batch and the pixels."""

    @required
    def max_pool2d_forward(self, x, kernel_size, stride, padding, dilation, indices=True):
        """x: (N, C, H, W) -> (y (N, C, OH, OW), indices int64 (N, C, OH, OW)): each maximum's flat
        position in its H*W plane. With indices=False a backend may return None for them."""

    @required
    def max_pool2d_backward(self, gy, indices, x_shape):
        """gy, indices: (N, C, OH, OW) -> gx: x_shape, each gradient sent to the input that won its window."""

    @required
    def avg_pool2d_forward(self, x, kernel_size, stride, padding, count_include_pad=True):
        """x: (N, C, H, W) -> (N, C, OH, OW) window means (padding counted in the divisor if count_include_pad)."""

    @required
    def avg_pool2d_backward(self, gy, x_shape, kernel_size, stride, padding, count_include_pad=True):
        """gy: (N, C, OH, OW) -> gx: x_shape, each gradient spread evenly over its window."""

    # ------------------------------------------------------------------ optional fused kernels
    def relu_forward(self, x):
        """max(x, 0), any shape; NaN stays NaN."""
        return self.xp.maximum(x, 0)

    def relu_backward(self, gy, y):
        """gy where the ReLU output y is positive, else 0; gy, y: the same shape."""
        return gy * (y > 0)

    def softmax_cross_entropy(self, x, t, weight, ignore_index, eps):
        """Per-row softmax cross-entropy of logits x: (N, C) against classes t: (N,) (integers).

        weight: (C,) class weights or None; rows whose target is ignore_index count zero;
        eps: label smoothing. With a_ic = (1 - eps) w_t [c == t_i] + eps w_c / C,
            loss_i = -sum_c a_ic log softmax(x_i)_c,  grad_i = softmax(x_i) sum_c a_ic - a_i.
        -> (loss (N,), grad (N, C), target weight (N,): w_t, or 1, and 0 on ignored rows).
        """
        xp = self.xp
        n, c = x.shape
        shifted = x - x.max(axis=1, keepdims=True)
        e = xp.exp(shifted)
        sum_e = e.sum(axis=1, keepdims=True)
        logp = shifted - xp.log(sum_e)
        valid = t != ignore_index
        tt = xp.where(valid, t, 0)
        wt = (weight[tt] if weight is not None else xp.ones(n, dtype=x.dtype)) * valid
        a = xp.zeros_like(x)
        a[xp.arange(n), tt] = (1 - eps) * wt
        if eps:
            a += (eps / c) * (weight if weight is not None else 1.0) * valid[:, None]
        loss = -(a * logp).sum(axis=1)
        grad = (e / sum_e) * a.sum(axis=1, keepdims=True) - a
        return loss, grad, wt

    def adam_update(self, p, g, m, v, vmax, lr, b1, b2, eps, wd, decoupled, bc1, bc2):
        """One Adam (decoupled: AdamW) step, in place on p and on its moments m, v (and vmax, the running
        maximum of v, unless None). All arrays share p's shape; bc1 = 1 - b1^t, bc2 = 1 - b2^t. -> None.
            m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
        """
        if wd:
            if decoupled:
                p *= 1 - lr * wd
            else:
                g = g + wd * p
        m += (g - m) * (1 - b1)  # lerp towards g, as torch computes it
        v *= b2
        v += (1 - b2) * g * g
        if vmax is not None:
            self.xp.maximum(vmax, v, out=vmax)
            v = vmax
        denom = self.xp.sqrt(v) / math.sqrt(bc2) + eps
        p -= (lr / bc1) * (m / denom)

    def sgd_update(self, p, g, buf, lr, momentum, dampening, wd, nesterov, first):
        """One SGD step, in place on p; buf: the momentum buffer (p's shape; None without momentum),
        overwritten with g on the first step. -> None.
            buf = momentum buf + (1 - dampening) g;  p -= lr (g + momentum buf if nesterov else buf)
        """
        if wd:
            g = g + wd * p
        if momentum:
            if first:
                buf[...] = g
            else:
                buf *= momentum
                buf += (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p -= lr * g

    def erf(self, x):
        """x: any shape, float -> the error function elementwise, in x's dtype (GELU needs it).
        numpy has none, so the reference evaluates math.erf per element; a GPU backend must bring its own."""
        if self.xp is not np:
            raise NotImplementedError(f"backend {self.name!r} has no erf kernel (needed by gelu)")
        return _erf_elementwise(x).astype(x.dtype, copy=False)

    def gelu_tanh(self, x):
        """GELU's tanh approximation and its derivative: x any shape, float -> (y, slope), x's dtype.
            t = tanh(k (x + 0.044715 x^3)), k = sqrt(2 / pi);  y = x (1 + t) / 2
            slope = dy/dx = (1 + t) / 2 + x (1 - t^2) k (1 + 3 * 0.044715 x^2) / 2
        """
        k = math.sqrt(2 / math.pi)
        x2 = x * x  # not x ** 3: numpy's pow is many times slower than two multiplies
        t = self.xp.tanh(k * x * (1 + 0.044715 * x2))
        slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x2)
        return 0.5 * x * (1 + t), slope

    def rnn_sequence_forward(self, mode, xw, h0, c0, w_hh, b_hh, reverse):
        """Every time step of one direction of a recurrent layer (gate layouts: nn/layers/rnn.py).

        mode: "RNN_TANH", "RNN_RELU", "LSTM" (G = 4) or "GRU" (G = 3; G = 1 otherwise);
        xw: (L, N, G*H) input projections x W_ih^T + b_ih in time order; h0, c0: (N, H) (c0 None
        unless LSTM); w_hh: (G*H, H); b_hh: (G*H,) or None. Steps run in processing order s: time
        t = s, or L - 1 - s when reverse. -> the workspace (hs, cs, gates, hn):
          hs (L+1, N, H): hs[0] = h0, hs[s+1] the state after step s; cs likewise for the LSTM's cell
          (None otherwise); gates (L, N, G*H): LSTM [i, f, g, o] / GRU [r, z, n] after their activations
          (None for RNN); hn (L, N, H): GRU's h W_hn^T + b_hn (None otherwise).
        """
        xp = self.xp
        L, N, _ = xw.shape
        H = h0.shape[1]
        sig = lambda a: 0.5 * (1 + xp.tanh(0.5 * a))  # noqa: E731  (no overflow for large |a|)
        hs = xp.empty((L + 1, N, H), dtype=xw.dtype)
        hs[0] = h0
        cs = gates = hn = None
        if mode == "LSTM":
            cs = xp.empty_like(hs)
            cs[0] = c0
        if mode in ("LSTM", "GRU"):
            gates = xp.empty_like(xw)
        if mode == "GRU":
            hn = xp.empty((L, N, H), dtype=xw.dtype)
        for s in range(L):
            x = xw[L - 1 - s if reverse else s]
            hw = hs[s] @ w_hh.T + (0 if b_hh is None else b_hh)
            if mode == "RNN_TANH":
                hs[s + 1] = xp.tanh(x + hw)
            elif mode == "RNN_RELU":
                hs[s + 1] = xp.maximum(x + hw, 0)
            elif mode == "LSTM":
                a = x + hw
                i, f, g, o = sig(a[:, :H]), sig(a[:, H:2 * H]), xp.tanh(a[:, 2 * H:3 * H]), sig(a[:, 3 * H:])
                cs[s + 1] = f * cs[s] + i * g
                hs[s + 1] = o * xp.tanh(cs[s + 1])
                gates[s] = xp.concatenate([i, f, g, o], axis=1)
            else:
                r, z = sig(x[:, :H] + hw[:, :H]), sig(x[:, H:2 * H] + hw[:, H:2 * H])
                n = xp.tanh(x[:, 2 * H:] + r * hw[:, 2 * H:])
                hs[s + 1] = (1 - z) * n + z * hs[s]
                gates[s] = xp.concatenate([r, z, n], axis=1)
                hn[s] = hw[:, 2 * H:]
        return hs, cs, gates, hn

    def rnn_sequence_backward(self, mode, gout, gh_n, gc_n, w_hh, has_bias, reverse, hs, cs, gates, hn):
        """Backpropagation through time for rnn_sequence_forward, from its workspace (hs, cs, gates, hn).

        gout: (L, N, H) gradient of the outputs hs[1:] in time order; gh_n, gc_n: (N, H) gradients of
        the final h and c (gc_n None unless LSTM). -> (dxw (L, N, G*H) in time order, dh0 (N, H),
        dc0 (N, H) or None, dw_hh (G*H, H), db_hh (G*H,) or None when not has_bias).
        """
        xp = self.xp
        L, N, H = gout.shape
        G = w_hh.shape[0] // H
        dxw = xp.empty((L, N, G * H), dtype=gout.dtype)
        dhw = xp.empty_like(dxw)  # gradient of h W_hh^T + b_hh, processing order
        dh = gh_n.copy()
        dc = gc_n.copy() if mode == "LSTM" else None
        for s in range(L - 1, -1, -1):
            t = L - 1 - s if reverse else s
            d = dh + gout[t]
            h = hs[s + 1]
            if mode == "RNN_TANH":
                dx = dr = d * (1 - h * h)
            elif mode == "RNN_RELU":
                dx = dr = d * (h > 0)
            elif mode == "LSTM":
                g = gates[s]
                i, f, gg, o = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
                tc = xp.tanh(cs[s + 1])
                dcs = dc + d * o * (1 - tc * tc)
                dx = dr = xp.concatenate([dcs * gg * i * (1 - i), dcs * cs[s] * f * (1 - f),
                                          dcs * i * (1 - gg * gg), d * tc * o * (1 - o)], axis=1)
                dc = dcs * f
            else:
                g = gates[s]
                r, z, n = g[:, :H], g[:, H:2 * H], g[:, 2 * H:]
                dn = d * (1 - z) * (1 - n * n)
                dz = d * (hs[s] - n) * z * (1 - z)
                drr = dn * hn[s] * r * (1 - r)
                dx = xp.concatenate([drr, dz, dn], axis=1)
                dr = xp.concatenate([drr, dz, dn * r], axis=1)
            dxw[t], dhw[s] = dx, dr
            dh = dr @ w_hh + (d * z if mode == "GRU" else 0)
        dw_hh = dhw.reshape(L * N, G * H).T @ hs[:L].reshape(L * N, H)
        db_hh = dhw.sum(axis=(0, 1)) if has_bias else None
        return dxw, dh, dc, dw_hh, db_hh

    def attention_forward(self, q, k, v, mask, mask_index, is_causal, scale):
        """Scaled dot-product attention, forward: the plain softmax(q k^T scale + mask) v, written to be read.

        q: (N, L, E), k: (N, S, E), v: (N, S, Ev), C-contiguous, one float dtype. mask: None or an
        additive float mask (M, Lm, Sm) (Lm in {1, L}, Sm in {1, S}; -inf = masked out) of q's dtype,
        and mask_index (N,) int64 says which of the M masks each of the N rows of the batch uses.
        is_causal masks key j > query i (top-left aligned). A row with nothing to attend to gives a
        zero output (as torch 2.13 does). -> (out (N, L, Ev), lse (N, L): the log-sum-exp of each
        row's scores, +inf on such rows, so that exp(score - lse) is 0 there).
        """
        xp = self.xp
        s = self._attention_scores(q, k, mask, mask_index, is_causal, scale)
        m = s.max(axis=-1, keepdims=True)
        dead = m == -xp.inf
        e = xp.exp(s - xp.where(dead, 0, m))
        total = e.sum(axis=-1, keepdims=True)
        out = xp.matmul(e / xp.where(dead, 1, total), v)
        lse = xp.where(dead, xp.inf, m + xp.log(xp.where(dead, 1, total)))
        return out, lse[..., 0]

    def attention_backward(self, gout, q, k, v, out, lse, mask, mask_index, is_causal, scale):
        """Gradients of attention_forward: gout (N, L, Ev) and the forward's out and lse -> (gq, gk, gv)
        in the shapes of q, k, v. With P = exp(scores - lse) and delta = rowsum(gout * out):
        gv = P^T gout, gS = P (gout v^T - delta), gq = gS k scale, gk = gS^T q scale."""
        xp = self.xp
        p = xp.exp(self._attention_scores(q, k, mask, mask_index, is_causal, scale) - lse[..., None])
        delta = (gout * out).sum(axis=-1, keepdims=True)
        gs = p * (xp.matmul(gout, v.swapaxes(-1, -2)) - delta) * scale
        return xp.matmul(gs, k), xp.matmul(gs.swapaxes(-1, -2), q), xp.matmul(p.swapaxes(-1, -2), gout)

    def _attention_scores(self, q, k, mask, mask_index, is_causal, scale):
        """(N, L, S) scores q k^T scale, plus the mask, -inf above the diagonal when is_causal."""
        xp = self.xp
        s = xp.matmul(q, k.swapaxes(-1, -2)) * q.dtype.type(scale)
        if mask is not None:
            s = s + mask[mask_index]
        if is_causal:
            L, S = s.shape[-2:]
            s = xp.where(xp.tri(L, S, dtype=bool), s, -xp.inf)
        return s

    # ------------------------------------------------------------------ memory
    def on_device(self, index):
        """A context in which `xp` allocates on device `index` (None: the default one)."""
        return contextlib.nullcontext()

    def to_host(self, a):
        """A device array -> a numpy array (the same array when it already is one)."""
        return np.asarray(a)

    def from_host(self, a, index):
        """A numpy array -> an array of `xp` on device `index` (no copy when xp is numpy)."""
        return self.xp.asarray(a)


REQUIRED = tuple(k for k, f in vars(Backend).items() if getattr(f, "required", False))
OPTIONAL = tuple(k for k, f in vars(Backend).items()
                 if inspect.isfunction(f) and not k.startswith("_") and k not in REQUIRED)


def parameters(kernel):
    """The parameter names of a contract kernel, as a backend module's function must spell them."""
    return tuple(inspect.signature(getattr(Backend, kernel)).parameters)[1:]  # without self


def reference(xp):
    """A Backend with no module: its optional kernels are the references, run with array module `xp`."""
    return Backend("reference", xp)


def bind(module):
    """Check `module` against the contract and return the Backend that runs its kernels.

    Raises ContractError naming the backend and the kernel when the module lacks `name`, `xp` or a
    required kernel, or when one of its kernels names its parameters differently from the contract.
    """
    for attr in ("name", "xp"):
        if not hasattr(module, attr):
            raise ContractError(f"backend module {module.__name__} has no `{attr}`: every backend names "
                                "itself (`name = ...`) and its array module (`xp = ...`)")
    backend = Backend(module.name, module.xp, module)
    for kernel in REQUIRED + OPTIONAL:
        fn = getattr(module, kernel, None)
        if fn is None:
            if kernel in REQUIRED:
                raise ContractError(f"backend {module.name!r} ({module.__name__}) lacks the required kernel "
                                    f"{kernel}({', '.join(parameters(kernel))})")
            setattr(backend, kernel, getattr(backend, kernel))  # the reference, bound once
            continue
        got = tuple(inspect.signature(fn).parameters)
        if got != parameters(kernel):
            raise ContractError(f"backend {module.name!r} ({module.__name__}): kernel {kernel} takes "
                                f"({', '.join(got)}), the contract says ({', '.join(parameters(kernel))})")
        setattr(backend, kernel, fn)
    return backend
