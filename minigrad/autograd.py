"""Reverse-mode automatic differentiation, define-by-run.

Every differentiable op is a `Function`: `forward` computes on raw arrays and
`backward` maps the output's gradient to the inputs' gradients using Tensor ops, so
that gradients of gradients (`create_graph=True`) come for free. Calling a Function on
Tensors records it as the output's `grad_fn`; `backward()` walks those records from the
output back to the leaves in reverse topological order and sums the gradients.
"""
import functools
import weakref

import numpy as np

_ndarray, _generic, _asarray = np.ndarray, np.generic, np.asarray


class GradMode:
    enabled = True


def is_grad_enabled():
    return GradMode.enabled


class _GradModeSwitch:
    """Context manager and decorator that sets graph recording to `mode` for a block."""

    def __init__(self, mode):
        self.mode = mode

    def __enter__(self):
        self.prev = GradMode.enabled
        GradMode.enabled = self.mode
        return self

    def __exit__(self, *exc):
        GradMode.enabled = self.prev

    def __call__(self, func):
        mode = self.mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with _GradModeSwitch(mode):
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradModeSwitch):
    """`with no_grad():` runs ops without recording a graph (inference, optimiser steps)."""

    def __init__(self):
        super().__init__(False)


class enable_grad(_GradModeSwitch):
    """Turn recording back on inside a `no_grad` block."""

    def __init__(self):
        super().__init__(True)


class set_grad_enabled(_GradModeSwitch):
    """Like torch: switches at once when called, restores at the end of a `with` block."""

    def __init__(self, mode=True):
        super().__init__(bool(mode))
        self.prev = GradMode.enabled
        GradMode.enabled = self.mode

    def __enter__(self):
        return self

    def __call__(self, func):
        GradMode.enabled = self.prev  # used as a decorator: undo the switch made by __init__
        return super().__call__(func)


class Function:
    """One node of the graph.

    Subclasses implement
      forward(*arrays) -> array      on the inputs' raw arrays (numpy or cupy)
      backward(gy) -> grad or tuple  gy is a Tensor; return one Tensor (or None) per input
    Options an op needs (axis, stride, ...) go to `__init__`; values that backward needs
    are kept on `self`. `self.inputs` are the input Tensors and `self.output` the output.
    """

    differentiable_backward = True  # False: backward uses raw kernels, no create_graph
    saves_inputs = True  # backward reads input values: guard them against in-place changes
    saves_output = False  # backward reads the output's value: guard it too
    is_view = False  # the output shares memory (and so the version counter) with input 0

    inputs = None
    _out = None
    _y = None

    def __call__(self, *inputs):
        x0 = inputs[0]
        device = x0.device
        requires_grad = x0._requires_grad  # the slots, not the checked properties: this is the hot path
        for x in inputs[1:]:
            if x.device is not device and x.device != device:
                raise RuntimeError(f"{self.name}: expected all tensors on the same device, got {device} and {x.device}")
            requires_grad = requires_grad or x._requires_grad
        self.device = device
        self.needs_grad = record = requires_grad and GradMode.enabled  # forward may skip what only backward uses
        try:
            y = self.forward(*[x.array for x in inputs]) if len(inputs) > 1 else self.forward(x0.array)
        except (ValueError, IndexError, TypeError) as e:
            if str(e).startswith(self.name + ":"):
                raise
            shapes = ", ".join(f"{tuple(x.shape)} {x.dtype}" for x in inputs)
            raise type(e)(f"{self.name}: {e} (inputs: {shapes})") from None
        if type(y) is not _ndarray and isinstance(y, _generic):
            y = _asarray(y)  # numpy hands back scalars for 0-d results
        out = type(x0)._make(y, device)
        if self.is_view:
            out._version = x0._version
        if record:
            out._requires_grad = True  # float inputs needing grad give a float output: no dtype check needed
            out.grad_fn = self
            self.inputs = inputs
            self._versions = [x._version[0] for x in inputs] if self.saves_inputs else None
            self._out = weakref.ref(out)
            self._out_version = out._version[0]
            if self.saves_output:
                self._y = y  # the array, so backward can rebuild the output if its Tensor is gone
        return out

    @property
    def name(self):
        return type(self).__name__.lower()

    @property
    def backend(self):
        """The backend that runs this op's kernels (the inputs' device's)."""
        return self.device.backend

    @property
    def xp(self):
        """The array module of this op's inputs: numpy or cupy."""
        return self.device.xp

    @property
    def output(self):
        """The output Tensor (rebuilt around the saved array when no one holds it any more)."""
        out = self._out()
        if out is None:
            out = type(self.inputs[0])._make(self._y, self.device)
            out._requires_grad, out.grad_fn = True, self
        return out

    @property
    def needs_input_grad(self):
        return tuple(x.requires_grad for x in self.inputs)

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, gy):
        raise NotImplementedError

    def _check_saved(self):
        if self.inputs is None:
            raise RuntimeError(
                f"{self.name}: trying to backward through the graph a second time; its saved values were "
                "freed after the first backward. Pass retain_graph=True to the first backward call.")
        if self._versions is not None:
            for i, (x, v) in enumerate(zip(self.inputs, self._versions)):
                if x._version[0] != v:
                    raise RuntimeError(
                        f"{self.name}: input {i} of shape {x.shape}, needed for the gradient, was modified in "
                        f"place (version {x._version[0]}, expected {v}). Use an out-of-place op, or clone() first.")
        if self.saves_output:
            out = self._out()
            if out is not None and out._version[0] != self._out_version:
                raise RuntimeError(
                    f"{self.name}: its output of shape {out.shape}, needed for the gradient, was modified in place.")

    def __repr__(self):
        return f"<{type(self).__name__}Backward>"


def _topological_order(root):
    """Functions reachable from `root`, each after every Function that consumes its output."""
    order, visited, stack = [], set(), [(root, False)]
    while stack:  # iterative depth-first search: a 10,000-op chain needs no recursion
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if fn in visited:
            continue
        visited.add(fn)
        stack.append((fn, True))
        for x in fn.inputs or ():
            f = x.grad_fn
            if f is not None and f not in visited:
                stack.append((f, False))
    order.reverse()
    return order


class SliceGrad:
    """The gradient of x[index] for a basic index (ints, slices): zero except `values` at `index`.

    A sequence model reads x[t] for every step t; materialising a full-size gradient per slice
    would cost O(T^2). The engine instead adds each slice into one buffer it owns, in place.
    Backward functions return one only when no graph is being built (create_graph=False).
    """

    __slots__ = ("index", "shape", "values")

    def __init__(self, index, shape, values):
        self.index, self.shape, self.values = index, shape, values

    def dense(self):
        g = self.values
        buf = g.xp.zeros(self.shape, dtype=g.dtype)
        buf[self.index] = g.array
        return type(g)._make(buf, g.device)


class _Owned:
    """A gradient buffer allocated during this backward pass: later gradients may be added in place."""

    __slots__ = ("t",)

    def __init__(self, t):
        self.t = t


def _sum_grads(prev, gx, create_graph):
    """prev + gx for gradients of one tensor (each a Tensor, SliceGrad or _Owned; prev may be None).
    Without create_graph the sum goes in place into a buffer this pass owns; with it, through ops."""
    if prev is None:
        return gx
    if create_graph:
        return prev + gx
    if type(prev) is not _Owned:  # prev may be shared (a + b hands one gradient to both): get our own
        if type(prev) is SliceGrad:
            prev = _Owned(prev.dense())
        elif type(gx) is SliceGrad:
            prev = _Owned(prev + 0)
        else:
            return _Owned(prev + gx)  # a fresh array
    buf = prev.t.array
    if type(gx) is SliceGrad:
        buf[gx.index] += gx.values.array
    elif gx.shape == buf.shape and gx.dtype == buf.dtype:
        buf += gx.array
    else:
        return _Owned(prev.t + gx)
    return prev


def _dense(g):
    return g.t if type(g) is _Owned else g.dense() if type(g) is SliceGrad else g


def run_backward(root, gradient, retain_graph=False, create_graph=False, inputs=None):
    """Accumulate d(root)/d(leaf) into every leaf's `.grad` (or return them for `inputs`)."""
    wanted = None if inputs is None else {id(t): None for t in inputs}
    grads = {root.grad_fn: gradient}
    with set_grad_enabled(create_graph):
        for fn in _topological_order(root.grad_fn):
            gy = grads.pop(fn, None)
            if gy is None:
                continue
            gy = _dense(gy)
            fn._check_saved()
            if create_graph and not fn.differentiable_backward:
                raise RuntimeError(f"{fn.name}: create_graph=True is not supported, its backward is not differentiable")
            out = fn._out()
            if out is not None and out._retains_grad:
                out.grad = gy if out.grad is None else out.grad + gy
            gxs = fn.backward(gy)
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            for x, gx in zip(fn.inputs, gxs):
                if gx is None or not x.requires_grad:
                    continue
                if x.grad_fn is not None:
                    grads[x.grad_fn] = _sum_grads(grads.get(x.grad_fn), gx, create_graph)
                    if wanted is not None and id(x) in wanted:
                        gx = _dense(gx)
                        wanted[id(x)] = gx if wanted[id(x)] is None else wanted[id(x)] + gx
                elif wanted is not None:
                    if id(x) in wanted:
                        gx = _dense(gx)
                        wanted[id(x)] = gx if wanted[id(x)] is None else wanted[id(x)] + gx
                else:
                    _accumulate_leaf(x, _dense(gx), create_graph)
            if not retain_graph:
                fn.inputs = fn._y = None
    if wanted is not None:
        return [wanted[id(t)] for t in inputs]
    return None


def _accumulate_leaf(x, gx, create_graph):
    if gx.shape != x.shape:
        raise RuntimeError(f"backward: gradient of shape {gx.shape} does not match leaf of shape {x.shape}")
    if not create_graph:
        gx = gx.detach()
    if x.grad is None:
        # own the memory: backward may hand the same array to several inputs (a + b)
        x.grad = gx if create_graph else type(x)._make(gx.array.copy(), x.device)
    else:
        x.grad = x.grad + gx


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False):
    """d(outputs)/d(inputs) returned as a list, leaving every `.grad` untouched (torch.autograd.grad)."""
    single = not isinstance(inputs, (list, tuple))
    inputs = [inputs] if single else list(inputs)
    root = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
    g = grad_outputs[0] if isinstance(grad_outputs, (list, tuple)) else grad_outputs
    gradient = root._initial_grad(g)
    keep = create_graph if retain_graph is None else retain_graph
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"grad: one of the inputs (shape {t.shape}) does not require grad")
    if root.grad_fn is None:
        return [gradient if t is root else None for t in inputs]
    return run_backward(root, gradient, retain_graph=keep, create_graph=create_graph, inputs=inputs)
