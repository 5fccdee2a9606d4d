"""Keras layers built on minigrad's differentiable ops.

Layout: like Keras, images are channels-last, (N, H, W, C), and every weight has Keras'
shape: a Dense kernel is (in, units), a Conv2D kernel (kh, kw, in, filters). minigrad's
conv and pooling kernels are channels-first (NCHW), so Conv2D/pooling transpose their
input once. Inside a model, an activation stays NCHW (wrapped in `_ChannelsFirst`) while
it flows from one conv/pool/BatchNorm/Dropout layer to the next; it is transposed back
to NHWC only where a layer needs channels-last (Flatten, Dense, ...) or where it leaves
the model. So a conv stack costs one transpose in and one out, not two per layer.

A layer creates its weights lazily, in `build(input_shape)`, the first time it sees an
input (or a symbolic `keras.Input`), so `Dense(64)` needs no input size.
"""
import inspect
import itertools
import re
from collections import defaultdict

import numpy as np

from ...autograd import no_grad
from ...tensor import Tensor
from .. import activations, initializers, regularizers

_name_counts = defaultdict(int)
_context = {"training": None}  # the training flag of the layer call in progress (see Layer._apply)

# activations that act elementwise, so they can run on a channels-first tensor as they are
_ELEMENTWISE = {"linear", "relu", "sigmoid", "tanh", "softplus", "elu", "selu", "leaky_relu", "gelu", "swish",
                "silu"}


def _snake_case(name):
    """Keras' naming: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d, SimpleRNN -> simple_rnn."""
    s = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(base):
    """'dense', then 'dense_1', 'dense_2', ... (reset by keras.backend.clear_session())."""
    n = _name_counts[base]
    _name_counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def reset_names():
    _name_counts.clear()


def _parameter(value, requires_grad):
    """A weight: minigrad.nn.Parameter when minigrad.nn provides it, else a leaf Tensor."""
    try:
        from ..nn.module import Parameter
    except ImportError:  # minigrad.nn not there: a plain leaf tensor does the same job
        t = Tensor(value)
        t.requires_grad = requires_grad
        return t
    return Parameter(value, requires_grad=requires_grad)


def _pair(v, name):
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    v = tuple(int(a) for a in v)
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {v}")
    return v


# ---------------------------------------------------------------- tensors flowing between layers
class _ChannelsFirst:
    """A channels-last activation held as NCHW inside a model (see the module docstring).

    t: the (N, C, H, W) Tensor; `shape` is the logical channels-last shape (N, H, W, C).
    """

    __slots__ = ("t",)

    def __init__(self, t):
        self.t = t

    @property
    def shape(self):
        n, c, h, w = self.t.shape
        return (n, h, w, c)

    def nhwc(self):
        return self.t.permute(0, 2, 3, 1)


def _nhwc(x):
    """Anything a layer returns -> plain channels-last Tensors (lists stay lists)."""
    if isinstance(x, _ChannelsFirst):
        return x.nhwc()
    if isinstance(x, (list, tuple)):
        return type(x)(_nhwc(v) for v in x)
    return x


def _nchw(x):
    """A channels-last Tensor (or a _ChannelsFirst) -> the (N, C, H, W) Tensor."""
    if isinstance(x, _ChannelsFirst):
        return x.t
    if x.ndim != 4:
        raise ValueError(f"expected a 4-D (batch, height, width, channels) input, got shape {tuple(x.shape)}")
    return x.permute(0, 3, 1, 2)


def _shape(x):
    if isinstance(x, (list, tuple)):
        return [_shape(v) for v in x]
    return tuple(x.shape)


def as_tensor(x, dtype=np.float32):
    """numpy / Python data / Tensor -> Tensor; numbers become float32 like Keras' floatx."""
    if isinstance(x, (Tensor, _ChannelsFirst)):
        return x
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], (Tensor, np.ndarray, KerasTensor)):
        return [as_tensor(v, dtype) for v in x]
    arr = np.asarray(x)
    if arr.dtype != dtype:
        arr = arr.astype(dtype)
    return Tensor(arr)


# ---------------------------------------------------------------- symbolic inputs (functional API)
class KerasTensor:
    """A symbolic tensor: the shape (batch dim None) and the layer call that produces it.

    `keras.Input(shape=(28, 28, 1))` makes one; calling a layer on it makes another.
    """

    _ids = itertools.count()

    def __init__(self, shape, dtype="float32", layer=None, inputs=(), name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.layer = layer
        self.inputs = list(inputs)
        self.name = name
        self.id = next(KerasTensor._ids)  # creation order is a topological order
        self.spread = False

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


def _is_symbolic(x):
    return isinstance(x, KerasTensor) or (isinstance(x, (list, tuple)) and any(isinstance(v, KerasTensor) for v in x))


def _dummy(kt):
    """A zero batch of one sample shaped like the KerasTensor (unknown dims taken as 1)."""
    shape = (1,) + tuple(1 if d is None else d for d in kt.shape[1:])
    return Tensor(np.zeros(shape, dtype=np.float32))


# ---------------------------------------------------------------- the base class
class Layer:
    """Base of every layer and model.

    Subclasses create weights in `build(input_shape)` with `add_weight` and compute in
    `call(inputs, training=None)`. `trainable=False` freezes the layer's weights (and, for a
    model, every layer inside it).
    """

    supports_channels_first = False  # may take/return a _ChannelsFirst inside a model
    _call_takes_training = {}

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj.__dict__["_init_args"] = (args, kwargs)  # the constructor's arguments, for get_config()
        return obj

    def get_config(self):
        """The constructor's arguments as given (plus name and trainable), as Keras 3 records them;
        a layer whose arguments are not plain data overrides this (and from_config)."""
        config = {}
        args, kwargs = self.__dict__.get("_init_args", ((), {}))
        sig = inspect.signature(type(self).__init__)
        try:
            bound = sig.bind(self, *args, **kwargs)
        except TypeError:
            bound = None
        for k, v in (bound.arguments.items() if bound else ()):
            kind = sig.parameters[k].kind
            if kind == inspect.Parameter.VAR_KEYWORD:
                config.update(v)
            elif kind != inspect.Parameter.VAR_POSITIONAL and k != "self":
                config[k] = v
        config.update(name=self.name, trainable=self.trainable)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        params = inspect.signature(cls.__init__).parameters
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            extra = {k: config.pop(k) for k in ("name", "trainable") if k in config and k not in params}
        else:
            extra = {}
        layer = cls(**config)
        if "name" in extra:
            layer.name = extra["name"]
        if extra.get("trainable") is False:
            layer.trainable = False
        return layer

    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None, batch_input_shape=None,
                 input_dim=None, batch_size=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        self.__dict__.setdefault("_sublayers", [])
        self.name = name or unique_name(_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.built = False
        self._own_weights = []  # [name, Tensor, trainable]
        self._regularized = []  # (Tensor, regularizer)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape)[1:]
        if isinstance(input_shape, int):
            input_shape = (input_shape,)
        self._input_shape_arg = tuple(input_shape) if input_shape is not None else None
        self.input_shape = None
        self.output_shape = None

    # ------------------------------------------------------------ sublayer tracking (for Model subclasses)
    def __setattr__(self, key, value):
        if not key.startswith("_"):
            subs = self.__dict__.setdefault("_sublayers", [])
            found = [value] if isinstance(value, Layer) else (
                [v for v in value if isinstance(v, Layer)] if isinstance(value, (list, tuple)) else [])
            for v in found:
                if v is not self and all(v is not s for s in subs):
                    subs.append(v)
        object.__setattr__(self, key, value)

    def _children(self):
        return self.__dict__.get("_sublayers", [])

    # ------------------------------------------------------------ weights
    def _set_kernel_and_bias(self, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                             bias_regularizer):
        """The settings of a layer with a kernel and an optional bias (Dense, Conv2D, MultiHeadAttention)."""
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def add_weight(self, name=None, shape=(), initializer="glorot_uniform", regularizer=None, trainable=True,
                   dtype=None, **kwargs):
        """Create a float32 weight of `shape`, initialised by `initializer` (Keras name or callable)."""
        value = initializers.get(initializer)(tuple(int(s) for s in shape))
        w = _parameter(np.asarray(value, dtype=np.float32), trainable and self.trainable)
        self._own_weights.append([name or f"weight{len(self._own_weights)}", w, bool(trainable)])
        reg = regularizers.get(regularizer)
        if reg is not None:
            self._regularized.append((w, reg))
        return w

    def _all_layers(self):
        """This layer and every layer inside it, each once, in order."""
        seen, out, stack = set(), [], [self]
        while stack:
            layer = stack.pop(0)
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack[0:0] = list(layer._children())
        return out

    @property
    def weights(self):
        """All weights (trainable first per layer as created), in layer order, like Keras."""
        out, seen = [], set()
        for layer in self._all_layers():
            for _, w, _ in layer._own_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    variables = weights

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        out, seen = [], set()
        for _, w, tr in self._own_weights:
            if tr and id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        for child in self._children():
            for w in child.trainable_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def _named_weights(self):
        """[(layer, weight name, Tensor)] in `weights` order."""
        out, seen = [], set()
        for layer in self._all_layers():
            for name, w, _ in layer._own_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append((layer, name, w))
        return out

    def _sync_requires_grad(self):
        """Frozen weights stop asking for gradients, so backward skips their work."""
        trainable = {id(w) for w in self.trainable_weights}
        for w in self.weights:
            want = id(w) in trainable
            if w.requires_grad != want:
                w.requires_grad = want

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        for layer in self._all_layers():  # like Keras, the flag goes down to every sublayer
            layer._trainable = bool(value)
        self._sync_requires_grad()

    def get_weights(self):
        """The weights as a list of numpy arrays (copies)."""
        return [np.array(w.numpy(), copy=True) for w in self.weights]

    def set_weights(self, weights):
        """Copy a list of arrays (shaped like get_weights()) into the weights."""
        mine = self.weights
        weights = list(weights)
        if len(weights) != len(mine):
            raise ValueError(f"set_weights: layer {self.name!r} has {len(mine)} weights, got {len(weights)}")
        for i, (w, v) in enumerate(zip(mine, weights)):
            v = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
            if tuple(v.shape) != tuple(w.shape):
                raise ValueError(f"set_weights: weight {i} of {self.name!r} has shape {tuple(w.shape)}, "
                                 f"got {tuple(v.shape)}")
            w.array[...] = v
            w._version[0] += 1

    def count_params(self):
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    @property
    def losses(self):
        """Regularisation penalties (scalar Tensors) of this layer and its sublayers."""
        return [reg(w) for layer in self._all_layers() for w, reg in layer._regularized]

    # ------------------------------------------------------------ calling
    def build(self, input_shape):
        """Create the weights for inputs of `input_shape` (batch dim included)."""
        self.built = True

    def call(self, inputs, training=None):
        return inputs

    def __call__(self, inputs, *args, training=None, **kwargs):
        if _is_symbolic(inputs) or any(_is_symbolic(a) for a in args):
            if any(_is_symbolic(v) for v in kwargs.values()):
                raise NotImplementedError(f"{self.name}: in the functional API pass tensors positionally, not as "
                                          f"keyword arguments ({sorted(kwargs)})")
            return self._symbolic_call(inputs, *args, **kwargs)
        args = tuple(as_tensor(a) if isinstance(a, (np.ndarray, Tensor)) else a for a in args)
        return _nhwc(self._apply(as_tensor(inputs), training, *args, **kwargs))

    def _symbolic_call(self, inputs, *args, **kwargs):
        multi = isinstance(inputs, (list, tuple))
        kts = list(inputs) if multi else [inputs]
        dummies = [_dummy(k) for k in kts]
        extra = [_dummy(a) for a in args]
        with no_grad():
            out = self._apply(dummies if multi else dummies[0], False, *extra, **kwargs)
        node = KerasTensor((None,) + _shape(out)[1:], layer=self, inputs=kts + list(args), name=self.name)
        node.spread = bool(args)  # the layer takes its inputs as separate arguments: layer(q, v)
        return node

    def _apply(self, x, training=None, *args, pre_activation=False, **kwargs):
        """The call used inside models: builds on first use and may keep channels-first data.
        training=None takes the enclosing call's flag, so layers used inside a layer's call() train too."""
        if training is None:
            training = _context["training"]
        previous, _context["training"] = _context["training"], training
        try:
            if not self.supports_channels_first:
                x = _nhwc(x)
            if not self.built:
                self.input_shape = (None,) + _shape(x)[1:] if not isinstance(x, list) else [
                    (None,) + s[1:] for s in _shape(x)]
                self.build(_shape(x))
                self.built = True
            if pre_activation:
                out = self.call_linear(x, training)
            elif self._takes_training():
                out = self.call(x, *args, training=training, **kwargs)
            else:
                out = self.call(x, *args, **kwargs)
        finally:
            _context["training"] = previous
        if not isinstance(out, (list, tuple)):
            self.output_shape = (None,) + _shape(out)[1:]
        return out

    def _takes_training(self):
        cls = type(self)
        flag = Layer._call_takes_training.get(cls)
        if flag is None:
            params = inspect.signature(cls.call).parameters
            flag = "training" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
            Layer._call_takes_training[cls] = flag
        return flag

    # activation fusion: a layer with an activation can hand its pre-activation to the loss
    activation_name = None

    def call_linear(self, x, training=None):
        raise NotImplementedError(f"{type(self).__name__} has no separate pre-activation")

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


class _ActivatedLayer(Layer):
    """A layer computing activation(linear(x)); the loss may ask for linear(x) alone (the logits)."""

    def _set_activation(self, activation):
        self.activation = activations.get(activation)
        if activation is None:
            self.activation_name = "linear"
        elif isinstance(activation, str):
            self.activation_name = activation.lower()
        else:
            self.activation_name = next((k for k, f in activations._BY_NAME.items() if f is activation), None)

    def call(self, x, training=None):
        z = self.call_linear(x, training)
        if isinstance(z, _ChannelsFirst):
            if self.activation_name in _ELEMENTWISE:
                return z if self.activation_name == "linear" else _ChannelsFirst(self.activation(z.t))
            z = z.nhwc()
        return self.activation(z)
