"""The whole sequence of one recurrent layer direction as one op (RNN tanh/relu, LSTM, GRU).

A layer stepped from Python records ~10 ops per time step and pays their bookkeeping L times
over; this op runs all L steps in one backend call (the Numba backend: one compiled loop, as
PyTorch's C++ does), and backpropagation through time in one more. Gate layouts follow PyTorch
(see minigrad/nn/layers/rnn.py). The input projection x W_ih^T + b_ih of every step is left
to an ordinary matmul before this op: it does not depend on h, so it is one big product.

xw: (L, N, G*H) input projections in time order (G = 1 RNN, 4 LSTM, 3 GRU); h0: (N, H);
c0: (N, H) (LSTM only); weight_hh: (G*H, H); bias_hh: (G*H,) or None
-> output (L, N, H) (each step's h, in time order), h_n (N, H), and c_n (N, H) for LSTM.
"""
import numpy as np

from ..autograd import Function
from ..tensor import Tensor

__all__ = ["rnn_sequence"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class RNNSequence(Function):
    differentiable_backward = False  # backward runs the backend's BPTT kernel on raw arrays

    def __init__(self, mode, reverse, has_bias):
        self.mode, self.reverse, self.has_bias = mode, reverse, has_bias

    def forward(self, xw, h0, w_hh, *rest):  # rest: b_hh if has_bias, then c0 for LSTM
        b_hh = rest[0] if self.has_bias else None
        c0 = rest[-1] if self.mode == "LSTM" else None
        hs, cs, gates, hn = self.backend.rnn_sequence_forward(self.mode, xw, h0, c0, w_hh, b_hh, self.reverse)
        self._workspace = (hs, cs, gates, hn)
        out = hs[:0:-1] if self.reverse else hs[1:]
        outs = (out.copy(), hs[-1].copy())  # copies: the workspace must not change under backward
        return outs + (cs[-1].copy(),) if self.mode == "LSTM" else outs

    def backward(self, gout, gh_n, gc_n=None):
        w_hh = self.inputs[2]
        dxw, dh0, dc0, dw, db = self.backend.rnn_sequence_backward(
            self.mode, gout.array, gh_n.array, None if gc_n is None else gc_n.array, w_hh.array, self.has_bias,
            self.reverse, *self._workspace)
        dev = gout.device
        grads = [Tensor._make(dxw, dev), Tensor._make(dh0, dev), Tensor._make(dw, dev)]
        if self.has_bias:
            grads.append(Tensor._make(db, dev))
        if self.mode == "LSTM":
            grads.append(Tensor._make(dc0, dev))
        return tuple(g if x.requires_grad else None for g, x in zip(grads, self.inputs))


def rnn_sequence(input, hx, weight_hh, bias_hh=None, mode="RNN_TANH", reverse=False):
    """Run a recurrent layer's time loop in one op.

    input: (L, N, G*H) the input projections x W_ih^T + b_ih of all steps, in time order;
    hx: h0 (N, H), or (h0, c0) for mode "LSTM"; weight_hh: (G*H, H); bias_hh: (G*H,) or None;
    mode: "RNN_TANH", "RNN_RELU", "LSTM" or "GRU"; reverse: run from the last step to the first.
    -> (output (L, N, H), h_n (N, H)), or (output, h_n, c_n) for LSTM.
    """
    if mode not in _GATES:
        raise ValueError(f"rnn_sequence: mode must be one of {sorted(_GATES)}, got {mode!r}")
    if not isinstance(reverse, (bool, np.bool_)):
        raise TypeError(f"rnn_sequence: reverse must be a bool, got {type(reverse).__name__} {reverse!r}")
    lstm = mode == "LSTM"
    if lstm:
        if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError("rnn_sequence: mode 'LSTM' needs hx = (h0, c0)")
        h0, c0 = hx
    else:
        h0, c0 = hx, None
    g = _GATES[mode]
    for name, t in (("input", input), ("h0", h0), ("weight_hh", weight_hh)) + ((("c0", c0),) if lstm else ()):
        if not isinstance(t, Tensor):
            raise TypeError(f"rnn_sequence: {name} must be a Tensor, got {type(t).__name__}")
    if input.ndim != 3 or weight_hh.ndim != 2:
        raise ValueError(f"rnn_sequence: expected input (L, N, G*H) and weight_hh (G*H, H), got input "
                         f"{input.shape} and weight_hh {weight_hh.shape}")
    hidden = weight_hh.shape[1]
    gh = g * hidden
    n = input.shape[1]
    if weight_hh.shape[0] != gh or input.shape[2] != gh:
        raise ValueError(f"rnn_sequence: mode {mode!r} with hidden size {hidden} needs input (L, N, {gh}) and "
                         f"weight_hh ({gh}, {hidden}), got input {input.shape} and weight_hh {weight_hh.shape}")
    for name, s in (("h0", h0), ("c0", c0)):
        if s is not None and tuple(s.shape) != (n, hidden):
            raise ValueError(f"rnn_sequence: {name} must have shape ({n}, {hidden}), got {s.shape}")
    if bias_hh is not None and tuple(bias_hh.shape) != (gh,):
        raise ValueError(f"rnn_sequence: bias_hh must have shape ({gh},), got {bias_hh.shape}")
    tensors = [input, h0, weight_hh] + ([bias_hh] if bias_hh is not None else []) + ([c0] if lstm else [])
    if len({t.dtype for t in tensors}) != 1 or input.dtype.kind != "f":
        raise TypeError(f"rnn_sequence: every tensor must have the same float dtype, got "
                        f"{[str(t.dtype) for t in tensors]}")
    return RNNSequence(mode, bool(reverse), bias_hh is not None)(*tensors)
