"""Reverse-mode automatic differentiation, define-by-run.

Every differentiable op is a `Function`. minigrad's own ops are written like this:

    class Mul(Function):
        def forward(self, a, b):      # raw arrays in (numpy or cupy), a raw array out
            return a * b

        def backward(self, gy):       # a Tensor in, one gradient per input out
            a, b = self.inputs
            return gy * b, gy * a

Calling `Mul()(x, y)` runs forward and, when a gradient will be needed, records the Function
as the output's `grad_fn`, together with its `inputs`. Those records are the graph, and
`backward()` walks it from the output back to the leaves (autograd_engine.py). Because
backward is written with Tensor ops, running it while recording gives gradients of gradients
(create_graph=True). PyTorch-style Functions (static forward(ctx, ...), `.apply`) work too:
see autograd_function.py. Hooks: grad_hooks.py. Grad modes (no_grad, ...): grad_mode.py.
"""
import inspect
import weakref

import numpy as np

from .autograd_engine import (AccumulateGrad, Node, _NodeName, _topological_order, backward, grad,
                              grad_accumulator, run_backward)
from .anomaly import (AnomalyMode, detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled,
                      record_creation, set_detect_anomaly)
from .autograd_function import FunctionCtx, adopt_torch_style, apply_torch_style, once_differentiable
from .grad_buffers import SliceGrad
from .grad_hooks import RemovableHandle, add_hook
from .grad_mode import (GradMode, enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                        set_grad_enabled)

__all__ = ["Function", "FunctionCtx", "once_differentiable", "Node", "AccumulateGrad", "BackwardHookFunction",
           "DelayedError", "SliceGrad", "RemovableHandle", "GradMode", "no_grad", "enable_grad", "set_grad_enabled",
           "inference_mode", "is_grad_enabled", "is_inference_mode_enabled", "backward", "grad", "run_backward",
           "grad_accumulator", "_topological_order", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled"]  # (the last for tutorial 02, which prints its source)

_ndarray, _generic, _asarray = np.ndarray, np.generic, np.asarray


class Function(Node, FunctionCtx):
    """One op, and the graph node it leaves behind.

    minigrad's style, used by every op in minigrad/ops:
      forward(self, *arrays) -> array     on the inputs' raw arrays; or a tuple of arrays (several outputs)
      backward(self, *grads) -> grad(s)   one Tensor per output in; one Tensor (or None) per input out
    Options (axis, stride, ...) go to `__init__`, and each call makes an instance: `Mul()(a, b)`.
    Values that backward needs are kept on `self` in forward. `self.inputs` are the input Tensors,
    `self.output` the output (`self.outputs` with several), `self.create_graph` says whether the
    engine records the gradient's own graph. With several outputs, backward receives zeros for
    an output that got no gradient (set `materialize_grads = False` on the class to get None).

    PyTorch's style (static forward(ctx, ...) and backward(ctx, ...), `Cls.apply(...)`) is told apart
    by its static forward: see autograd_function.py.
    """

    differentiable_backward = True  # False: backward uses raw kernels, no create_graph
    backward_reads_inputs = True  # backward reads input values: guard them against in-place changes
    saves_output = False  # backward reads the output's value: guard it too
    is_view = False  # the output shares memory (and so the version counter) with input 0
    create_graph = False  # set by the engine before backward: is the gradient's graph being recorded?
    _torch_style = False

    _out = None  # weak reference to the output (one output); _outs: a list of them (several)
    _y = None  # the output's array, kept when saves_output (the output Tensor itself may be dropped)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        torch_style = isinstance(inspect.getattr_static(cls, "forward"), staticmethod)
        node_name = cls.__name__.lstrip("_") + ("Backward" if torch_style else "Backward0")  # as PyTorch names them
        own = vars(cls).get("name")
        if own is None or isinstance(own, str):
            cls.name = _NodeName(own or cls.__name__.lower(), node_name)
        elif isinstance(own, property):  # an op that names itself per instance ("min" or "max")
            cls.name = property(lambda self, short=own.fget: _NodeName(short(self), node_name))
        if torch_style:
            adopt_torch_style(cls)

    @classmethod
    def apply(cls, *args, **kwargs):
        """Torch-style Functions: run forward, record the node. minigrad-style ones: `cls()(*args)`."""
        if cls._torch_style:
            return apply_torch_style(cls, args, kwargs)
        return cls()(*args, **kwargs)

    def __call__(self, *inputs):
        x0 = inputs[0]
        try:
            device = x0.device
            requires_grad = x0._requires_grad  # the slots, not the checked properties: this is the hot path
            for x in inputs[1:]:
                if x.device is not device and x.device != device:
                    raise RuntimeError(f"{self.name}: expected all tensors on the same device, got {device} and "
                                       f"{x.device}")
                requires_grad = requires_grad or x._requires_grad
        except AttributeError:  # not a Tensor
            bad = next(i for i, x in enumerate(inputs) if not hasattr(x, "_requires_grad"))
            raise TypeError(f"{self.name}: input {bad} must be a Tensor, got {type(inputs[bad]).__name__}") from None
        self.device = device
        self.needs_grad = record = requires_grad and GradMode.enabled  # forward may skip what only backward uses
        try:
            y = self.forward(*[x.array for x in inputs]) if len(inputs) > 1 else self.forward(x0.array)
        except (ValueError, IndexError, TypeError) as e:
            if str(e).startswith(self.name + ":"):
                raise
            shapes = ", ".join(f"{tuple(x.shape)} {x.dtype}" for x in inputs)
            if "could not be broadcast" in str(e):  # numpy's wording, in torch's terms
                raise ValueError(f"{self.name}: the shapes of the inputs ({shapes}) cannot be broadcast "
                                 "together") from None
            kind = next(c for c in (IndexError, TypeError, ValueError) if isinstance(e, c))  # (not numpy's subclasses)
            raise kind(f"{self.name}: {e} (inputs: {shapes})") from None
        if type(y) is not _ndarray:
            if type(y) is tuple:
                return self._several_outputs(inputs, y, record)
            if isinstance(y, _generic):
                y = _asarray(y)  # numpy hands back scalars for 0-d results
        out = type(x0)._make(y, device)
        if self.is_view:
            out._version = x0._version
        if record:
            out._requires_grad = True  # float inputs needing grad give a float output: no dtype check needed
            out.grad_fn = self
            self.inputs = inputs
            self._versions = [x._version[0] for x in inputs] if self.backward_reads_inputs else None
            self._out = weakref.ref(out)
            self._out_version = out._version[0]
            if self.saves_output:
                self._y = y  # the array, so backward can rebuild the output if its Tensor is gone
            if AnomalyMode.enabled:
                record_creation(self)
        return out

    def _several_outputs(self, inputs, ys, record):
        """__call__ for a forward that returned a tuple of arrays: one output Tensor per array."""
        make, device = type(inputs[0])._make, self.device
        outs = tuple(make(_asarray(y) if isinstance(y, _generic) else y, device) for y in ys)
        if self.is_view:
            for out in outs:
                out._version = inputs[0]._version
        if record:
            self._record_outputs(inputs, outs, [o.dtype.kind in "fc" for o in outs])
            if self.saves_output:
                self._y = ys
        return outs

    def _record_outputs(self, inputs, outs, differentiable):
        """Become the grad_fn of the differentiable ones among several outputs (or a torch-style
        Function's outputs, where some may not be Tensors at all)."""
        self.inputs = tuple(inputs)
        self._versions = [x._version[0] for x in inputs] if self.backward_reads_inputs else None
        self.n_outputs = len(outs)
        if AnomalyMode.enabled:
            record_creation(self)
        is_tensor = [hasattr(out, "_version") for out in outs]  # torch style: any value may come out
        refs = [weakref.ref(out) if t else None for out, t in zip(outs, is_tensor)]
        versions = [out._version[0] if t else None for out, t in zip(outs, is_tensor)]
        self._out_meta = [(out.shape, out.dtype) if t else None for out, t in zip(outs, is_tensor)]  # for zeros
        if len(outs) == 1:
            self._out, self._out_version = refs[0], versions[0]
        else:
            self._outs, self._out_version = refs, versions
        for out, diff in zip(outs, differentiable):
            if diff:
                out._requires_grad = True
                out.grad_fn = self

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
        return self._output_tensor(0)

    @property
    def outputs(self):
        """All output Tensors, in forward's order (None where forward returned a non-Tensor)."""
        return tuple(self._output_tensor(k) for k in range(self.n_outputs))

    def _live_output(self, k):
        """Output k if someone still holds it, else None."""
        ref = self._out if self.n_outputs == 1 else self._outs[k]
        return None if ref is None else ref()

    def _output_tensor(self, k):
        out = self._live_output(k)
        if out is None:
            y = self._y if self.n_outputs == 1 else (None if self._y is None else self._y[k])
            if y is None:
                raise RuntimeError(f"{self.name}: output {k} is gone and was not saved; set saves_output = True "
                                   "on the op (torch style: save_for_backward it)")
            out = type(self.inputs[0])._make(y, self.device)
            out._requires_grad, out.grad_fn = True, self
            if self.n_outputs == 1:
                self._out = weakref.ref(out)
            else:
                self._outs[k] = weakref.ref(out)
        return out

    def _output_index(self, t):
        """Which of this node's outputs the tensor t is."""
        if self.n_outputs == 1:
            return 0
        for k, ref in enumerate(self._outs):
            if ref is not None and ref() is t:
                return k
        raise RuntimeError(f"{self.name}: the tensor of shape {tuple(t.shape)} is not one of its outputs")

    def _materialized(self, grads):
        """grads with zeros for the outputs that received none (as PyTorch gives backward)."""
        if all(g is not None for g in grads):
            return grads
        x0 = self.inputs[0]
        return [g if g is not None or self._out_meta[k] is None else
                type(x0)._make(x0.xp.zeros(*self._out_meta[k]), self.device) for k, g in enumerate(grads)]

    def _call_backward(self, grads):
        """backward with one gradient per output; returns a tuple with one gradient (or None) per input."""
        if self.n_outputs == 1:
            gxs = self.backward(grads[0])
        else:
            gxs = self.backward(*(self._materialized(grads) if self.materialize_grads else grads))
        return gxs if type(gxs) is tuple else (gxs,)

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *grads):
        raise NotImplementedError

    def register_prehook(self, fn):
        """fn(grad_outputs) -> new grad_outputs or None, called before this node's backward."""
        return add_hook(self._hooks_to_change().pre, fn, "register_prehook")

    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) -> new grad_inputs or None, called after this node's backward."""
        return add_hook(self._hooks_to_change().post, fn, "register_hook")

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
            saved = ((self._out, self._out_version),) if self.n_outputs == 1 else zip(self._outs, self._out_version)
            for ref, expected in saved:
                out = None if ref is None else ref()
                if out is not None and out._version[0] != expected:
                    raise RuntimeError(f"{self.name}: its output of shape {out.shape}, needed for the gradient, "
                                       "was modified in place.")


Function.name = _NodeName("function", "FunctionBackward")


class DelayedError(Function):
    """Identity whose backward raises `message`: it marks a result that must not be differentiated."""

    backward_reads_inputs, is_view = False, True

    def __init__(self, message):
        self.message = message

    def forward(self, x):
        return x

    def backward(self, gy):
        raise RuntimeError(self.message)


class BackwardHookFunction(Function):
    """y_1, ..., y_n = x_1, ..., x_n as one node, whose backward receives the gradients of all the
    y's at once: the place to hang a module's backward hooks (`ys[0].grad_fn.register_prehook`).
    Always returns a tuple; an x that does not require grad gives a y that does not either."""

    @staticmethod
    def forward(ctx, *tensors):
        ctx.mark_non_differentiable(*[t for t in tensors if not t.requires_grad])
        return tensors

    @staticmethod
    def backward(ctx, *grads):
        return grads
