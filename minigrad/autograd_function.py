"""PyTorch's protocol for custom Functions, on minigrad's Function.

    class Exp(minigrad.autograd.Function):
        @staticmethod
        def forward(ctx, x):              # Tensors (and any other arguments) in, run under no_grad
            y = x.exp()
            ctx.save_for_backward(y)
            return y                      # a Tensor, or a tuple of them

        @staticmethod
        def backward(ctx, gy):            # one gradient per output in, one per forward argument out
            (y,) = ctx.saved_tensors
            return gy * y

    y = Exp.apply(x)

A class whose `forward` is a staticmethod is taken to follow this protocol. `ctx` is the graph
node itself (an instance of the class, `y.grad_fn`). forward may also skip ctx,
`forward(*args)`, when the class defines `setup_context(ctx, inputs, output)` to fill ctx.
"""
import functools

from .grad_mode import GradMode, no_grad


def _tensor_class():
    from .tensor import Tensor  # tensor.py imports the engine, so not at the top
    return Tensor


class FunctionCtx:
    """What forward and backward may call on `ctx` (mixed into Function)."""

    materialize_grads = True  # backward gets zeros for outputs that received no gradient (False: None)
    _to_save = None
    _saved = None  # (tensor, its version counter, version when saved, output index or None) per saved tensor
    _needs_input_grad = None
    _non_differentiable = ()

    @staticmethod
    def setup_context(ctx, inputs, output):
        """Define it (as a staticmethod) to fill ctx after a `forward(*args)` that takes no ctx."""
        raise NotImplementedError

    def save_for_backward(self, *tensors):
        """Keep tensors (or None) for backward, which reads them as `ctx.saved_tensors`. Changing one
        in place before backward makes `saved_tensors` raise, as in PyTorch."""
        Tensor = _tensor_class()
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"{self.name}: save_for_backward takes Tensors or None, argument {i} is a "
                                f"{type(t).__name__}; keep other values as attributes of ctx")
        self._to_save = tensors

    @property
    def saved_tensors(self):
        if self._saved is None:
            raise RuntimeError(f"{self.name}: saved tensors are gone: backward already freed them (pass "
                               "retain_graph=True to the first backward call), or no graph was recorded.")
        tensors = []
        for i, (t, counter, version, k) in enumerate(self._saved):
            if k is not None:
                t = self._output_tensor(k)
            if counter is not None and counter[0] != version:
                raise RuntimeError(
                    f"{self.name}: saved tensor {i} of shape {tuple(t.shape)}, needed for the gradient, was modified "
                    f"in place (version {counter[0]}, expected {version}). Use an out-of-place op, or clone() first.")
            tensors.append(t)
        return tuple(tensors)

    @property
    def needs_input_grad(self):
        """One bool per forward argument: does it need a gradient? (False for non-Tensors.)"""
        if self._needs_input_grad is not None:
            return self._needs_input_grad
        return tuple(x.requires_grad for x in self.inputs)

    def mark_non_differentiable(self, *outputs):
        """These outputs (e.g. indices) get no grad_fn; backward still receives a gradient (zeros) for them."""
        self._non_differentiable = outputs

    def set_materialize_grads(self, value):
        """False: backward gets None, not zeros, for an output that received no gradient."""
        self.materialize_grads = bool(value)


def apply_torch_style(cls, args, kwargs):
    """Run a torch-style Function: forward under no_grad on the arguments as given, then record the node."""
    Tensor = _tensor_class()
    is_tensor = tuple(isinstance(a, Tensor) for a in args)
    tensors = tuple(a for a, t in zip(args, is_tensor) if t)
    ctx = object.__new__(cls)
    ctx._arg_is_tensor = is_tensor
    ctx._needs_input_grad = tuple(t and a._requires_grad for a, t in zip(args, is_tensor))
    ctx.device = tensors[0].device if tensors else None
    for x in tensors[1:]:
        if x.device != ctx.device:
            raise RuntimeError(f"{cls.__name__}: expected all tensors on the same device, got {ctx.device} and {x.device}")
    with no_grad():
        if cls.setup_context is not FunctionCtx.setup_context:
            output = cls.forward(*args, **kwargs)
            cls.setup_context(ctx, args, output)
        else:
            output = cls.forward(ctx, *args, **kwargs)
    several = isinstance(output, tuple)
    outputs = output if several else (output,)
    marked = ctx._non_differentiable
    differentiable = [isinstance(o, Tensor) and o.dtype.kind in "fc" and not any(o is m for m in marked)
                      for o in outputs]
    outputs = tuple(_not_an_input(o, tensors) for o in outputs)
    if GradMode.enabled and any(ctx._needs_input_grad):
        ctx._record_outputs(tensors, outputs, differentiable)
        ctx._saved = tuple(_saved_entry(t, outputs) for t in ctx._to_save or ())
        ctx._to_save = None
        saved_outputs = {k for _, _, _, k in ctx._saved if k is not None}
        if saved_outputs:  # their arrays, to rebuild an output Tensor that the caller dropped
            arrays = [o.array if k in saved_outputs else None for k, o in enumerate(outputs)]
            ctx._y = arrays[0] if len(outputs) == 1 else arrays
    return outputs if several else outputs[0]


def _not_an_input(o, inputs):
    """forward may return an input as it is: the output must still be a Tensor of its own (sharing memory)."""
    if any(o is x for x in inputs):
        alias = type(o)._make(o.array, o.device)
        alias._version = o._version
        return alias
    return o


def _saved_entry(t, outputs):
    if t is None:
        return None, None, None, None
    for k, o in enumerate(outputs):
        if o is t:  # keep no reference to our own output: that would be a cycle output -> grad_fn -> output
            return None, t._version, t._version[0], k
    return t, t._version, t._version[0], None


def torch_style_call_backward(self, grad_outputs):
    """The engine's call into a torch-style backward: one gradient per forward argument comes back;
    only those of Tensor arguments go on, in the order of `self.inputs`."""
    if self.materialize_grads:
        grad_outputs = self._materialized(grad_outputs)
    grads = type(self).backward(self, *grad_outputs)
    grads = grads if isinstance(grads, tuple) else (grads,)
    n = len(self._arg_is_tensor)
    if len(grads) < n or any(g is not None for g in grads[n:]):
        raise RuntimeError(f"{self.name()}: backward returned {len(grads)} gradients, expected {n} "
                           "(one per forward argument)")
    Tensor = _tensor_class()
    tensor_grads = []
    for i, (g, is_tensor) in enumerate(zip(grads, self._arg_is_tensor)):
        if not is_tensor:
            if g is not None:
                raise RuntimeError(f"{self.name()}: backward returned a gradient at position {i}, but forward's "
                                   f"argument {i} is not a Tensor; return None there")
            continue
        x = self.inputs[len(tensor_grads)]
        if g is not None:
            if not isinstance(g, Tensor):
                raise TypeError(f"{self.name()}: backward returned a {type(g).__name__} at position {i}, expected a "
                                "Tensor or None")
            if g.shape != x.shape:
                raise RuntimeError(f"{self.name()}: backward returned a gradient of shape {tuple(g.shape)} at "
                                   f"position {i}, but that input has shape {tuple(x.shape)}")
        tensor_grads.append(g)
    return tuple(tensor_grads)


def _refuse_call(self, *args):
    raise TypeError(f"{type(self).__name__} is a torch-style Function (static forward): call "
                    f"{type(self).__name__}.apply(...)")


def adopt_torch_style(cls):
    """Set up a class with a static forward for the torch protocol."""
    cls._torch_style = True
    cls.backward_reads_inputs = False  # only what save_for_backward keeps is read, and checked there
    cls._call_backward = torch_style_call_backward
    cls.__call__ = _refuse_call


def once_differentiable(backward):
    """Decorate a torch-style backward (under @staticmethod) that is not itself differentiable. It runs
    without recording; when the incoming gradients carry a graph (create_graph=True further up),
    its results are marked so that differentiating them again raises, as in PyTorch."""
    @functools.wraps(backward)
    def wrapper(ctx, *grad_outputs):
        with no_grad():
            grads = backward(ctx, *grad_outputs)
        if not ctx.create_graph or not any(g is not None and g.requires_grad for g in grad_outputs):
            return grads
        from .autograd import DelayedError
        message = f"{type(ctx).__name__}: its backward is marked once_differentiable; it cannot be differentiated twice"
        single = not isinstance(grads, tuple)
        guarded = tuple(None if g is None else DelayedError(message)(g.detach().requires_grad_())
                        for g in ((grads,) if single else grads))
        return guarded[0] if single else guarded
    return wrapper
