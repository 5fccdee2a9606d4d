"""The slice-gradient fast path: how the engine adds up the gradients one tensor receives.

A sequence model reads x[t] for every step t. Each x[t] sends back a gradient that is zero
except at t; materialising a full-size tensor per step and adding them all would cost O(T^2).
So GetItem's backward returns a `SliceGrad` (only when no graph is being built) and the engine
adds each slice, in place, into one buffer it owns (`Owned`).

A gradient as the engine holds it is one of: a Tensor, a SliceGrad, or an Owned buffer.
`sum_grads` adds two of them; `dense` turns the total into a plain Tensor.
"""


class SliceGrad:
    """The gradient of x[index] for a basic index (ints, slices): zero except `values` at `index`.

    index: the basic index; shape: x's shape; values: a Tensor of shape x[index].shape.
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


class Owned:
    """A gradient buffer allocated during this backward pass: later gradients may be added in place."""

    __slots__ = ("t",)

    def __init__(self, t):
        self.t = t


def sum_grads(prev, gx, create_graph):
    """prev + gx for gradients of one tensor (each a Tensor, SliceGrad or Owned; prev may be None).
    Without create_graph the sum goes in place into a buffer this pass owns; with it, through ops."""
    if prev is None:
        return gx
    if create_graph:
        return prev + gx  # with a graph being built, backward functions return plain Tensors
    if type(prev) is not Owned:  # prev may be shared (a + b hands one gradient to both): get our own
        if type(prev) is SliceGrad:
            prev = Owned(prev.dense())
        elif type(gx) is SliceGrad:
            prev = Owned(prev + 0)
        else:
            return Owned(prev + gx)  # a fresh array
    buf = prev.t.array
    if type(gx) is SliceGrad:
        buf[gx.index] += gx.values.array
    elif gx.shape == buf.shape and gx.dtype == buf.dtype:
        buf += gx.array
    else:
        return Owned(prev.t + gx)
    return prev


def dense(g):
    """The gradient as a plain Tensor (None stays None)."""
    return g.t if type(g) is Owned else g.dense() if type(g) is SliceGrad else g
