"""Check analytic gradients against central finite differences, in float64.

    numeric d f / d x_i  ~  (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

The output is reduced to a scalar with fixed random weights, so one pass of backward
gives the whole gradient; every input element is then perturbed in turn.
"""
import numpy as np

from .autograd import grad as autograd_grad
from .autograd import enable_grad, no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    pass


def _differentiable(out):
    """Indices of fn's outputs to check: the Tensors that require grad. If none does (fn is constant in
    its inputs), every floating-point output, whose numeric gradient must then be zero."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    tensors = [k for k, o in enumerate(outs) if isinstance(o, Tensor) and o.dtype.kind == "f"]
    return [k for k in tensors if outs[k].requires_grad] or tensors


def _scalar(out, weights, checked):
    """sum_k (out_k * weights_k).sum() over the differentiable outputs: one number to differentiate."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    total = None
    for k, w in zip(checked, weights):
        term = (outs[k] * w).sum()
        total = term if total is None else total + term
    return total


def _name(fn, out):
    owner = getattr(fn, "__self__", None)  # MyFunction.apply: name the class
    name = f"{owner.__name__}.apply" if isinstance(owner, type) else getattr(fn, "__name__", repr(fn))
    o = out[0] if isinstance(out, (tuple, list)) else out
    if getattr(o, "grad_fn", None) is not None:
        return f"{name} (output made by {o.grad_fn.name()})"
    return name


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0):
    """True when fn's analytic gradients match finite differences for every input that requires grad."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != np.float64:
            raise GradcheckError(f"gradcheck: input {i} is {x.dtype}; finite differences need float64")
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    diff = _differentiable(out)
    if not diff:
        raise GradcheckError(f"gradcheck: {_name(fn, out)} has no floating-point Tensor output")
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(outs[k].shape) for k in diff]
    name = _name(fn, out)
    total = _scalar(out, weights, diff)
    analytic = (autograd_grad(total, [inputs[i] for i in checked], allow_unused=True) if total.requires_grad
                else [None] * len(checked))

    for i, g in zip(checked, analytic):
        x = inputs[i]
        numeric = np.zeros(x.shape)
        with no_grad():
            for k in np.ndindex(*x.shape):  # index the array itself: views and strided inputs work too
                orig = x.array[k]
                x.array[k] = orig + eps
                plus = _scalar(fn(*inputs), weights, diff).item()
                x.array[k] = orig - eps
                minus = _scalar(fn(*inputs), weights, diff).item()
                x.array[k] = orig
                numeric[k] = (plus - minus) / (2 * eps)
        a = np.zeros(x.shape) if g is None else np.asarray(g.numpy(), dtype=np.float64)
        bad = np.abs(a - numeric) > atol + rtol * np.abs(numeric)
        if bad.any():
            err = np.abs(a - numeric) - rtol * np.abs(numeric)
            worst = np.unravel_index(np.argmax(err), x.shape) if x.ndim else ()
            msg = (f"gradcheck failed for {name}: input {i} (shape {x.shape}) at index {tuple(map(int, worst))}: "
                   f"analytic {a[worst]:.8g} vs numeric {numeric[worst]:.8g} "
                   f"({int(bad.sum())} of {bad.size} elements off)")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=1):
    """Check second derivatives: gradcheck the (create_graph) gradient of fn's weighted output."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    diff = _differentiable(out)
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(outs[k].shape) for k in diff]

    def first_grads(*xs):
        with enable_grad():  # gradcheck perturbs under no_grad; the first derivative needs a graph
            gs = autograd_grad(_scalar(fn(*xs), weights, diff), [xs[i] for i in checked], create_graph=True,
                               allow_unused=True)
        return tuple(g for g in gs if g is not None)

    first_grads.__name__ = f"grad of {_name(fn, out)}"
    return gradcheck(first_grads, inputs, eps, atol, rtol, raise_exception, seed)
