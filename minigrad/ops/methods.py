"""Tensor's operators and op methods, all from one table.

Each entry maps a method name to the op function that serves it; the function's first
argument is the tensor: `"exp": exp` makes `x.exp()` call `exp(x)`, and `"__add__": add`
makes `x + y` call `add(x, y)`. Python answers `2 - x` with `x.__rsub__(2)`, which must
compute `sub(2, x)`: `reflected(sub)` swaps the operands back.

`install(Tensor)` (run once when minigrad.ops loads) sets every entry on the class as a
plain function, so a method call costs no more than calling the op itself.
"""
from .compare import all, any, bitwise_and, bitwise_not, bitwise_or, eq, ge, gt, le, lt, ne
from .convert import clone, to
from .elementwise import (abs, add, clamp, cos, div, exp, log, maximum, minimum, mul, neg, pow, relu, sigmoid,
                          sin, softplus, sqrt, sub, tanh)
from .elementwise import masked_fill, masked_fill_
from .matmul import baddbmm, bmm, matmul
from .reduce import amax, amin, argmax, argmin, logsumexp, max, mean, min, norm, std, sum, var
from .shape import (chunk, expand, expand_as, flatten, getitem, permute, reshape, split, squeeze, t, transpose,
                    unsqueeze, view_as)
from .shape import tril, triu
from .softmax import log_softmax, softmax
from .sampling import multinomial, topk


def reflected(op):
    """The method for `other <op> tensor`, which Python sends to the tensor with the operands swapped."""
    op = getattr(op, "__wrapped__", op)

    def method(self, other):
        return op(other, self)
    method.__name__ = method.__qualname__ = f"reflected_{op.__name__}"
    return method


TENSOR_METHODS = {
    # arithmetic: x + y, 2 * x, x.add(y), ...
    "__add__": add, "__radd__": add, "add": add,  # + and * commute: 2 + x is x + 2, no swap needed
    "__sub__": sub, "__rsub__": reflected(sub), "sub": sub,
    "__mul__": mul, "__rmul__": mul, "mul": mul,
    "__truediv__": div, "__rtruediv__": reflected(div), "div": div,
    "__pow__": pow, "__rpow__": reflected(pow), "pow": pow,
    "__matmul__": matmul, "__rmatmul__": reflected(matmul), "matmul": matmul,
    "__neg__": neg, "neg": neg,
    "__abs__": abs, "abs": abs,
    # elementwise functions
    "exp": exp, "log": log, "sqrt": sqrt, "sin": sin, "cos": cos, "tanh": tanh, "sigmoid": sigmoid,
    "relu": relu, "softplus": softplus, "clamp": clamp, "clip": clamp, "maximum": maximum, "minimum": minimum,
    # comparisons and logic (no gradient)
    "__eq__": eq, "__ne__": ne, "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge,
    "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge,
    "__and__": bitwise_and, "__rand__": bitwise_and, "__or__": bitwise_or, "__ror__": bitwise_or,
    "__invert__": bitwise_not, "all": all, "any": any,
    # reductions
    "sum": sum, "mean": mean, "var": var, "std": std, "max": max, "min": min, "amax": amax, "amin": amin,
    "logsumexp": logsumexp, "argmax": argmax, "argmin": argmin, "norm": norm,
    "softmax": softmax, "log_softmax": log_softmax,
    # shape and indexing
    "__getitem__": getitem,
    "reshape": reshape, "view": reshape, "view_as": view_as, "flatten": flatten,
    "squeeze": squeeze, "unsqueeze": unsqueeze, "expand": expand, "expand_as": expand_as,
    "permute": permute, "transpose": transpose, "t": t, "split": split, "chunk": chunk,
    # conversions
    "to": to, "clone": clone,
    # attention helpers
    "tril": tril, "triu": triu, "masked_fill": masked_fill, "masked_fill_": masked_fill_, "bmm": bmm,
    "baddbmm": baddbmm,
    # sampling
    "topk": topk, "multinomial": multinomial,
}
# the ops that take torch's `out=` are wrapped for it (convert.with_out); methods take the op itself,
# as torch's methods have no `out=`, so that operators stay as fast as the op
TENSOR_METHODS = {name: getattr(fn, "__wrapped__", fn) for name, fn in TENSOR_METHODS.items()}


def install(cls):
    """Set every TENSOR_METHODS entry on the Tensor class."""
    for name, fn in TENSOR_METHODS.items():
        setattr(cls, name, fn)
