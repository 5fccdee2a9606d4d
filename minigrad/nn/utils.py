"""Gradient clipping, parameter <-> vector conversion and weight penalties."""
import math

import numpy as np

from .. import ops
from ..autograd import no_grad
from ..tensor import Tensor


def _params(parameters):
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their joint norm is at most max_norm.

    Returns the total norm (before clipping) as a 0-d tensor. norm_type may be float('inf').
    """
    if not float(max_norm) >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be non-negative, got {max_norm!r}")
    if not float(norm_type) > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be positive, got {norm_type!r}")
    params = [p for p in _params(parameters) if p.grad is not None]
    if not params:
        return Tensor(0.0)
    norm_type = float(norm_type)
    grads = [p.grad.array for p in params]
    xp = params[0].xp
    if math.isinf(norm_type):
        total = max(float(xp.abs(g).max()) if g.size else 0.0 for g in grads)
    else:
        total = float(sum(float((xp.abs(g) ** norm_type).sum()) for g in grads) ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite "
                           f"({total}); set error_if_nonfinite=False to clip anyway")
    coef = min(max_norm / (total + 1e-6), 1.0)
    if coef < 1.0:
        with no_grad():
            for p in params:
                p.grad.array = p.grad.array * coef
    return Tensor(total, dtype=params[0].dtype)


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    for p in _params(parameters):
        if p.grad is not None:
            p.grad.array = p.xp.clip(p.grad.array, -clip_value, clip_value)


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    return ops.cat([p.reshape(-1) for p in _params(parameters)], 0)


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D `vec` into the parameters, in place."""
    data = vec.array if isinstance(vec, Tensor) else np.asarray(vec)
    start = 0
    params = _params(parameters)
    total = sum(p.numel() for p in params)
    if data.ndim != 1 or data.shape[0] != total:
        raise ValueError(f"vector_to_parameters: expected a vector of {total} elements, got shape {data.shape}")
    for p in params:
        n = p.numel()
        p.array[...] = data[start:start + n].reshape(p.shape)
        p._version[0] += 1
        start += n


def l1_penalty(parameters):
    """sum over all parameters of sum |w| (differentiable): add `lam * l1_penalty(model.parameters())` to the loss."""
    total = None
    for p in _params(parameters):
        term = p.abs().sum()
        total = term if total is None else total + term
    return Tensor(0.0) if total is None else total


def l2_penalty(parameters):
    """sum over all parameters of sum w^2 -- the plain sum of squares, no 1/2 factor (torch's weight_decay
    corresponds to lam/2 * l2_penalty, since d/dw of sum w^2 is 2w)."""
    total = None
    for p in _params(parameters):
        term = (p * p).sum()
        total = term if total is None else total + term
    return Tensor(0.0) if total is None else total


from .lora import apply_lora, load_lora, lora_state_dict, merge_lora, save_lora, unmerge_lora  # noqa: E402,F401
