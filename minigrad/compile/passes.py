"""Passes: rewrite a captured graph's steps before it is replayed.

Each pass looks for a run of consecutive Op steps whose intermediate values nobody else reads
and replaces the run with one fused step (kernels in kernels/cpu/fusion.py, numpy references
beside them, parity tests in tests/test_compile_passes.py):

    conv2d -> relu -> max_pool2d (k x k, stride k)   ConvReluPool: the convolution, then one pass that
                                                     pools and applies ReLU on the pooled values
    permute(w) -> matmul -> add(b) [-> relu]         LinearAct: the matmul, then bias and ReLU in one
                                                     pass over its output, in place

In a training graph (one with a Backward step) the same runs are fused with what backward needs:
ConvReluPoolTrain also writes each window's argmax, and its backward node replaces the pool's and
the ReLU's (the ReLU mask folded into the pool's scatter: one pass instead of two, and no
full-size ReLU output or pool gradient in memory); LinearActTrain keeps the ReLU output for
ReLU's backward. The fused steps run the same convolution and matmul kernels and do the same float
operations after them, so results equal the unfused graph's bit for bit.
"""
import numpy as np

from .graph import Backward, Op


_NO_INDICES = np.empty((1, 1, 1, 1), np.int64)


class Buffers:
    """Arrays a fused step writes, planned once and reused by every replay (never for a value the graph
    returns: the caller keeps that one). Within one replay each buffer holds one value; the next replay
    overwrites it, by which time that value is dead (the graph drops its holders after every replay)."""

    def __init__(self, reuse):
        self.reuse, self.arrays = reuse, {}

    def get(self, name, shape, dtype):
        a = self.arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = np.empty(shape, dtype)
            if self.reuse:
                self.arrays[name] = a
        return a


class ConvReluPool:
    """y = relu(max_pool_k(conv2d(x, w, b))) with the ReLU applied after pooling."""

    __slots__ = ("conv", "ins", "out", "k", "out_shapes", "buffers")

    def __init__(self, conv, ins, out, k):
        self.conv, self.ins, self.out, self.k = conv, ins, out, k
        self.buffers = Buffers(False)  # (optimize() plans them)

    def run(self, graph):
        from minigrad.kernels.cpu import fusion
        y = self.conv.forward(*[h.array for h in self.ins])
        n, c, h, w = y.shape
        pooled = self.buffers.get("y", (n, c, h // self.k, w // self.k), y.dtype)
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


class ConvReluPoolTrain(ConvReluPool):
    """ConvReluPool that also writes each window's argmax, for PoolReluBackward."""

    __slots__ = ("idx",)

    def run(self, graph):
        from minigrad.kernels.cpu import fusion
        y = self.conv.forward(*[h.array for h in self.ins])
        n, c, h, w = y.shape
        self.out_shapes = (n, c, h, w)
        pooled = self.buffers.get("y", (n, c, h // self.k, w // self.k), y.dtype)
        self.idx = self.buffers.get("idx", pooled.shape, np.int64)
        fusion.relu_max_pool2d(y, self.k, pooled, self.idx, True)
        self.out.array = pooled

    def __repr__(self):
        return f"ConvReluPoolTrain(k={self.k})"


class PoolReluBackward:
    """The backward node that stands for max_pool2d's and relu's: gy (pooled) -> the conv output's gradient."""

    n_outputs = 1
    name = "relumaxpool2d"

    def __init__(self, forward):
        self.forward = forward

    def _call_backward(self, gys):
        from minigrad.kernels.cpu import fusion
        gy, f = gys[0], self.forward
        n, c, h, w = f.out_shapes
        gx = f.buffers.get("gx", (n * c, h * w), gy.dtype)
        fusion.relu_max_pool2d_backward(np.ascontiguousarray(gy.array), f.idx, f.out.array, gx)
        return (type(gy)._make(gx.reshape(n, c, h, w), gy.device),)


class LinearActTrain(LinearAct):
    """LinearAct in a training graph: the holders backward reads get their arrays (w.T for matmul's
    backward; the shapes of the add's inputs), and relu keeps its output."""

    __slots__ = ("holders", "relu_fn")

    def run(self, graph):
        from minigrad.kernels.cpu import fusion
        w_t = self.holders[0]  # permute's output: matmul's backward reads it
        w_t.array = self.w.array.T
        y = self.matmul.forward(self.x.array, w_t.array)
        fusion.bias_act(y, self.b.array, self.relu)
        for h in self.holders[1:]:  # (read for their shapes only: add's and relu's backward read no values)
            h.array = y
        self.out.array = y
        if self.relu_fn is not None:
            self.relu_fn._y = y

    def __repr__(self):
        return f"LinearActTrain(relu={self.relu})"


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
    for h in _output_holders(graph.output.template):
        read(h)
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
    fused = ConvReluPool(conv.fn, conv.ins, pool.outs[0], k)
    fused.out_shapes = conv.out_shapes[0]
    return fused, 3


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


def fuse_conv_relu_pool_train(graph, steps, i, readers):
    """conv2d, relu, max_pool2d in a training graph -> ConvReluPoolTrain, and in the backward plan the pool's
    node -> PoolReluBackward, sending its gradient where relu's went (relu's node then receives none)."""
    found = fuse_conv_relu_pool(graph, steps, i, readers)
    if found is None:
        return None
    conv, relu, pool = steps[i:i + 3]
    (plan,) = [s for s in graph.steps if type(s) is Backward]
    index = {id(node): j for j, node in enumerate(plan.nodes)}
    i_pool, i_relu = index.get(id(pool.fn)), index.get(id(relu.fn))
    if i_pool is None or i_relu is None or plan.edges[i_pool] != [(i_relu, 0)]:
        return None
    fused = ConvReluPoolTrain(conv.fn, conv.ins, pool.outs[0], found[0].k)
    plan.nodes[i_pool] = PoolReluBackward(fused)
    plan.edges[i_pool] = plan.edges[i_relu]
    return fused, 3


def fuse_linear_act_train(graph, steps, i, readers):
    """permute, matmul, add [, relu] in a training graph -> LinearActTrain (the backward stays as it is)."""
    found = fuse_linear_act(graph, steps, i, readers)
    if found is None:
        return None
    fused, n = found
    perm, mm, add = steps[i:i + 3]
    if type(perm.fn).__name__ != "Permute" or add.fn.backward_reads_inputs or (
            fused.relu and steps[i + 3].fn.backward_reads_inputs):
        return None
    train = LinearActTrain(fused.matmul, fused.x, fused.w, fused.b, fused.relu, fused.out)
    train.holders = [perm.outs[0], mm.outs[0], add.outs[0]]
    train.relu_fn = steps[i + 3].fn if fused.relu else None
    return train, n


class Tiled:
    """Depth-first batch tiling: each tile of `tile` samples goes through all `layers` in turn while its
    activations are still in cache, instead of the whole batch through one layer at a time.
    layers: one function per step, array -> array on a tile; x: the batch's holder; out: the last holder."""

    __slots__ = ("layers", "x", "out", "tile", "names")

    def __init__(self, layers, x, out, tile, names):
        self.layers, self.x, self.out, self.tile, self.names = layers, x, out, tile, names

    def run(self, graph):
        x = self.x.array
        result = None
        for start in range(0, x.shape[0], self.tile):
            y = x[start:start + self.tile]
            for layer in self.layers:
                y = layer(y)
            if result is None:
                result = np.empty((x.shape[0],) + y.shape[1:], y.dtype)
            result[start:start + y.shape[0]] = y
        self.out.array = result

    def __repr__(self):
        return f"Tiled(tile={self.tile}: {', '.join(self.names)})"


def _tile_layer(step, batch):
    """step as a function of one tile (the batch's rows) when it works sample by sample, else None."""
    if type(step) is ConvReluPool:
        w_b = step.ins[1:]

        def conv_relu_pool(x, conv=step.conv, k=step.k):
            from minigrad.kernels.cpu import fusion
            y = conv.forward(x, *[h.array for h in w_b])
            n, c, h, w = y.shape
            pooled = np.empty((n, c, h // k, w // k), y.dtype)
            fusion.relu_max_pool2d(y, k, pooled, _NO_INDICES, False)
            return pooled
        return conv_relu_pool
    if type(step) is LinearAct:
        def linear(x, s=step):
            from minigrad.kernels.cpu import fusion
            y = s.matmul.forward(x, s.w.array.T)
            fusion.bias_act(y, s.b.array, s.relu)
            return y
        return linear
    if type(step) is Op and type(step.fn).__name__ == "Reshape" and step.out_shapes[0][:1] == (batch,):
        rest = step.out_shapes[0][1:]
        return lambda x: x.reshape((x.shape[0],) + rest)
    return None


def tile_batch(graph, steps, tile):
    """Replace the longest run of per-sample steps that starts at the first argument with one Tiled step."""
    if not graph.arg_holders:
        return steps
    x = graph.arg_holders[0]
    for i, step in enumerate(steps):
        ins = [step.x] if type(step) is LinearAct else getattr(step, "ins", None)
        if ins and ins[0] is x:
            break
    else:
        return steps
    batch = _batch_of(steps[i])
    layers, names, j, cur = [], [], i, x
    while j < len(steps):
        first_in = steps[j].x if type(steps[j]) is LinearAct else steps[j].ins[0] if hasattr(steps[j], "ins") else None
        layer = _tile_layer(steps[j], batch) if first_in is cur else None
        if layer is None:
            break
        layers.append(layer)
        names.append(type(steps[j]).__name__ if type(steps[j]) is not Op else steps[j].fn.name)
        cur = steps[j].out if type(steps[j]) in (ConvReluPool, LinearAct) else steps[j].outs[0]
        j += 1
    if len(layers) < 2 or batch is None or batch <= tile:
        return steps
    return steps[:i] + [Tiled(layers, x, cur, tile, names)] + steps[j:]


def _batch_of(step):
    """The batch size of the first tiled step (ConvReluPool keeps its convolution's output shape)."""
    if type(step) is ConvReluPool:
        return step.out_shapes[0]
    if type(step) is Op and step.out_shapes[0]:
        return step.out_shapes[0][0]
    return None


PASSES = [fuse_conv_relu_pool, fuse_linear_act]
TRAINING_PASSES = [fuse_conv_relu_pool_train, fuse_linear_act_train]


def optimize(graph, batch_tile=0):
    """The graph with every pattern of PASSES (inference) or TRAINING_PASSES (one backward) fused; with
    batch_tile, an inference graph's leading per-sample steps run depth first, batch_tile samples at a time."""
    backwards = sum(type(s) is Backward for s in graph.steps)
    if backwards == 0 and not any(type(s) is Op and s.fn.needs_grad for s in graph.steps):
        passes = PASSES
    elif backwards == 1:
        passes = TRAINING_PASSES
    else:
        return graph
    readers = _readers(graph)
    steps, out, i = graph.steps, [], 0
    while i < len(steps):
        for fuse in passes:
            found = fuse(graph, steps, i, readers)
            if found is not None:
                out.append(found[0])
                i += found[1]
                break
        else:
            out.append(steps[i])
            i += 1
    if passes is PASSES and batch_tile:
        out = tile_batch(graph, out, batch_tile)
    returned = _returned(graph)
    for step in out:
        if isinstance(step, ConvReluPool):
            step.buffers = Buffers(reuse=id(step.out) not in returned)
    graph.steps = out
    return graph


def _output_holders(node):
    """The holders an output template reads: ("t", holder), ("c", constant), (dict, {k: node}) or
    (list/tuple, [node, ...])."""
    kind, v = node
    if kind == "t":
        yield v
    elif kind is dict:
        for x in v.values():
            yield from _output_holders(x)
    elif kind != "c":
        for x in v:
            yield from _output_holders(x)


def _returned(graph):
    """ids of the holders the graph's output reads."""
    return {id(h) for h in _output_holders(graph.output.template)}
