"""Recurrent layers: RNN (tanh / relu), LSTM, GRU and their single-step cells.

Gate layouts follow PyTorch, so weights load across:
  RNN:  h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)
  LSTM: [i, f, g, o] = split(x W_ih^T + b_ih + h W_hh^T + b_hh, 4)
        c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c')
  GRU:  [r, z, n] rows of W_ih / W_hh;  r, z = sigmoid(xr + hr), sigmoid(xz + hz)
        n = tanh(xn + r * hn);  h' = (1 - z) n + z h      (hn includes b_hn)
The layers compute the input projection of all time steps with one matmul and only
loop over time for the recurrent part: in one op (ops.rnn_sequence, whose Numba kernel runs
the whole loop and its backpropagation through time), or step by step with ordinary ops when
`layer.fused = False` (then second derivatives work too: the fused op's backward is not
differentiable).
"""
import math

from ... import ops
from ...checks import check_float, check_int
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..module import Module
from ._util import new_parameter

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rnn_step(mode, xw, h, c, w_hh, b_hh):
    """One time step. xw: (N, G*H) input projection (with b_ih); h, c: (N, H). Returns (h', c')."""
    hw = h @ w_hh.T
    if b_hh is not None:
        hw = hw + b_hh
    if mode == "RNN_TANH":
        return ops.tanh(xw + hw), None
    if mode == "RNN_RELU":
        return ops.relu(xw + hw), None
    if mode == "LSTM":
        i, f, g, o = ops.chunk(xw + hw, 4, 1)
        c2 = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        return ops.sigmoid(o) * ops.tanh(c2), c2
    xr, xz, xn = ops.chunk(xw, 3, 1)
    hr, hz, hn = ops.chunk(hw, 3, 1)
    r = ops.sigmoid(xr + hr)
    z = ops.sigmoid(xz + hz)
    n = ops.tanh(xn + r * hn)
    return n + z * (h - n), None


class _CellBase(Module):
    mode = "RNN_TANH"

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        g = _GATES[self.mode]
        input_size = check_int(type(self).__name__, "input_size", input_size, min=0)
        hidden_size = check_int(type(self).__name__, "hidden_size", hidden_size, min=1)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = new_parameter((g * hidden_size, input_size), dtype, device)
        self.weight_hh = new_parameter((g * hidden_size, hidden_size), dtype, device)
        if bias:
            self.bias_ih = new_parameter((g * hidden_size,), dtype, device)
            self.bias_hh = new_parameter((g * hidden_size,), dtype, device)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        k = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _prep(self, x, hx):
        if x.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: expected input of shape (N, {self.input_size}) or "
                             f"({self.input_size},), got {x.shape}")
        unbatched = x.ndim == 1
        if unbatched:
            x = x.unsqueeze(0)
        if x.shape[1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input has {x.shape[1]} features, expected {self.input_size}")
        xw = x @ self.weight_ih.T
        if self.bias_ih is not None:
            xw = xw + self.bias_ih
        return x, xw, unbatched

    def _zeros(self, x):
        return Tensor._make(x.xp.zeros((x.shape[0], self.hidden_size), dtype=x.dtype), x.device)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity=relu"
        return s


class RNNCell(_CellBase):
    """x: (N, input_size), h: (N, hidden_size) -> h': (N, hidden_size)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.__dict__["mode"] = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.__dict__["nonlinearity"] = nonlinearity
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, x, hx=None):
        x, xw, unbatched = self._prep(x, hx)
        h = self._zeros(x) if hx is None else (hx.unsqueeze(0) if unbatched else hx)
        h, _ = _rnn_step(self.mode, xw, h, None, self.weight_hh, self.bias_hh)
        return h.squeeze(0) if unbatched else h


class LSTMCell(_CellBase):
    """x: (N, input_size), (h, c): (N, hidden_size) each -> (h', c')."""

    mode = "LSTM"

    def forward(self, x, hx=None):
        x, xw, unbatched = self._prep(x, hx)
        if hx is None:
            h = c = self._zeros(x)
        else:
            h, c = hx
            if unbatched:
                h, c = h.unsqueeze(0), c.unsqueeze(0)
        h, c = _rnn_step(self.mode, xw, h, c, self.weight_hh, self.bias_hh)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(_CellBase):
    """x: (N, input_size), h: (N, hidden_size) -> h'."""

    mode = "GRU"

    def forward(self, x, hx=None):
        x, xw, unbatched = self._prep(x, hx)
        h = self._zeros(x) if hx is None else (hx.unsqueeze(0) if unbatched else hx)
        h, _ = _rnn_step(self.mode, xw, h, None, self.weight_hh, self.bias_hh)
        return h.squeeze(0) if unbatched else h


class _RNNBase(Module):
    """Stacked, optionally bidirectional recurrent layer.

    input: (L, N, H_in), or (N, L, H_in) with batch_first, or (L, H_in) unbatched.
    h0 (and c0 for LSTM): (num_layers * D, N, H), D = 2 if bidirectional else 1.
    Returns output (L, N, D * H) (batch_first: (N, L, D * H)) and the final state(s).
    """

    mode = "RNN_TANH"
    fused = True  # run each direction's time loop as one op (see the module docstring)

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        input_size, hidden_size = check_int(name, "input_size", input_size, min=0), check_int(
            name, "hidden_size", hidden_size, min=1)
        num_layers = check_int(name, "num_layers", num_layers, min=1)
        dropout = check_float(name, "dropout", dropout, min=0, max=1)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, float(dropout), bidirectional
        g = _GATES[self.mode]
        d = 2 if bidirectional else 1
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * d
            for suffix in ("", "_reverse")[:d]:
                s = f"_l{layer}{suffix}"
                setattr(self, "weight_ih" + s, new_parameter((g * hidden_size, in_size), dtype, device))
                setattr(self, "weight_hh" + s, new_parameter((g * hidden_size, hidden_size), dtype, device))
                if bias:
                    setattr(self, "bias_ih" + s, new_parameter((g * hidden_size,), dtype, device))
                    setattr(self, "bias_hh" + s, new_parameter((g * hidden_size,), dtype, device))
        self.reset_parameters()

    def reset_parameters(self):
        k = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _weights(self, layer, reverse):
        s = f"_l{layer}{'_reverse' if reverse else ''}"
        p = self._parameters
        return p["weight_ih" + s], p["weight_hh" + s], p.get("bias_ih" + s), p.get("bias_hh" + s)

    def _run_direction(self, x, layer, reverse, h, c):
        """x: (L, N, H_in) -> outputs (L, N, H) in time order, final h (and c)."""
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, reverse)
        seq_len = x.shape[0]
        xw = x @ w_ih.T  # (L, N, G*H): every step's input projection at once
        if b_ih is not None:
            xw = xw + b_ih
        if self.fused and seq_len and x.shape[1]:
            lstm = self.mode == "LSTM"
            outs = ops.rnn_sequence(xw, (h, c) if lstm else h, w_hh, b_hh, mode=self.mode, reverse=reverse)
            return outs[0], outs[1], (outs[2] if lstm else None)
        steps = range(seq_len - 1, -1, -1) if reverse else range(seq_len)
        outs = [None] * seq_len
        for t in steps:
            h, c = _rnn_step(self.mode, xw[t], h, c, w_hh, b_hh)
            outs[t] = h
        return ops.stack(outs, 0), h, c

    def forward(self, input, hx=None):
        name = type(self).__name__
        is_lstm = self.mode == "LSTM"
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: expected a 2-D (unbatched) or 3-D input, got shape {input.shape}")
        unbatched = input.ndim == 2
        x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
        if x.shape[2] != self.input_size:
            raise ValueError(f"{name}: input has {x.shape[2]} features, expected {self.input_size} "
                             f"(input shape {input.shape})")
        d = 2 if self.bidirectional else 1
        n = x.shape[1]
        state_shape = (self.num_layers * d, n, self.hidden_size)
        if hx is None:
            zeros = Tensor._make(x.xp.zeros(state_shape, dtype=x.dtype), x.device)
            h0, c0 = zeros, zeros
        else:
            h0, c0 = hx if is_lstm else (hx, None)
            if unbatched:
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None
            for s in (h0, c0) if is_lstm else (h0,):
                if s.shape != state_shape:
                    raise ValueError(f"{name}: expected hidden state of shape {state_shape}, got {s.shape}")
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for r in range(d):
                k = layer * d + r
                out, h, c = self._run_direction(x, layer, r == 1, h0[k], c0[k] if is_lstm else None)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = outs[0] if d == 1 else ops.cat(outs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        output = x.squeeze(1) if unbatched else (x.transpose(0, 1) if self.batch_first else x)
        h_n = ops.stack(h_n, 0)
        if unbatched:
            h_n = h_n.squeeze(1)
        if is_lstm:
            c_n = ops.stack(c_n, 0)
            return output, (h_n, c_n.squeeze(1) if unbatched else c_n)
        return output, h_n

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """Elman RNN with tanh (default) or relu; see _RNNBase for shapes."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.__dict__["mode"] = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.__dict__["nonlinearity"] = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device,
                         dtype)


class LSTM(_RNNBase):
    """Returns (output, (h_n, c_n)); hx is (h0, c0)."""

    mode = "LSTM"


class GRU(_RNNBase):
    """Returns (output, h_n)."""

    mode = "GRU"
