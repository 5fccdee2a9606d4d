"""Gradient checkpointing: keep only a block's inputs, recompute its forward during backward.

    y = checkpoint(block, x)        # same value and gradients as block(x), without block's activations

The forward runs under no_grad, so none of `fn`'s intermediate tensors are kept; backward runs
`fn` again with gradients on (from the same random state, so dropout draws the same mask) and
back-propagates through that fresh graph. Memory falls from every activation of `fn` to its
inputs and outputs; the price is one more forward pass.
"""
from ..autograd import Function
from ..grad_mode import enable_grad, is_grad_enabled
from ..random import get_rng_state, set_rng_state

__all__ = ["checkpoint"]


def _tensor_class():
    from ..tensor import Tensor
    return Tensor


class CheckpointFunction(Function):
    @staticmethod
    def forward(ctx, fn, *args):
        ctx.fn, ctx.rng_state = fn, get_rng_state()
        ctx.save_for_backward(*[a if isinstance(a, _tensor_class()) else None for a in args])
        ctx.others = [None if isinstance(a, _tensor_class()) else a for a in args]
        out = fn(*args)
        if not isinstance(out, _tensor_class()):
            raise TypeError(f"checkpoint: fn must return one Tensor, got {type(out).__name__}")
        return out

    @staticmethod
    def backward(ctx, gy):
        from ..autograd_engine import backward
        saved = ctx.saved_tensors
        inputs = []
        for t, other in zip(saved, ctx.others):
            inputs.append(other if t is None else t.detach().requires_grad_(t.requires_grad))
        state_now = get_rng_state()
        set_rng_state(ctx.rng_state)
        try:
            with enable_grad():
                out = ctx.fn(*inputs)
        finally:
            set_rng_state(state_now)
        if out.requires_grad:
            backward(out, gy)
        grads = [x.grad if isinstance(x, _tensor_class()) and x.requires_grad else None for x in inputs]
        return (None, *grads)


def checkpoint(fn, *args, use_reentrant=None):
    """fn(*args), recomputed in backward instead of stored.  fn: Tensors in, one Tensor out.

    Parameters that fn uses get their gradients accumulated as usual, provided at least one
    Tensor argument requires grad (as with torch's reentrant checkpoint: the graph is entered
    through the inputs). Without grad mode it is just fn(*args).
    """
    if not callable(fn):
        raise TypeError(f"checkpoint: fn must be callable, got {type(fn).__name__}")
    if not is_grad_enabled():
        return fn(*args)
    return CheckpointFunction.apply(fn, *args)
