"""Passes: rewrite a captured graph's steps before it is replayed.

Each pass looks for a run of consecutive Op steps whose intermediate values nobody else reads
and replaces the run with one fused step (kernels in kernels/cpu/fusion.py, numpy references
beside them, parity tests in tests/test_compile_passes.py):

    conv2d -> relu -> max_pool2d (k x k, stride k)   ConvReluPool: the convolution, then one pass that
                                                     pools and applies ReLU on the pooled values
    permute(w) -> matmul -> add(b) [-> relu]         LinearAct: the matmul, then bias and ReLU in one
                                                     pass over its output, in place

Only graphs without a backward are rewritten (inference): a training graph's backward reads the
intermediate values (the ReLU output, the pool's argmax) that the fused steps never make. The
fused steps run the same convolution and matmul kernels and do the same float operations after
them, so results equal the unfused graph's bit for bit.
"""
import numpy as np

from .graph import Backward, Op


_NO_INDICES = np.empty((1, 1, 1, 1), np.int64)


class ConvReluPool:
    """y = relu(max_pool_k(conv2d(x, w, b))) with the ReLU applied after pooling."""

    __slots__ = ("conv", "ins", "out", "k", "out_shapes")

    def __init__(self, conv, ins, out, k):
        self.conv, self.ins, self.out, self.k = conv, ins, out, k

    def run(self, graph):
        from minigrad.kernels.cpu import fusion
        y = self.conv.forward(*[h.array for h in self.ins])
        n, c, h, w = y.shape
        pooled = np.empty((n, c, h // self.k, w // self.k), y.dtype)
        fusion.relu_max_pool2d(y, self.k, pooled, _NO_INDICES, False)
        self.out.array = pooled

    def __repr__(self):
        return f"ConvReluPool(k={self.k})"


class LinearAct:
    """y = x @ w.T + b, then relu when asked: the matmul's output is finished in one in-place pass."""

    __slots__ = ("matmul", "x", "w", "b", "relu", "out")

    def __init__(self, matmul, x, w, b, relu, out):
        self.matmul, self.x, self.w, self.b, self.relu, self.out = matmul, x, w, b, relu, out

    def run(self, graph):
        from minigrad.kernels.cpu import fusion
        y = self.matmul.forward(self.x.array, self.w.array.T)
        fusion.bias_act(y, self.b.array, self.relu)
        self.out.array = y

    def __repr__(self):
        return f"LinearAct(relu={self.relu})"


def _readers(graph):
    """id(holder) -> how many times steps read it (returned holders count as read)."""
    counts = {}

    def read(h):
        counts[id(h)] = counts.get(id(h), 0) + 1

    for step in graph.steps:
        for h in getattr(step, "ins", ()):
            read(h)
        for attr in ("holder", "source"):
            if hasattr(step, attr):
                read(getattr(step, attr))

    def walk(node):
        kind, v = node
        if kind == "t":
            read(v)
        elif kind is dict:
            for x in v.values():
                walk(x)
        elif kind != "c":
            for x in v:
                walk(x)
    walk(graph.output.template)
    return counts


def _op(step, name, n_in=None):
    return type(step) is Op and type(step.fn).__name__ == name and (n_in is None or len(step.ins) == n_in)


def _cpu_float32(*arrays_of):
    return all(h.device.type == "cpu" and h.array is not None and h.array.dtype == np.float32 for h in arrays_of)


def fuse_conv_relu_pool(graph, steps, i, readers):
    """steps[i:i+3] = conv2d, relu, max_pool2d (k x k, stride k, no padding or dilation) -> ConvReluPool."""
    if i + 2 >= len(steps):
        return None
    conv, relu, pool = steps[i:i + 3]
    if not (_op(conv, "Conv2d") and _op(relu, "Relu") and _op(pool, "MaxPool2d")):
        return None
    fn = pool.fn
    k = fn.kernel_size[0]
    if (fn.kernel_size != (k, k) or fn.stride != (k, k) or fn.padding != (0, 0) or fn.dilation != (1, 1)
            or fn.return_indices):
        return None
    if relu.ins[0] is not conv.outs[0] or pool.ins[0] is not relu.outs[0]:
        return None
    if readers.get(id(conv.outs[0])) != 1 or readers.get(id(relu.outs[0])) != 1:
        return None
    if conv.fn.device.type != "cpu":
        return None
    return ConvReluPool(conv.fn, conv.ins, pool.outs[0], k), 3


def fuse_linear_act(graph, steps, i, readers):
    """steps[i:i+3(+1)] = permute(w), matmul(x, w.T), add(., b) [, relu] -> LinearAct."""
    if i + 2 >= len(steps):
        return None
    perm, mm, add = steps[i:i + 3]
    if not (_op(perm, "Permute") and _op(mm, "MatMul") and _op(add, "Add")) or perm.fn.axes != (1, 0):
        return None
    w, x = perm.ins[0], mm.ins[0]
    if mm.ins[1] is not perm.outs[0] or add.ins[0] is not mm.outs[0] or len(mm.out_shapes[0]) != 2:
        return None
    b = add.ins[1]
    if b.array is None or b.array.shape != (mm.out_shapes[0][1],) or x.device.type != "cpu":
        return None
    if readers.get(id(perm.outs[0])) != 1 or readers.get(id(mm.outs[0])) != 1:
        return None
    if not _cpu_float32(w, b):
        return None
    relu = i + 3 < len(steps) and _op(steps[i + 3], "Relu") and steps[i + 3].ins[0] is add.outs[0] \
        and readers.get(id(add.outs[0])) == 1
    out = steps[i + 3].outs[0] if relu else add.outs[0]
    return LinearAct(mm.fn, x, w, b, relu, out), 4 if relu else 3


PASSES = [fuse_conv_relu_pool, fuse_linear_act]


def optimize(graph):
    """The graph with every pattern of PASSES fused (inference graphs only); the same graph otherwise."""
    if any(type(s) is Backward for s in graph.steps) or any(type(s) is Op and s.fn.needs_grad for s in graph.steps):
        return graph
    readers = _readers(graph)
    steps, out, i = graph.steps, [], 0
    while i < len(steps):
        for fuse in PASSES:
            found = fuse(graph, steps, i, readers)
            if found is not None:
                out.append(found[0])
                i += found[1]
                break
        else:
            out.append(steps[i])
            i += 1
    graph.steps = out
    return graph
