"""Every differentiable op, listed once. The table drives the forward, gradient-check,
broadcasting and coverage tests in test_ops.py (like PyTorch's OpInfo).

An entry says how to call the op on tensors (`fn`), what numpy computes for it (`ref`),
how many tensor inputs it takes and how their shapes relate (`shapes`), and which input
values are safe (`domain`). An op that takes Python scalars as operands (`x + 2`, `2 - x`,
`mg.where(m, x, 0.5)`) also says how torch writes it (`torch_fn`): test_scalar_operands.py
then puts an int and a float scalar on either side and compares dtype and values with torch.
"""
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

import minigrad as mg
import minigrad.nn.functional as F


@dataclass
class OpInfo:
    name: str
    fn: Callable  # tensors -> tensor
    ref: Optional[Callable]  # arrays -> array (None: checked by its own test, e.g. against torch)
    arity: int = 1
    shapes: str = "any"  # any | broadcast | matmul | same | fixed
    domain: str = "real"  # real | positive | away_from_zero | probability (in (0.1, 0.9)) | distinct
    fixed_shapes: tuple = ()  # used when shapes == "fixed"
    min_dims: int = 0
    gradgrad: bool = False  # also check second derivatives (create_graph)
    atol: float = 1e-5
    notes: str = ""
    extra: dict = field(default_factory=dict)
    torch_fn: Optional[Callable] = None  # the same op for torch tensors and Python scalars
    scalar_dtypes: tuple = ("float32", "float64", "int64", "int32")  # tensor dtypes met by scalars


def _torch():
    import torch
    return torch


def _torch_operands(a, b):
    """torch.maximum and friends take no Python scalars: a 0-d tensor follows the same promotion rules."""
    t = _torch()
    return [x if isinstance(x, t.Tensor) else t.tensor(x) for x in (a, b)]


def _np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_logsumexp(x, axis=None, keepdims=False):
    m = x.max(axis=axis, keepdims=True)
    return (np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m).squeeze() if axis is None and not keepdims \
        else np.log(np.exp(x - m).sum(axis=axis, keepdims=True)).squeeze(axis) + m.squeeze(axis)


def _np_gelu(x):
    from math import erf, sqrt
    return x * 0.5 * (1 + np.vectorize(erf)(x / sqrt(2)))


def _np_conv2d(x, w, stride=1, padding=0):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    y = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return y


def _np_rnn(mode, xw, h, c, w, b, reverse=False):
    """A recurrent layer's time loop in numpy -> (outputs (L, N, H), h_n, c_n); gates as torch's."""
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    H, out = h.shape[1], [None] * len(xw)
    for t in (range(len(xw) - 1, -1, -1) if reverse else range(len(xw))):
        a, hw = xw[t], h @ w.T + (0 if b is None else b)
        if mode == "GRU":
            r, z = sig(a[:, :H] + hw[:, :H]), sig(a[:, H:2 * H] + hw[:, H:2 * H])
            n = np.tanh(a[:, 2 * H:] + r * hw[:, 2 * H:])
            h = (1 - z) * n + z * h
        elif mode == "LSTM":
            a = a + hw
            c = sig(a[:, H:2 * H]) * c + sig(a[:, :H]) * np.tanh(a[:, 2 * H:3 * H])
            h = sig(a[:, 3 * H:]) * np.tanh(c)
        else:
            h = np.tanh(a + hw)
        out[t] = h
    return np.stack(out), h, c


def _np_pool(x, k, reduce):
    n, c, h, w = x.shape
    oh, ow = h // k, w // k
    return reduce(x[:, :, :oh * k, :ow * k].reshape(n, c, oh, k, ow, k), axis=(3, 5))


def _np_cross_entropy(x, t):
    logp = x - x.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    return -logp[np.arange(len(t)), t].mean()


_TARGETS = np.array([2, 0, 1, 2, 1])


def _np_sdpa(q, k, v, mask=None, causal=False):
    """Attention written out in numpy; rows with nothing to attend to give 0 (as torch 2.13)."""
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if causal:
        s = np.where(np.tri(s.shape[-2], s.shape[-1], dtype=bool), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    dead = np.isneginf(s).all(-1, keepdims=True)
    e = np.exp(s - np.where(dead, 0, s.max(-1, keepdims=True)))
    return np.where(dead, 0, e / np.where(dead, 1, e.sum(-1, keepdims=True))) @ v


_ATT_BOOL = np.array([[1, 0, 1, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)  # row 1: nothing to attend
_ATT_FLOAT = np.array([[[0.5, -1.0, 0.0, 2.0, -np.inf]], [[-np.inf] * 5]])  # (2, 1, 5): batch 1 fully masked
_ATT_SHAPES = ((2, 3, 4), (2, 5, 4), (2, 5, 3))
_FILL_MASK = np.array([[True, False, False, True]] * 3)
_INDICES = np.array([[0, 4, 4], [1, 0, 2]])

REGISTRY = [
    # arithmetic, with broadcasting
    OpInfo("add", lambda a, b: a + b, np.add, 2, "broadcast", gradgrad=True, torch_fn=lambda a, b: a + b),
    OpInfo("sub", lambda a, b: a - b, np.subtract, 2, "broadcast", gradgrad=True, torch_fn=lambda a, b: a - b),
    OpInfo("mul", lambda a, b: a * b, np.multiply, 2, "broadcast", gradgrad=True, torch_fn=lambda a, b: a * b),
    OpInfo("div", lambda a, b: a / b, np.divide, 2, "broadcast", "away_from_zero", gradgrad=True,
           torch_fn=lambda a, b: a / b),
    OpInfo("pow", lambda a, b: a ** b, np.power, 2, "broadcast", "positive", gradgrad=True,
           torch_fn=lambda a, b: a ** b),
    OpInfo("pow_scalar", lambda a: a ** 3, lambda a: a ** 3, gradgrad=True),
    OpInfo("pow_square", lambda a: a ** 2, lambda a: a ** 2, gradgrad=True),
    OpInfo("neg", lambda a: -a, np.negative, gradgrad=True),
    OpInfo("abs", lambda a: a.abs(), np.abs, domain="away_from_zero", gradgrad=True),
    # transcendental and activations
    OpInfo("exp", mg.exp, np.exp, gradgrad=True),
    OpInfo("log", mg.log, np.log, domain="positive", gradgrad=True),
    OpInfo("sqrt", mg.sqrt, np.sqrt, domain="positive", gradgrad=True),
    OpInfo("sin", mg.sin, np.sin, gradgrad=True),
    OpInfo("cos", mg.cos, np.cos, gradgrad=True),
    OpInfo("tanh", mg.tanh, np.tanh, gradgrad=True),
    OpInfo("sigmoid", mg.sigmoid, lambda a: 1 / (1 + np.exp(-a)), gradgrad=True),
    OpInfo("softplus", mg.softplus, lambda a: np.log1p(np.exp(a)), gradgrad=True),
    OpInfo("relu", mg.relu, lambda a: np.maximum(a, 0), domain="away_from_zero", gradgrad=True),
    OpInfo("leaky_relu", lambda a: mg.leaky_relu(a, 0.1), lambda a: np.where(a > 0, a, 0.1 * a),
           domain="away_from_zero", gradgrad=True),
    OpInfo("gelu", mg.gelu, _np_gelu),
    OpInfo("gelu_tanh", lambda a: mg.gelu(a, approximate="tanh"),
           lambda a: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))),
    OpInfo("clamp", lambda a: a.clamp(-0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), domain="distinct",
           gradgrad=True, extra={"avoid": (-0.5, 0.7)}, torch_fn=lambda a: a.clamp(-0.5, 0.7)),
    OpInfo("clamp_int_bounds", lambda a: a.clamp(min=-1), lambda a: np.maximum(a, -1), domain="distinct",
           extra={"avoid": (-1,)}, torch_fn=lambda a: a.clamp(min=-1)),
    OpInfo("maximum", mg.maximum, np.maximum, 2, "broadcast", "distinct", gradgrad=True,
           torch_fn=lambda a, b: _torch().maximum(*_torch_operands(a, b))),
    OpInfo("minimum", mg.minimum, np.minimum, 2, "broadcast", "distinct", gradgrad=True,
           torch_fn=lambda a, b: _torch().minimum(*_torch_operands(a, b))),
    OpInfo("where", lambda a, b: mg.where(a > b, a, b * 2), lambda a, b: np.where(a > b, a, b * 2), 2, "broadcast",
           "distinct", gradgrad=True, torch_fn=lambda a, b: _torch().where(a > b, a, b * 2)),
    # reductions
    OpInfo("sum", lambda a: a.sum(), np.sum, gradgrad=True),
    OpInfo("sum_dim", lambda a: a.sum(-1, keepdim=True), lambda a: a.sum(-1, keepdims=True), min_dims=1,
           gradgrad=True),
    OpInfo("sum_axis_alias", lambda a: a.sum(axis=0), lambda a: a.sum(axis=0), min_dims=1),
    OpInfo("mean", lambda a: a.mean(), np.mean, gradgrad=True),
    OpInfo("mean_dim", lambda a: a.mean(0), lambda a: a.mean(0), min_dims=1, gradgrad=True),
    OpInfo("var", lambda a: a.var(-1), lambda a: a.var(-1, ddof=1), shapes="fixed", fixed_shapes=((3, 4),),
           gradgrad=True),
    OpInfo("std", lambda a: a.std(0, keepdim=True), lambda a: a.std(0, ddof=1, keepdims=True), shapes="fixed",
           fixed_shapes=((4, 3),)),
    OpInfo("max", lambda a: a.max(), np.max, domain="distinct"),
    OpInfo("max_dim", lambda a: a.max(-1).values, lambda a: a.max(-1), domain="distinct", min_dims=1),
    OpInfo("min", lambda a: a.min(0, keepdim=True).values, lambda a: a.min(0, keepdims=True), domain="distinct",
           min_dims=1),
    OpInfo("logsumexp", lambda a: a.logsumexp(-1), lambda a: _np_logsumexp(a, -1), min_dims=1, gradgrad=True),
    # norms (minigrad.linalg builds the matrix norms from these)
    OpInfo("norm", lambda a: a.norm(), lambda a: np.sqrt((a * a).sum()), domain="away_from_zero", gradgrad=True),
    OpInfo("norm_p3_dim", lambda a: a.norm(3, dim=-1), lambda a: (np.abs(a) ** 3).sum(-1) ** (1 / 3), min_dims=1,
           domain="away_from_zero", gradgrad=True),
    OpInfo("vector_norm_1", lambda a: mg.linalg.vector_norm(a, 1, dim=0, keepdim=True),
           lambda a: np.abs(a).sum(0, keepdims=True), min_dims=1, domain="away_from_zero"),
    OpInfo("vector_norm_inf", lambda a: mg.linalg.vector_norm(a, float("inf")), lambda a: np.abs(a).max(),
           domain="away_from_zero"),
    OpInfo("matrix_norm_1", lambda a: mg.linalg.matrix_norm(a, 1), lambda a: np.abs(a).sum(-2).max(-1), min_dims=2,
           domain="away_from_zero"),
    # linear algebra
    OpInfo("matmul", lambda a, b: a @ b, np.matmul, 2, "matmul", gradgrad=True),  # scalars: an error (tested)
    # shape
    OpInfo("reshape", lambda a: a.reshape(-1), lambda a: a.reshape(-1), gradgrad=True),
    OpInfo("permute", lambda a: a.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), shapes="fixed",
           fixed_shapes=((2, 3, 4),), gradgrad=True),
    OpInfo("transpose", lambda a: a.transpose(0, 1), lambda a: a.swapaxes(0, 1), min_dims=2),
    OpInfo("flatten", lambda a: a.flatten(1), lambda a: a.reshape(a.shape[0], -1), min_dims=2),
    OpInfo("squeeze", lambda a: a.unsqueeze(1).squeeze(1), lambda a: a, min_dims=1),
    OpInfo("expand", lambda a: a.expand(3, *a.shape), lambda a: np.broadcast_to(a, (3,) + a.shape), gradgrad=True),
    OpInfo("sum_to", lambda a: mg.ops.sum_to(a, (1,) + a.shape[1:]), lambda a: a.sum(0, keepdims=True),
           min_dims=1, gradgrad=True),
    OpInfo("getitem_slice", lambda a: a[1:, ::2], lambda a: a[1:, ::2], shapes="fixed", fixed_shapes=((4, 5),),
           gradgrad=True),
    OpInfo("getitem_int_none_ellipsis", lambda a: a[1, None, ..., -1], lambda a: a[1, None, ..., -1],
           shapes="fixed", fixed_shapes=((3, 2, 4),)),
    OpInfo("getitem_array", lambda a: a[[0, 2, 0]], lambda a: a[[0, 2, 0]], shapes="fixed",
           fixed_shapes=((3, 4),), gradgrad=True),
    OpInfo("getitem_bool", lambda a: a[a > 0], lambda a: a[a > 0], shapes="fixed", fixed_shapes=((3, 4),),
           domain="away_from_zero"),
    OpInfo("cat", lambda a, b: mg.cat([a, b], 1), lambda a, b: np.concatenate([a, b], 1), 2, "fixed",
           fixed_shapes=((2, 3), (2, 4)), gradgrad=True),
    OpInfo("stack", lambda a, b: mg.stack([a, b], -1), lambda a, b: np.stack([a, b], -1), 2, "same"),
    OpInfo("split", lambda a: mg.split(a, 2, 1)[1], lambda a: a[:, 2:4], shapes="fixed", fixed_shapes=((2, 5),)),
    OpInfo("pad", lambda a: F.pad(a, (1, 2)), lambda a: np.pad(a, [(0, 0)] * (a.ndim - 1) + [(1, 2)]), min_dims=1,
           gradgrad=True),
    # softmax family
    OpInfo("softmax", lambda a: a.softmax(-1), _np_softmax, min_dims=1, gradgrad=True),
    OpInfo("log_softmax", lambda a: a.log_softmax(-1), lambda a: np.log(_np_softmax(a)), min_dims=1, gradgrad=True),
    # CNN math
    OpInfo("conv2d", lambda x, w: F.conv2d(x, w, stride=2, padding=1), lambda x, w: _np_conv2d(x, w, 2, 1), 2,
           "fixed", fixed_shapes=((2, 3, 5, 6), (4, 3, 3, 3))),
    OpInfo("conv2d_bias", lambda x, w, b: F.conv2d(x, w, b, padding=1),
           lambda x, w, b: _np_conv2d(x, w, 1, 1) + b[:, None, None], 3, "fixed",
           fixed_shapes=((2, 3, 4, 5), (4, 3, 3, 3), (4,))),
    OpInfo("max_pool2d", lambda x: F.max_pool2d(x, 2), lambda x: _np_pool(x, 2, np.max), shapes="fixed",
           fixed_shapes=((2, 3, 5, 4),), domain="distinct"),
    OpInfo("avg_pool2d", lambda x: F.avg_pool2d(x, 2), lambda x: _np_pool(x, 2, np.mean), shapes="fixed",
           fixed_shapes=((2, 2, 4, 6),)),
    OpInfo("cross_entropy", lambda x: F.cross_entropy(x, mg.tensor(_TARGETS)), lambda x: _np_cross_entropy(x, _TARGETS),
           shapes="fixed", fixed_shapes=((5, 3),)),
    OpInfo("embedding", lambda w: F.embedding(mg.tensor(_INDICES), w), lambda w: w[_INDICES], shapes="fixed",
           fixed_shapes=((5, 3),), gradgrad=True),
    OpInfo("binary_cross_entropy", lambda x, t: F.binary_cross_entropy(x, t, reduction="sum"),
           lambda x, t: -(t * np.log(x) + (1 - t) * np.log(1 - x)).sum(), 2, "same", "probability"),
    # whole-sequence recurrent op (tests/test_rnn_fused.py: every mode against the step path and torch)
    OpInfo("rnn_sequence_tanh", lambda x, h, w, b: mg.ops.rnn_sequence(x, h, w, b)[0],
           lambda x, h, w, b: _np_rnn("RNN_TANH", x, h, None, w, b)[0], 4, "fixed",
           fixed_shapes=((3, 2, 4), (2, 4), (4, 4), (4,))),
    OpInfo("rnn_sequence_lstm", lambda x, h, c, w: mg.ops.rnn_sequence(x, (h, c), w, mode="LSTM", reverse=True)[2],
           lambda x, h, c, w: _np_rnn("LSTM", x, h, c, w, None, True)[2], 4, "fixed", fixed_shapes=((3, 2, 12), (2, 3), (2, 3), (12, 3))),
    OpInfo("rnn_sequence_gru", lambda x, h, w, b: mg.ops.rnn_sequence(x, h, w, b, mode="GRU")[1],
           lambda x, h, w, b: _np_rnn("GRU", x, h, None, w, b)[1], 4, "fixed",
           fixed_shapes=((3, 2, 9), (2, 3), (9, 3), (9,))),
    # conversions
    # attention and its helpers
    OpInfo("sdpa", lambda q, k, v: F.scaled_dot_product_attention(q, k, v), _np_sdpa, 3, "fixed",
           fixed_shapes=_ATT_SHAPES, gradgrad=True),
    OpInfo("sdpa_causal_l_gt_s", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
           lambda q, k, v: _np_sdpa(q, k, v, causal=True), 3, "fixed",
           fixed_shapes=((2, 1, 6, 4), (2, 1, 4, 4), (2, 1, 4, 3)), gradgrad=True),
    OpInfo("sdpa_bool_mask", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mg.tensor(_ATT_BOOL)),
           lambda q, k, v: _np_sdpa(q, k, v, _ATT_BOOL), 3, "fixed", fixed_shapes=_ATT_SHAPES, gradgrad=True),
    OpInfo("sdpa_float_mask", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=_ATT_FLOAT),
           lambda q, k, v: _np_sdpa(q, k, v, _ATT_FLOAT), 3, "fixed", fixed_shapes=_ATT_SHAPES, gradgrad=True),
    OpInfo("sdpa_mask_with_grad", lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
           _np_sdpa, 4, "fixed", fixed_shapes=_ATT_SHAPES + ((3, 5),), gradgrad=True,
           notes="a float mask needing a gradient takes the composed path"),
    OpInfo("tril", lambda a: a.tril(), np.tril, min_dims=2, gradgrad=True),
    OpInfo("triu_diagonal", lambda a: mg.triu(a, diagonal=1), lambda a: np.triu(a, 1), min_dims=2, gradgrad=True),
    OpInfo("masked_fill", lambda a, v: a.masked_fill(mg.tensor(_FILL_MASK), v.reshape(())),
           lambda a, v: np.where(_FILL_MASK, v.reshape(()), a), 2, "fixed", fixed_shapes=((3, 4), (1,)), gradgrad=True),
    OpInfo("bmm", mg.bmm, np.matmul, 2, "fixed", fixed_shapes=((2, 3, 4), (2, 4, 5)), gradgrad=True),
    OpInfo("baddbmm", lambda i, a, b: mg.baddbmm(i, a, b, beta=0.5, alpha=2.0),
           lambda i, a, b: 0.5 * i + 2.0 * (a @ b), 3, "fixed", fixed_shapes=((3, 1), (2, 3, 4), (2, 4, 1))),
    OpInfo("clone", lambda a: a.clone(), lambda a: a.copy(), gradgrad=True),
    # sampling
    OpInfo("topk", lambda a: a.topk(3, dim=0).values, lambda a: -np.sort(-a, axis=0)[:3], shapes="fixed",
           fixed_shapes=((5, 4),), domain="distinct", gradgrad=True),
]

# Comparisons and logic: no gradient, so only their forward (against numpy) and their Python
# scalars (against torch) are tested.
NO_GRAD_OPS = [
    OpInfo("eq", lambda a, b: a == b, np.equal, 2, "broadcast", torch_fn=lambda a, b: a == b),
    OpInfo("ne", lambda a, b: a != b, np.not_equal, 2, "broadcast", torch_fn=lambda a, b: a != b),
    OpInfo("lt", lambda a, b: a < b, np.less, 2, "broadcast", torch_fn=lambda a, b: a < b),
    OpInfo("le", lambda a, b: a <= b, np.less_equal, 2, "broadcast", torch_fn=lambda a, b: a <= b),
    OpInfo("gt", lambda a, b: a > b, np.greater, 2, "broadcast", torch_fn=lambda a, b: a > b),
    OpInfo("ge", lambda a, b: a >= b, np.greater_equal, 2, "broadcast", torch_fn=lambda a, b: a >= b),
    OpInfo("bitwise_and", lambda a, b: a & b, np.bitwise_and, 2, "broadcast", torch_fn=lambda a, b: a & b,
           scalar_dtypes=("int64", "int32", "bool")),
    OpInfo("bitwise_or", lambda a, b: a | b, np.bitwise_or, 2, "broadcast", torch_fn=lambda a, b: a | b,
           scalar_dtypes=("int64", "int32", "bool")),
]

BY_NAME = {op.name: op for op in REGISTRY + NO_GRAD_OPS}
assert len(BY_NAME) == len(REGISTRY) + len(NO_GRAD_OPS), "duplicate op names in the registry"

# Functions exercised by their own dedicated tests rather than the table.
COVERED_ELSEWHERE = {
    "CheckpointFunction": "test_checkpoint_grad.py (gradients through a recomputed forward, against the plain one)",
    "Cast": "test_autograd.py::test_cast_backward (float32 <-> float64 can't be finite-differenced in float32)",
    "ToDevice": "tests/test_cuda.py (needs a GPU)",
    "DelayedError": "tests/test_autograd_function.py (once_differentiable; its backward only raises)",
    "BackwardHookFunction": "tests/test_hooks.py (the identity node for module backward hooks)",
    "Dropout": "tests/test_compile.py::test_dropout_op (minigrad.compile's; a new mask per call defeats gradcheck)",
}
