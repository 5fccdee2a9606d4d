"""Hooks: your functions, called by the backward pass with gradients.

    t.register_hook(fn)                       fn(grad) -> new grad or None: t's gradient, once it is
                                              complete and before it flows further (leaf or not)
    leaf.register_post_accumulate_grad_hook(fn)   fn(leaf): after backward has added into leaf.grad
    node.register_prehook(fn)                 fn(grad_outputs) -> new grad_outputs or None: before a
                                              graph node's backward (node = t.grad_fn)
    node.register_hook(fn)                    fn(grad_inputs, grad_outputs) -> new grad_inputs or None:
                                              after it

Order at one node, as in PyTorch: tensor hooks, then retain_grad() keeps the gradient, then the
node's pre-hooks, its backward, its post-hooks. As in PyTorch too, when a node with several
outputs runs, the hooks of an output that got no gradient are called with None, and post-hooks
see None for inputs that take no gradient. Every register_* returns a RemovableHandle.
"""
import itertools


class RemovableHandle:
    """Returned by every register_* call: `handle.remove()` takes the hook out again."""

    _next_id = itertools.count()

    def __init__(self, hooks):
        self.hooks = hooks  # the dict the hook was added to
        self.id = next(RemovableHandle._next_id)

    def remove(self):
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def add_hook(hooks, fn, what):
    if not callable(fn):
        raise TypeError(f"{what}: expected a callable, got {type(fn).__name__}")
    handle = RemovableHandle(hooks)
    hooks[handle.id] = fn
    return handle


def _checked(new, old, hook, what):
    """A hook's replacement gradient, checked against the one it replaces."""
    if old is not None and new.shape != old.shape:
        name = getattr(hook, "__name__", repr(hook))
        raise RuntimeError(f"{what} hook {name!r} returned a gradient of shape {tuple(new.shape)}, "
                           f"expected {tuple(old.shape)}")
    return new


class NodeHooks:
    """The hooks hung on one graph node; made on its first register_* call."""

    def __init__(self, n_outputs):
        self.tensor = [{} for _ in range(n_outputs)]  # per output: hooks registered on that tensor
        self.retain = set()  # outputs whose tensor called retain_grad()
        self.pre = {}
        self.post = {}
        self.post_accumulate = {}  # leaves only (on their AccumulateGrad node)

    def run_tensor_hooks(self, grads):
        """grads: one gradient (or None) per output; returns them after each output's hooks."""
        grads = list(grads)
        for k, hooks in enumerate(self.tensor):
            for hook in tuple(hooks.values()):  # a hook may remove itself
                new = hook(grads[k])
                if new is not None:
                    grads[k] = _checked(new, grads[k], hook, "tensor")
        return grads

    def run_prehooks(self, grad_outputs):
        for hook in tuple(self.pre.values()):
            new = hook(tuple(grad_outputs))
            if new is not None:
                new = new if isinstance(new, (tuple, list)) else (new,)
                if len(new) != len(grad_outputs):
                    raise RuntimeError(f"pre-hook returned {len(new)} gradients, expected {len(grad_outputs)}")
                grad_outputs = [n if n is None else _checked(n, g, hook, "pre-") for n, g in zip(new, grad_outputs)]
        return grad_outputs

    def run_posthooks(self, grad_inputs, grad_outputs):
        for hook in tuple(self.post.values()):
            new = hook(tuple(grad_inputs), tuple(grad_outputs))
            if new is not None:
                new = new if isinstance(new, (tuple, list)) else (new,)
                if len(new) != len(grad_inputs):
                    raise RuntimeError(f"post-hook returned {len(new)} gradients, expected {len(grad_inputs)}")
                grad_inputs = tuple(new)
        return grad_inputs

    def run_post_accumulate(self, leaf):
        for hook in tuple(self.post_accumulate.values()):
            hook(leaf)
