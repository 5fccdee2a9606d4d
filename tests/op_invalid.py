"""Invalid arguments for every op of op_registry.py (and the layers, optimisers, schedulers and
loaders that take hyper-parameters): the table that test_invalid_args.py draws from.

Each `Bad` names the function whose error message must name it (`fn`), the argument the message
must name (`arg`, None where the message names shapes instead), a hypothesis strategy of invalid
values and `call(value)`, which passes the value where the argument goes.
"""
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F


@dataclass
class Bad:
    fn: str  # the name the error must mention
    arg: Optional[str]  # the argument it must mention (None: the shapes/input)
    values: st.SearchStrategy
    call: Callable


def _q():
    return mg.randn(2, 3, 4, 5)


def x4():
    return mg.randn(2, 3, 6, 6)


_BIG = 10 ** 6
NOT_INT = st.one_of(st.floats(allow_nan=True), st.text(max_size=3), st.none(), st.just(True), st.just([1.5]))
NOT_NUMBER = st.one_of(st.text(max_size=3), st.none(), st.just([1]), st.just(object()))
NOT_TENSOR = st.one_of(st.text(max_size=3), st.none(), st.just(object()), st.just({"a": 1}))


def below(low):
    """ints < low, and things that are not ints at all."""
    return st.one_of(st.integers(-_BIG, low - 1), NOT_INT)


def out_of_range(ndim):
    """dims outside [-ndim, ndim) and non-ints (None is a valid dim for many ops: not drawn)."""
    return st.one_of(st.integers(ndim, _BIG), st.integers(-_BIG, -ndim - 1), NOT_INT.filter(lambda v: v is not None))


def outside(low, high):
    """floats outside [low, high] (inf and nan too) and non-numbers."""
    parts = [st.floats(max_value=low, exclude_max=True), st.just(float("nan")), NOT_NUMBER]
    if high != float("inf"):
        parts.append(st.floats(min_value=high, exclude_min=True))
    return st.one_of(*parts)


def non_broadcastable():
    """Pairs of shapes that cannot broadcast: some trailing dim differs with neither side 1."""
    def pair(draw_data):
        a, b, pre = draw_data
        return (pre + (a,), (b,))
    return st.tuples(st.integers(2, 5), st.integers(2, 5), st.tuples(*[st.integers(1, 3)] * 1)).filter(
        lambda t: t[0] != t[1]).map(pair)


def unary(name, fn):
    return [Bad(name, None, NOT_TENSOR, lambda v: fn(v))]


def binary(name, fn):
    return [Bad(name, None, non_broadcastable(), lambda s: fn(mg.ones(*s[0]), mg.ones(*s[1]))),
            Bad(name, None, NOT_TENSOR, lambda v: fn(v, mg.ones(2)))]


def dim_op(name, fn, ndim=3):
    return [Bad(name, "dim", out_of_range(ndim), lambda d: fn(mg.ones(2, 3, 4), d))] + unary(name, fn)


_T = mg.tensor([0, 2, 1])


INVALID = {
    **{n: binary(n, getattr(mg, n)) for n in ("add", "sub", "mul", "div", "maximum", "minimum")},
    "pow": binary("pow", mg.pow),
    "pow_scalar": unary("pow", lambda v: mg.pow(v, 3)),
    "pow_square": unary("pow", lambda v: mg.pow(v, 2)),
    **{n: unary(n, getattr(mg, n)) for n in ("neg", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid",
                                              "relu", "clone")},
    "softplus": unary("softplus", mg.softplus) + [
        Bad("softplus", "beta", NOT_NUMBER, lambda v: mg.softplus(mg.ones(2), beta=v))],
    "leaky_relu": unary("leaky_relu", mg.leaky_relu) + [
        Bad("leaky_relu", "negative_slope", NOT_NUMBER, lambda v: mg.leaky_relu(mg.ones(2), v))],
    "gelu": [Bad("gelu", "approximate", st.text(max_size=5).filter(lambda s: s not in ("none", "tanh")),
                 lambda v: mg.gelu(mg.ones(2), approximate=v))] + unary("gelu", mg.gelu),
    "gelu_tanh": unary("gelu", lambda v: mg.gelu(v, approximate="tanh")),
    "clamp": unary("clamp", lambda v: mg.clamp(v, 0, 1)) + [
        Bad("clamp", "min", st.just(None), lambda v: mg.clamp(mg.ones(2), v, None))],
    "clamp_int_bounds": unary("clamp", lambda v: mg.clamp(v, min=-1)),
    "where": [Bad("where", None, non_broadcastable(),
                  lambda s: mg.where(mg.ones(*s[0]) > 0, mg.ones(*s[0]), mg.ones(*s[1])))],
    "sum": dim_op("sum", lambda x, d=None: mg.sum(x, d)),
    "sum_dim": dim_op("sum", lambda x, d=-1: mg.sum(x, d, keepdim=True)),
    "sum_axis_alias": dim_op("sum", lambda x, d=0: mg.sum(x, axis=d)),
    "mean": dim_op("mean", lambda x, d=None: mg.mean(x, d)),
    "mean_dim": dim_op("mean", lambda x, d=0: mg.mean(x, d)),
    "var": dim_op("var", lambda x, d=-1: mg.var(x, d)),
    "std": dim_op("std", lambda x, d=0: mg.std(x, d)),
    "max": dim_op("max", lambda x, d=None: mg.max(x, d)),
    "max_dim": dim_op("max", lambda x, d=-1: mg.max(x, d)),
    "min": dim_op("min", lambda x, d=0: mg.min(x, d)),
    "logsumexp": dim_op("logsumexp", lambda x, d=-1: mg.logsumexp(x, d)),
    "norm": [Bad("norm", "p", st.text(min_size=1, max_size=4).filter(lambda s: s not in ("fro", "nuc")),
                 lambda v: mg.norm(mg.ones(2, 2), v))] + unary("norm", mg.norm),
    "norm_p3_dim": dim_op("norm", lambda x, d=-1: mg.norm(x, 3, dim=d)),
    "vector_norm_1": dim_op("vector_norm", lambda x, d=0: mg.linalg.vector_norm(x, 1, dim=d)),
    "vector_norm_inf": dim_op("vector_norm", lambda x, d=None: mg.linalg.vector_norm(x, float("inf"), dim=d)),
    "matrix_norm_1": [Bad("matrix_norm", None, st.integers(0, 1), lambda n: mg.linalg.matrix_norm(mg.ones(*[3] * n), 1))],
    "matmul": [Bad("matmul", None, st.tuples(st.integers(1, 4), st.integers(1, 4)).filter(lambda t: t[0] != t[1]),
                   lambda t: mg.matmul(mg.ones(2, t[0]), mg.ones(t[1], 2)))] + unary("matmul", lambda v: mg.matmul(
                       v, mg.ones(2, 2))),
    "reshape": [Bad("reshape", None, st.integers(2, 9).filter(lambda n: 24 % n), lambda n: mg.reshape(mg.ones(2, 3, 4),
                                                                                                     (n, -1)))],
    "permute": [Bad("permute", None, st.lists(st.integers(-5, 5), max_size=4).filter(
        lambda p: sorted(d % 3 for d in p) != [0, 1, 2] or len(p) != 3), lambda p: mg.permute(mg.ones(2, 3, 4), p))],
    "transpose": [Bad("transpose", "dim0", out_of_range(3), lambda d: mg.transpose(mg.ones(2, 3, 4), d, 0)),
                  Bad("transpose", "dim1", out_of_range(3), lambda d: mg.transpose(mg.ones(2, 3, 4), 0, d))],
    "flatten": [Bad("flatten", "start_dim", out_of_range(3), lambda d: mg.flatten(mg.ones(2, 3, 4), d)),
                Bad("flatten", "end_dim", out_of_range(3), lambda d: mg.flatten(mg.ones(2, 3, 4), 0, d))],
    "squeeze": [Bad("squeeze", "dim", out_of_range(3), lambda d: mg.squeeze(mg.ones(2, 3, 4), d))],
    "unsqueeze": [Bad("unsqueeze", "dim", out_of_range(4), lambda d: mg.unsqueeze(mg.ones(2, 3, 4), d))],
    "expand": [Bad("expand", None, st.integers(2, 6).filter(lambda n: n != 3), lambda n: mg.ones(3).expand(2, n))],
    "sum_to": [Bad("sum_to", None, st.integers(2, 6).filter(lambda n: n != 3),
                   lambda n: mg.ops.sum_to(mg.ones(2, 3), (n,)))],
    "getitem_slice": [Bad("getitem", None, st.integers(3, _BIG) | st.integers(-_BIG, -4), lambda i: mg.ones(3)[i])],
    "getitem_int_none_ellipsis": [Bad("getitem", None, st.integers(2, 50), lambda i: mg.ones(2, 2)[0, i])],
    "getitem_array": [Bad("getitem", None, st.lists(st.integers(3, 99), min_size=1, max_size=3),
                          lambda i: mg.ones(3, 2)[i])],
    "getitem_bool": [Bad("getitem", None, st.integers(1, 5).filter(lambda n: n != 3),
                         lambda n: mg.ones(3)[mg.ones(n) > 0])],
    "cat": [Bad("cat", "dim", out_of_range(2), lambda d: mg.cat([mg.ones(2, 3), mg.ones(2, 3)], d)),
            Bad("cat", None, st.integers(1, 5).filter(lambda n: n != 2), lambda n: mg.cat([mg.ones(2, 3),
                                                                                          mg.ones(n, 4)], 1))],
    "stack": [Bad("stack", "dim", out_of_range(3), lambda d: mg.stack([mg.ones(2, 3), mg.ones(2, 3)], d)),
              Bad("stack", None, st.integers(1, 5).filter(lambda n: n != 3), lambda n: mg.stack([mg.ones(2, 3),
                                                                                                 mg.ones(2, n)]))],
    "split": [Bad("split", "split_size", below(1), lambda s: mg.split(mg.ones(4, 2), s)),
              Bad("split", "dim", out_of_range(2), lambda d: mg.split(mg.ones(4, 2), 2, d)),
              Bad("split", None, st.lists(st.integers(0, 5), max_size=3).filter(lambda s: sum(s) != 4),
                  lambda s: mg.split(mg.ones(4, 2), s))],
    "pad": [Bad("pad", None, st.lists(st.integers(-9, -1), min_size=2, max_size=2), lambda p: F.pad(mg.ones(3), p)),
            Bad("pad", None, st.lists(st.integers(0, 3), min_size=1, max_size=7).filter(lambda p: len(p) % 2),
                lambda p: F.pad(mg.ones(3), p))],
    "softmax": dim_op("softmax", lambda x, d=-1: mg.softmax(x, d)),
    "log_softmax": dim_op("log_softmax", lambda x, d=-1: mg.log_softmax(x, d)),
    "conv2d": [
        Bad("conv2d", "stride", below(1), lambda v: F.conv2d(x4(), mg.ones(4, 3, 3, 3), stride=v)),
        Bad("conv2d", "padding", st.one_of(st.integers(-_BIG, -1), st.floats(), st.none()),
            lambda v: F.conv2d(x4(), mg.ones(4, 3, 3, 3), padding=v)),
        Bad("conv2d", "dilation", below(1), lambda v: F.conv2d(x4(), mg.ones(4, 3, 3, 3), dilation=v)),
        Bad("conv2d", "groups", below(1), lambda v: F.conv2d(x4(), mg.ones(4, 3, 3, 3), groups=v)),
        Bad("conv2d", "stride", st.lists(st.integers(1, 3), max_size=4).filter(lambda s: len(s) != 2),
            lambda v: F.conv2d(x4(), mg.ones(4, 3, 3, 3), stride=v)),
        Bad("conv2d", None, st.integers(7, 40), lambda k: F.conv2d(x4(), mg.ones(4, 3, k, k))),
        Bad("conv2d", None, st.integers(1, 8).filter(lambda c: c != 3), lambda c: F.conv2d(x4(), mg.ones(4, c, 3, 3))),
    ],
    "conv2d_bias": [Bad("conv2d", "bias", st.integers(1, 8).filter(lambda n: n != 4),
                        lambda n: F.conv2d(x4(), mg.ones(4, 3, 3, 3), mg.ones(n)))],
    "max_pool2d": [
        Bad("max_pool2d", "kernel_size", below(1), lambda v: F.max_pool2d(x4(), v)),
        Bad("max_pool2d", "stride", below(1).filter(lambda v: v is not None), lambda v: F.max_pool2d(x4(), 2, stride=v)),
        Bad("max_pool2d", "padding", st.integers(-_BIG, -1), lambda v: F.max_pool2d(x4(), 2, padding=v)),
        Bad("max_pool2d", "padding", st.integers(2, 50), lambda v: F.max_pool2d(x4(), 2, padding=v)),
        Bad("max_pool2d", "dilation", below(1), lambda v: F.max_pool2d(x4(), 2, dilation=v)),
        Bad("max_pool2d", None, st.integers(7, _BIG), lambda v: F.max_pool2d(x4(), v)),
    ],
    "avg_pool2d": [
        Bad("avg_pool2d", "kernel_size", below(1), lambda v: F.avg_pool2d(x4(), v)),
        Bad("avg_pool2d", "stride", below(1).filter(lambda v: v is not None), lambda v: F.avg_pool2d(x4(), 2, stride=v)),
        Bad("avg_pool2d", "padding", st.integers(-_BIG, -1), lambda v: F.avg_pool2d(x4(), 2, padding=v)),
        Bad("avg_pool2d", None, st.integers(7, _BIG), lambda v: F.avg_pool2d(x4(), v)),
    ],
    "cross_entropy": [
        Bad("cross_entropy", None, st.integers(3, _BIG) | st.integers(-_BIG, -1),
            lambda t: F.cross_entropy(mg.ones(3, 3), mg.tensor([0, t, 1]))),
        Bad("cross_entropy", "reduction", st.text(max_size=5).filter(lambda s: s not in ("mean", "sum", "none")),
            lambda r: F.cross_entropy(mg.ones(3, 3), _T, reduction=r)),
        Bad("cross_entropy", "label_smoothing", outside(0, 1),
            lambda v: F.cross_entropy(mg.ones(3, 3), _T, label_smoothing=v)),
    ],
    "embedding": [Bad("embedding", None, st.integers(5, _BIG) | st.integers(-_BIG, -1),
                      lambda i: F.embedding(mg.tensor([0, i]), mg.ones(5, 2)))],
    "binary_cross_entropy": [
        Bad("binary_cross_entropy", None, st.integers(1, 5).filter(lambda n: n != 3),
            lambda n: F.binary_cross_entropy(mg.full((3,), 0.5), mg.full((n,), 0.5))),
        Bad("binary_cross_entropy", None, st.floats(1.001, 1e30) | st.floats(-1e30, -0.001) | st.just(-float("inf")),
            lambda v: F.binary_cross_entropy(mg.tensor([v]), mg.tensor([1.0])))],
    **{n: binary(n, getattr(mg, n)) for n in ("eq", "ne", "lt", "le", "gt", "ge")},
    **{n: [Bad(n, None, non_broadcastable(), lambda s, n=n: getattr(mg, n)(mg.ones(*s[0], dtype=mg.int64),
                                                                         mg.ones(*s[1], dtype=mg.int64)))]
       for n in ("bitwise_and", "bitwise_or")},
    # attention (the fused op, its five registry entries share the same argument checks)
    **{name: [
        Bad("scaled_dot_product_attention", "scale", st.one_of(st.text(max_size=3), st.just([1]), st.just(float("nan")),
                                                              st.just(float("inf"))),
            lambda v: F.scaled_dot_product_attention(_q(), _q(), _q(), scale=v)),
        Bad("scaled_dot_product_attention", "dropout_p", outside(0.0, 1.0),
            lambda v: F.scaled_dot_product_attention(_q(), _q(), _q(), dropout_p=v)),
        Bad("scaled_dot_product_attention", None, st.integers(1, 9).filter(lambda e: e != 5),
            lambda e: F.scaled_dot_product_attention(_q(), mg.randn(2, 3, 4, e), _q())),
        Bad("scaled_dot_product_attention", "attn_mask", st.integers(2, 9).filter(lambda n: n != 4),
            lambda n: F.scaled_dot_product_attention(_q(), _q(), _q(), attn_mask=mg.ones(n, n, dtype=mg.bool))),
        Bad("scaled_dot_product_attention", "query", NOT_TENSOR,
            lambda v: F.scaled_dot_product_attention(v, _q(), _q())),
    ] for name in ("sdpa", "sdpa_causal_l_gt_s", "sdpa_bool_mask", "sdpa_float_mask", "sdpa_mask_with_grad")},
    **{name: [
        Bad("rnn_sequence", "mode", st.text(max_size=6), lambda v: mg.ops.rnn_sequence(
            mg.randn(5, 2, 3), mg.randn(2, 3), mg.randn(3, 3), mode=v)),
        Bad("rnn_sequence", "h0", st.integers(1, 9).filter(lambda h: h != 3), lambda h: mg.ops.rnn_sequence(
            mg.randn(5, 2, 3), mg.randn(2, h), mg.randn(3, 3))),
        Bad("rnn_sequence", "bias_hh", st.integers(1, 9).filter(lambda b: b != 3), lambda b: mg.ops.rnn_sequence(
            mg.randn(5, 2, 3), mg.randn(2, 3), mg.randn(3, 3), bias_hh=mg.randn(b))),
        Bad("rnn_sequence", "reverse", st.one_of(st.text(max_size=2), st.integers(), st.none()),
            lambda v: mg.ops.rnn_sequence(mg.randn(5, 2, 3), mg.randn(2, 3), mg.randn(3, 3), reverse=v)),
        Bad("rnn_sequence", "input", NOT_TENSOR, lambda v: mg.ops.rnn_sequence(v, mg.randn(2, 3), mg.randn(3, 3))),
    ] for name in ("rnn_sequence_tanh", "rnn_sequence_lstm", "rnn_sequence_gru")},
    "tril": [Bad("tril", "diagonal", NOT_INT.filter(lambda v: v is not True), lambda v: mg.tril(mg.randn(3, 3), v)),
             Bad("tril", "input", st.integers(0, 1), lambda n: mg.tril(mg.randn(*[3] * n)))],
    "triu_diagonal": [Bad("triu", "diagonal", NOT_INT.filter(lambda v: v is not True),
                          lambda v: mg.triu(mg.randn(3, 3), v)),
                      Bad("triu", "input", st.integers(0, 1), lambda n: mg.triu(mg.randn(*[3] * n)))],
    "masked_fill": [
        Bad("masked_fill", "mask", st.sampled_from([mg.float32, mg.int64]),
            lambda d: mg.masked_fill(mg.randn(3, 3), mg.ones(3, 3, dtype=d), 0.0)),
        Bad("masked_fill", "mask", st.integers(2, 9).filter(lambda n: n != 3),
            lambda n: mg.masked_fill(mg.randn(3, 3), mg.ones(n, dtype=mg.bool), 0.0)),
        Bad("masked_fill", "value", st.one_of(st.text(max_size=3), st.none(), st.just([1.0])),
            lambda v: mg.masked_fill(mg.randn(3, 3), mg.ones(3, 3, dtype=mg.bool), v)),
    ],
    "bmm": [Bad("bmm", None, st.integers(1, 9).filter(lambda m: m != 4), lambda m: mg.bmm(mg.randn(2, 3, 4),
                                                                                       mg.randn(2, m, 5))),
            Bad("bmm", None, st.integers(0, 2), lambda n: mg.bmm(mg.randn(*[3] * n), mg.randn(2, 3, 3)))],
    "baddbmm": [
        Bad("baddbmm", None, st.integers(1, 9).filter(lambda m: m != 4),
            lambda m: mg.baddbmm(mg.randn(2, 3, 5), mg.randn(2, 3, 4), mg.randn(2, m, 5))),
        Bad("baddbmm", "beta", NOT_NUMBER, lambda v: mg.baddbmm(mg.randn(2, 3, 5), mg.randn(2, 3, 4),
                                                              mg.randn(2, 4, 5), beta=v)),
        Bad("baddbmm", "alpha", NOT_NUMBER, lambda v: mg.baddbmm(mg.randn(2, 3, 5), mg.randn(2, 3, 4),
                                                               mg.randn(2, 4, 5), alpha=v)),
        Bad("baddbmm", "input", st.integers(2, 9).filter(lambda n: n != 5),
            lambda n: mg.baddbmm(mg.randn(2, 3, n), mg.randn(2, 3, 4), mg.randn(2, 4, 5))),
    ],
    "topk": [Bad("topk", "k", st.one_of(st.integers(5, _BIG), st.integers(-_BIG, -1), NOT_INT),
                 lambda k: mg.topk(mg.randn(3, 4), k)),
             Bad("topk", "dim", out_of_range(2), lambda d: mg.topk(mg.randn(3, 4), 1, dim=d))],
}


def _params():
    return [mg.ones(2, requires_grad=True)]


def _opt():
    return mg.optim.SGD(_params(), lr=1.0)


# Hyper-parameters given to layers, optimisers, schedulers and loaders.
INVALID_CONFIG = {
    "Linear": [Bad("Linear", "in_features", below(0), lambda v: nn.Linear(v, 2)),
               Bad("Linear", "out_features", below(0), lambda v: nn.Linear(2, v))],
    "Conv2d": [Bad("Conv2d", "kernel_size", below(1), lambda v: nn.Conv2d(1, 2, v)),
               Bad("Conv2d", "stride", below(1), lambda v: nn.Conv2d(1, 2, 3, stride=v)),
               Bad("Conv2d", "padding", st.integers(-_BIG, -1), lambda v: nn.Conv2d(1, 2, 3, padding=v)),
               Bad("Conv2d", "dilation", below(1), lambda v: nn.Conv2d(1, 2, 3, dilation=v)),
               Bad("Conv2d", "groups", below(1), lambda v: nn.Conv2d(4, 4, 3, groups=v)),
               Bad("Conv2d", "groups", st.sampled_from([3, 5, 7]), lambda v: nn.Conv2d(4, 4, 3, groups=v)),
               Bad("Conv2d", "in_channels", below(1), lambda v: nn.Conv2d(v, 4, 3)),
               Bad("Conv2d", "padding_mode", st.text(max_size=4), lambda v: nn.Conv2d(1, 1, 3, padding_mode=v))],
    "Conv1d": [Bad("Conv1d", "kernel_size", below(1), lambda v: nn.Conv1d(1, 2, v))],
    "MaxPool2d": [Bad("MaxPool2d", "kernel_size", below(1), lambda v: nn.MaxPool2d(v)),
                  Bad("MaxPool2d", "stride", below(1).filter(lambda v: v is not None), lambda v: nn.MaxPool2d(2, v)),
                  Bad("MaxPool2d", "padding", st.integers(2, 99), lambda v: nn.MaxPool2d(2, padding=v))],
    "AvgPool2d": [Bad("AvgPool2d", "kernel_size", below(1), lambda v: nn.AvgPool2d(v))],
    "Dropout": [Bad("Dropout", "p", outside(0, 1), lambda v: nn.Dropout(v)),
                Bad("dropout", "p", outside(0, 1), lambda v: F.dropout(mg.ones(2), v))],
    "BatchNorm2d": [Bad("BatchNorm2d", "num_features", below(0), lambda v: nn.BatchNorm2d(v)),
                    Bad("BatchNorm2d", "eps", outside(0, float("inf")), lambda v: nn.BatchNorm2d(2, eps=v)),
                    Bad("BatchNorm2d", "momentum", outside(0, 1), lambda v: nn.BatchNorm2d(2, momentum=v))],
    "LayerNorm": [Bad("LayerNorm", "normalized_shape", st.integers(-_BIG, -1), lambda v: nn.LayerNorm(v)),
                  Bad("LayerNorm", "eps", outside(0, float("inf")), lambda v: nn.LayerNorm(2, eps=v))],
    "Embedding": [Bad("Embedding", "num_embeddings", below(0), lambda v: nn.Embedding(v, 2)),
                  Bad("Embedding", "padding_idx", st.integers(3, _BIG) | st.integers(-_BIG, -4),
                      lambda v: nn.Embedding(3, 2, padding_idx=v))],
    "LSTM": [Bad("LSTM", "hidden_size", below(1), lambda v: nn.LSTM(2, v)),
             Bad("LSTM", "num_layers", below(1), lambda v: nn.LSTM(2, 2, num_layers=v)),
             Bad("LSTM", "dropout", outside(0, 1), lambda v: nn.LSTM(2, 2, dropout=v))],
    "GRUCell": [Bad("GRUCell", "hidden_size", below(1), lambda v: nn.GRUCell(2, v))],
    "LeakyReLU": [Bad("LeakyReLU", "negative_slope", NOT_NUMBER, lambda v: nn.LeakyReLU(v))],
    "Softmax": [Bad("Softmax", "dim", NOT_INT.filter(lambda v: v is not None), lambda v: nn.Softmax(v))],
    "GELU": [Bad("GELU", "approximate", st.text(max_size=4), lambda v: nn.GELU(v))],
    "SGD": [Bad("SGD", "lr", outside(0, float("inf")), lambda v: mg.optim.SGD(_params(), lr=v)),
            Bad("SGD", "momentum", outside(0, float("inf")), lambda v: mg.optim.SGD(_params(), lr=1, momentum=v))],
    "Adam": [Bad("Adam", "lr", outside(0, float("inf")), lambda v: mg.optim.Adam(_params(), lr=v)),
             Bad("Adam", "betas", outside(0, 1), lambda v: mg.optim.Adam(_params(), betas=(v, 0.9))),
             Bad("Adam", "betas", outside(0, 1), lambda v: mg.optim.Adam(_params(), betas=(0.9, v))),
             Bad("Adam", "betas", st.lists(st.floats(0, 0.5), max_size=4).filter(lambda b: len(b) != 2),
                 lambda v: mg.optim.Adam(_params(), betas=v)),
             Bad("Adam", "eps", outside(0, float("inf")), lambda v: mg.optim.Adam(_params(), eps=v)),
             Bad("AdamW", "weight_decay", outside(0, float("inf")),
                 lambda v: mg.optim.AdamW(_params(), weight_decay=v))],
    "RMSprop": [Bad("RMSprop", "alpha", outside(0, float("inf")), lambda v: mg.optim.RMSprop(_params(), alpha=v))],
    "Adagrad": [Bad("Adagrad", "lr_decay", outside(0, float("inf")), lambda v: mg.optim.Adagrad(_params(), lr_decay=v))],
    "Adadelta": [Bad("Adadelta", "rho", outside(0, 1), lambda v: mg.optim.Adadelta(_params(), rho=v))],
    "StepLR": [Bad("StepLR", "step_size", below(1), lambda v: mg.optim.lr_scheduler.StepLR(_opt(), v))],
    "MultiStepLR": [Bad("MultiStepLR", "milestones", below(0), lambda v: mg.optim.lr_scheduler.MultiStepLR(_opt(), [v]))],
    "ExponentialLR": [Bad("ExponentialLR", "gamma", outside(0, float("inf")),
                          lambda v: mg.optim.lr_scheduler.ExponentialLR(_opt(), v))],
    "CosineAnnealingLR": [Bad("CosineAnnealingLR", "T_max", below(1),
                              lambda v: mg.optim.lr_scheduler.CosineAnnealingLR(_opt(), v))],
    "ReduceLROnPlateau": [
        Bad("ReduceLROnPlateau", "patience", below(0), lambda v: mg.optim.lr_scheduler.ReduceLROnPlateau(_opt(),
                                                                                                      patience=v)),
        Bad("ReduceLROnPlateau", "factor", outside(0, 0.999), lambda v: mg.optim.lr_scheduler.ReduceLROnPlateau(
            _opt(), factor=v)),
        Bad("ReduceLROnPlateau", "mode", st.text(max_size=4), lambda v: mg.optim.lr_scheduler.ReduceLROnPlateau(
            _opt(), mode=v))],
    "DataLoader": [Bad("DataLoader", "batch_size",
                       st.integers(-_BIG, 0) | st.sampled_from([1.5, float("nan"), float("inf"), "a", None, True]),
                       lambda v: mg.utils.data.DataLoader(list(range(4)), batch_size=v))],
    "Subset": [Bad("Subset", "indices", st.integers(4, _BIG) | st.integers(-_BIG, -5),
                   lambda i: mg.utils.data.Subset(list(range(4)), [0, i]))],
    "random_split": [Bad("random_split", "lengths", st.lists(st.integers(-3, 6), min_size=1, max_size=3).filter(
        lambda s: sum(s) not in (1, 4) or min(s) < 0), lambda s: mg.utils.data.random_split(range(4), s))],
}
