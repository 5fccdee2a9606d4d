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

from .. import ops
from ..autograd import no_grad
from ..nn import functional as F
from ..nn.layers.rnn import _rnn_step
from ..random import rng
from ..tensor import Tensor
from . import activations, initializers, regularizers

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


# ---------------------------------------------------------------- core layers
class InputLayer(Layer):
    """Declares the input shape (without batch dim); `keras.Input` makes one behind the scenes."""

    def __init__(self, input_shape=None, batch_size=None, dtype=None, name=None, shape=None, batch_shape=None,
                 **kwargs):
        if shape is not None:
            input_shape = shape
        if batch_shape is not None:
            input_shape = tuple(batch_shape)[1:]
        super().__init__(name=name, input_shape=input_shape, **kwargs)
        self.dtype = dtype or "float32"
        self.output_shape = (None,) + tuple(self._input_shape_arg or ())
        self.built = True


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None, **kwargs):
    """A symbolic input, `keras.Input(shape=(28, 28, 1))`, for the functional API and Sequential."""
    if shape is None and batch_shape is None:
        raise ValueError("Input: pass shape=(...) (without the batch dimension)")
    layer = InputLayer(input_shape=shape, batch_shape=batch_shape, dtype=dtype, name=name, **kwargs)
    return KerasTensor((None,) + layer._input_shape_arg, dtype=layer.dtype, layer=layer, name=layer.name)


class Dense(_ActivatedLayer):
    """y = activation(x @ kernel + bias); x: (N, ..., in) -> (N, ..., units); kernel: (in, units)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if int(units) != units or units < 1:
            raise ValueError(f"Dense: units must be a positive int, got {units!r}")
        self.units = int(units)
        self._set_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer,
                                      self.kernel_regularizer)
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer) \
            if self.use_bias else None

    def call_linear(self, x, training=None):
        if x.shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"Dense {self.name!r}: input of shape {tuple(x.shape)} has {x.shape[-1]} features, "
                             f"the layer was built for {self.kernel.shape[0]}")
        return F.linear(x, self.kernel.T, self.bias)  # Keras' kernel is (in, units): torch's weight transposed


class Activation(_ActivatedLayer):
    """Applies an activation: `Activation('softmax')`."""

    supports_channels_first = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self._set_activation(activation)

    def call_linear(self, x, training=None):
        return x


class ReLU(Activation):
    def __init__(self, **kwargs):
        super().__init__("relu", **kwargs)


class Softmax(Activation):
    def __init__(self, axis=-1, **kwargs):
        super().__init__("softmax", **kwargs)


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), in channels-last order like Keras."""

    supports_channels_first = True

    def call(self, x, training=None):
        if isinstance(x, _ChannelsFirst):
            x = x.nhwc()
        return x.reshape(x.shape[0], -1)


class Reshape(Layer):
    """(N, ...) -> (N, *target_shape); one entry may be -1."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def call(self, x, training=None):
        return x.reshape((x.shape[0],) + self.target_shape)


class Dropout(Layer):
    """Zeroes a `rate` fraction of the inputs while training and scales the rest by 1/(1-rate)."""

    supports_channels_first = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def call(self, x, training=None):
        if not training or self.rate == 0:
            return x
        t = x.t if isinstance(x, _ChannelsFirst) else x
        g = self._rng or rng()
        mask = (g.random(t.shape, dtype=np.float32) >= self.rate).astype(np.float32) * (1.0 / (1.0 - self.rate))
        y = t * Tensor._make(mask, t.device)
        return _ChannelsFirst(y) if isinstance(x, _ChannelsFirst) else y


class Add(Layer):
    """Elementwise sum of a list of same-shaped inputs."""

    def call(self, xs, training=None):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concatenate(Layer):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, xs, training=None):
        return ops.cat(list(xs), self.axis)


# ---------------------------------------------------------------- convolution and pooling
def _same_padding(size, k, s, d=1):
    """Keras/TF 'same' padding: (before, after) with the odd pixel after."""
    k = d * (k - 1) + 1
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class Conv2D(_ActivatedLayer):
    """2-D convolution, channels-last: x (N, H, W, C) -> (N, OH, OW, filters).

    kernel: (kh, kw, C // groups, filters) like Keras; bias: (filters,).
    padding: 'valid' (none) or 'same' (output size ceil(H / stride), TF's split).
    """

    supports_channels_first = True

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise NotImplementedError("Conv2D: only data_format='channels_last' is supported")
        if padding not in ("valid", "same"):
            raise ValueError(f"Conv2D: padding must be 'valid' or 'same', got {padding!r}")
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "Conv2D kernel_size")
        self.strides = _pair(strides, "Conv2D strides")
        self.dilation_rate = _pair(dilation_rate, "Conv2D dilation_rate")
        self.padding, self.groups = padding, int(groups)
        self._set_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"Conv2D {self.name!r}: expected input (batch, height, width, channels), got shape "
                             f"{tuple(input_shape)}")
        c = input_shape[-1]
        if c % self.groups or self.filters % self.groups:
            raise ValueError(f"Conv2D: channels {c} and filters {self.filters} must divide by groups={self.groups}")
        self.kernel = self.add_weight("kernel", self.kernel_size + (c // self.groups, self.filters),
                                      self.kernel_initializer, self.kernel_regularizer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer) \
            if self.use_bias else None

    def call_linear(self, x, training=None):
        x = _nchw(x)  # the one transpose (skipped when the previous layer left the data channels-first)
        w = self.kernel.permute(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
        padding = (0, 0)
        if self.padding == "same":
            (ht, hb), (wl, wr) = (_same_padding(x.shape[2], self.kernel_size[0], self.strides[0], self.dilation_rate[0]),
                                  _same_padding(x.shape[3], self.kernel_size[1], self.strides[1], self.dilation_rate[1]))
            if ht == hb and wl == wr:
                padding = (ht, wl)
            else:
                x = ops.pad(x, (wl, wr, ht, hb))
        y = F.conv2d(x, w, None, self.strides, padding, self.dilation_rate, self.groups)
        if self.bias is not None:
            y = y + self.bias.reshape(1, -1, 1, 1)
        return _ChannelsFirst(y)


Convolution2D = Conv2D


class _Pooling2D(Layer):
    supports_channels_first = True

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise NotImplementedError(f"{type(self).__name__}: only data_format='channels_last' is supported")
        if padding not in ("valid", "same"):
            raise ValueError(f"{type(self).__name__}: padding must be 'valid' or 'same', got {padding!r}")
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = _pair(strides if strides is not None else self.pool_size, "strides")
        self.padding = padding

    def _pads(self, x):
        return (_same_padding(x.shape[2], self.pool_size[0], self.strides[0]),
                _same_padding(x.shape[3], self.pool_size[1], self.strides[1]))


class MaxPooling2D(_Pooling2D):
    """The maximum of every pool_size window: (N, H, W, C) -> (N, OH, OW, C)."""

    def call(self, x, training=None):
        x = _nchw(x)
        padding = (0, 0)
        if self.padding == "same":
            (ht, hb), (wl, wr) = self._pads(x)
            if ht == hb and wl == wr and ht <= self.pool_size[0] // 2 and wl <= self.pool_size[1] // 2:
                padding = (ht, wl)
            elif ht or hb or wl or wr:
                x = ops.pad(x, (wl, wr, ht, hb), value=-np.inf)
        return _ChannelsFirst(F.max_pool2d(x, self.pool_size, self.strides, padding))


class AveragePooling2D(_Pooling2D):
    """The mean of every window; with padding='same' the padding is left out of the mean, like Keras."""

    def call(self, x, training=None):
        x = _nchw(x)
        if self.padding == "same":
            (ht, hb), (wl, wr) = self._pads(x)
            if ht or hb or wl or wr:
                mask = np.pad(np.ones((1, 1) + tuple(x.shape[2:]), np.float32), ((0, 0), (0, 0), (ht, hb), (wl, wr)))
                x = ops.pad(x, (wl, wr, ht, hb))
                y = F.avg_pool2d(x, self.pool_size, self.strides)
                frac = F.avg_pool2d(Tensor(mask), self.pool_size, self.strides).array  # share of real pixels
                return _ChannelsFirst(y * Tensor._make(1.0 / frac, y.device))
        return _ChannelsFirst(F.avg_pool2d(x, self.pool_size, self.strides))


MaxPool2D, AvgPool2D = MaxPooling2D, AveragePooling2D


class GlobalAveragePooling2D(Layer):
    """(N, H, W, C) -> (N, C), the mean over each channel's map."""

    supports_channels_first = True

    def call(self, x, training=None):
        return x.t.mean((2, 3)) if isinstance(x, _ChannelsFirst) else x.mean((1, 2))


class GlobalMaxPooling2D(Layer):
    supports_channels_first = True

    def call(self, x, training=None):
        return x.t.amax((2, 3)) if isinstance(x, _ChannelsFirst) else x.amax((1, 2))


# ---------------------------------------------------------------- normalisation
class BatchNormalization(Layer):
    """Normalises each feature (the last axis, channels for images) with batch statistics while
    training and with moving averages at inference; y = gamma * (x - mean) / sqrt(var + eps) + beta.

    Keras' defaults: momentum=0.99, epsilon=1e-3; moving stats use the biased batch variance.
    A frozen (trainable=False) BatchNormalization runs in inference mode, like Keras.
    """

    supports_channels_first = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if axis not in (-1, 3) and not isinstance(axis, int):
            raise NotImplementedError("BatchNormalization: only a single feature axis is supported")
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self._inits = (gamma_initializer, beta_initializer, moving_mean_initializer, moving_variance_initializer)
        self._regs = (gamma_regularizer, beta_regularizer)

    def build(self, input_shape):
        c = input_shape[self.axis]
        self.gamma = self.add_weight("gamma", (c,), self._inits[0], self._regs[0]) if self.scale else None
        self.beta = self.add_weight("beta", (c,), self._inits[1], self._regs[1]) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", (c,), self._inits[2], trainable=False)
        self.moving_variance = self.add_weight("moving_variance", (c,), self._inits[3], trainable=False)

    def call(self, x, training=None):
        cf = isinstance(x, _ChannelsFirst)
        t = x.t if cf else x
        axis = 1 if cf else self.axis % t.ndim
        perm = [0, axis] + [a for a in range(1, t.ndim) if a != axis]
        if axis != 1:  # nn.functional.batch_norm wants the features on axis 1
            t = t.permute(*perm)
        y = F.batch_norm(t, self.moving_mean, self.moving_variance, self.gamma, self.beta,
                         training=bool(training and self.trainable), momentum=1.0 - self.momentum, eps=self.epsilon,
                         unbiased_running_var=False)
        if axis != 1:
            y = y.permute(*np.argsort(perm).tolist())
        return _ChannelsFirst(y) if cf else y


# ---------------------------------------------------------------- embeddings and recurrent layers
class Embedding(Layer):
    """Integer ids (N, T) -> vectors (N, T, output_dim); embeddings: (input_dim, output_dim)."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 mask_zero=False, input_length=None, **kwargs):
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = embeddings_initializer
        self.embeddings_regularizer = embeddings_regularizer
        self.mask_zero = mask_zero  # accepted; masking is not implemented (padding ids get a vector too)

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer, self.embeddings_regularizer)

    def call(self, x, training=None):
        ids = np.asarray(x.numpy() if isinstance(x, Tensor) else x).astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            raise IndexError(f"Embedding {self.name!r}: ids must be in [0, {self.input_dim}), got "
                             f"[{ids.min()}, {ids.max()}]")
        return F.embedding(ids, self.embeddings)


class _RNN(Layer):
    """Base of SimpleRNN, LSTM, GRU: x (N, T, F) -> (N, units) or, with return_sequences, (N, T, units).

    Weights in Keras' layout: kernel (F, G*units), recurrent_kernel (units, G*units), bias; G gates.
    """

    gates = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 return_sequences=False, return_state=False, go_backwards=False, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self._inits = (kernel_initializer, recurrent_initializer, bias_initializer)
        self._regs = (kernel_regularizer, recurrent_regularizer, bias_regularizer)
        self.return_sequences, self.return_state, self.go_backwards = return_sequences, return_state, go_backwards

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_init(self):
        return self._inits[2]

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected input (batch, timesteps, features), "
                             f"got shape {tuple(input_shape)}")
        g = self.gates * self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], g), self._inits[0], self._regs[0])
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, g), self._inits[1], self._regs[1])
        self.bias = self.add_weight("bias", self._bias_shape(), self._bias_init(), self._regs[2]) \
            if self.use_bias else None

    def _zeros(self, n, like):
        return Tensor._make(like.xp.zeros((n, self.units), dtype=like.dtype), like.device)

    def call(self, x, training=None, initial_state=None):
        """x: (N, T, F). The input projection of every step is one matmul; nn's recurrent step does the rest."""
        n, steps = x.shape[0], x.shape[1]
        state = list(initial_state) if initial_state is not None else self._initial_state(n, x)
        kernel, recurrent, b_in, b_rec = self._torch_layout()
        xw = x @ kernel
        if b_in is not None:
            xw = xw + b_in
        mode = self._mode()
        h, c = state[0], (state[1] if len(state) > 1 else None)
        outputs = []
        for t in (range(steps - 1, -1, -1) if self.go_backwards else range(steps)):
            if mode is not None:
                h, c = _rnn_step(mode, xw[:, t], h, c, recurrent.T, b_rec)
            else:
                h, c = self._custom_step(xw[:, t], h, c, recurrent, b_rec)
            outputs.append(h)
        state = [h] if c is None else [h, c]
        out = ops.stack(outputs, 1) if self.return_sequences else outputs[-1]
        return [out] + state if self.return_state else out

    def _torch_layout(self):
        """(kernel (F, G*u), recurrent kernel (u, G*u), input bias, recurrent bias), gates in torch's order."""
        return self.kernel, self.recurrent_kernel, self.bias, None

    def _mode(self):
        """nn's step name when the activations are the standard ones, else None (a custom step)."""
        return None

    def _initial_state(self, n, x):
        return [self._zeros(n, x)]


def _is(fn, name):
    return fn is activations.get(name)


class SimpleRNN(_RNN):
    """h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)."""

    def _mode(self):
        return "RNN_TANH" if _is(self.activation, "tanh") else "RNN_RELU" if _is(self.activation, "relu") else None

    def _custom_step(self, xw, h, c, recurrent, b_rec):
        return self.activation(xw + h @ recurrent), None


class LSTM(_RNN):
    """Keras' LSTM, gates in the order i, f, c, o (torch's i, f, g, o); the forget-gate bias starts
    at 1 (unit_forget_bias)."""

    gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self._inits[2]
        base, u = initializers.get(self._inits[2]), self.units

        def init(shape, dtype=np.float32):
            b = np.asarray(base((u,)), dtype), np.ones(u, dtype), np.asarray(base((2 * u,)), dtype)
            return np.concatenate(b)
        return init

    def _initial_state(self, n, x):
        return [self._zeros(n, x), self._zeros(n, x)]

    def _mode(self):
        return "LSTM" if _is(self.activation, "tanh") and _is(self.recurrent_activation, "sigmoid") else None

    def _custom_step(self, xw, h, c, recurrent, b_rec):
        i, f, g, o = ops.chunk(xw + h @ recurrent, 4, 1)
        act, gate = self.activation, self.recurrent_activation
        c = gate(f) * c + gate(i) * act(g)
        return gate(o) * act(c), c


class GRU(_RNN):
    """Keras' GRU with reset_after=True (its default): gates z, r, h; bias (2, 3*units) = input and
    recurrent biases. h_t = z * h_{t-1} + (1 - z) * tanh(x W_h + b_h + r * (h_{t-1} U_h + b'_h)),
    which is torch's GRU with the z and r blocks swapped."""

    gates = 3

    def _bias_shape(self):
        return (2, 3 * self.units)

    def _torch_layout(self):
        u = self.units

        def swap(w):  # Keras' [z, r, h] blocks -> torch's [r, z, n]
            return ops.cat([w[..., u:2 * u], w[..., :u], w[..., 2 * u:]], -1)
        b = self.bias
        return (swap(self.kernel), swap(self.recurrent_kernel), None if b is None else swap(b[0]),
                None if b is None else swap(b[1]))

    def _mode(self):
        return "GRU" if _is(self.activation, "tanh") and _is(self.recurrent_activation, "sigmoid") else None

    def _custom_step(self, xw, h, c, recurrent, b_rec):
        hw = h @ recurrent
        if b_rec is not None:
            hw = hw + b_rec
        xr, xz, xn = ops.chunk(xw, 3, 1)
        hr, hz, hn = ops.chunk(hw, 3, 1)
        r = self.recurrent_activation(xr + hr)
        z = self.recurrent_activation(xz + hz)
        n = self.activation(xn + r * hn)
        return z * h + (1.0 - z) * n, None


__all__ = ["Layer", "InputLayer", "Input", "Dense", "Activation", "ReLU", "Softmax", "Flatten", "Reshape", "Dropout",
           "Add", "Concatenate", "Conv2D", "Convolution2D", "MaxPooling2D", "AveragePooling2D", "MaxPool2D",
           "AvgPool2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "BatchNormalization", "Embedding",
           "SimpleRNN", "LSTM", "GRU", "KerasTensor", "MultiHeadAttention", "LayerNormalization",
           "GlobalAveragePooling1D", "GlobalMaxPooling1D"]

from .attention import GlobalAveragePooling1D, GlobalMaxPooling1D, LayerNormalization, MultiHeadAttention  # noqa: E402
