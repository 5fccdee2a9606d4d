"""Keras models: `Sequential`, the functional `Model(inputs, outputs)`, and `Model` subclasses
with a `call()` method; plus compile / fit / evaluate / predict / summary / weights I/O.

Training follows Keras: `fit` shuffles every epoch, trains in mini-batches (32 by default),
reports the running mean of the loss (weighted by batch size, regularisation penalties
included) and of each metric, and evaluates validation data at each epoch end. Inputs
may be numpy arrays, Python lists or minigrad Tensors; numbers are converted to float32.
"""
import math
import os
import time

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor
from . import callbacks as callbacks_module
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from .data_adapter import (_BatchStream, _batches, _is_batch_iterable, _length, _numpy, _prepare_x,
                           _sample_weights, _take)
from .layers import InputLayer, KerasTensor, Layer, _ActivatedLayer, _context, _nhwc, as_tensor


class _Progress:
    """One tqdm bar per epoch (verbose=1), one line per epoch (verbose=2), or nothing (0)."""

    def __init__(self, verbose, epoch, epochs, steps):
        self.verbose, self.epoch, self.epochs = verbose, epoch, epochs
        self.bar = None
        self.start = time.perf_counter()
        self._last_postfix = 0.0
        if verbose == 1:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=steps, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch", leave=True,
                                dynamic_ncols=True, mininterval=0.25)
            else:
                print(f"Epoch {epoch + 1}/{epochs}")

    @staticmethod
    def _fmt(logs):
        return ", ".join(f"{k}={v:.4f}" for k, v in logs.items())

    def update(self, logs, seen):
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.perf_counter()
        if now - self._last_postfix > 0.25:
            self._last_postfix = now
            rate = seen / max(now - self.start, 1e-9)
            self.bar.set_postfix_str(f"{self._fmt(logs)}, {rate:,.0f} samples/s", refresh=False)

    def close(self, logs, seen):
        elapsed = time.perf_counter() - self.start
        rate = seen / max(elapsed, 1e-9)
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self._fmt(logs)}, {rate:,.0f} samples/s", refresh=True)
            self.bar.close()
        elif self.verbose:
            parts = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
            print(f"Epoch {self.epoch + 1}/{self.epochs} - {elapsed:.1f}s - {parts} - {rate:,.0f} samples/s")


# ---------------------------------------------------------------- Model
class Model(Layer):
    """A layer made of layers, that can be trained.

    Functional:  inputs = keras.Input((784,)); outputs = Dense(10)(Dense(64)(inputs));
                 model = Model(inputs, outputs)
    Subclassing: class Net(Model): __init__ makes the layers, call(self, x, training=None)
                 uses them; weights appear once the model has seen its first batch.
    """

    def __init__(self, *args, **kwargs):
        inputs = kwargs.pop("inputs", args[0] if len(args) > 0 else None)
        outputs = kwargs.pop("outputs", args[1] if len(args) > 1 else None)
        super().__init__(**{k: v for k, v in kwargs.items() if k in ("name", "trainable")})
        self._functional = inputs is not None and outputs is not None
        self.optimizer = None
        self.compiled_loss = None
        self._metric_specs = []
        self.stop_training = False
        self.history = None
        self._params = None
        self._graph_layers = []
        if self._functional:
            self._init_graph(inputs, outputs)

    # ------------------------------------------------------------ functional graph
    def _init_graph(self, inputs, outputs):
        self._inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self._outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        for t in self._inputs + self._outputs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model: inputs and outputs must be KerasTensors (from keras.Input and layer calls), "
                                f"got {type(t).__name__}")
        input_ids = {t.id for t in self._inputs}
        nodes, seen, stack = [], set(), list(self._outputs)
        while stack:
            t = stack.pop()
            if t.id in seen:
                continue
            seen.add(t.id)
            if t.id in input_ids:
                continue
            if not t.inputs:
                raise ValueError(f"Model: output depends on an input that is not in `inputs`: {t}")
            nodes.append(t)
            stack.extend(t.inputs)
        self._nodes = sorted(nodes, key=lambda t: t.id)
        layers = [t.layer for t in self._inputs]
        for t in self._nodes:
            if all(t.layer is not l for l in layers):
                layers.append(t.layer)
        self._graph_layers = layers
        self.built = True
        self.input_shape = self._inputs[0].shape if len(self._inputs) == 1 else [t.shape for t in self._inputs]
        self.output_shape = self._outputs[0].shape

    def _run_graph(self, x, training, want_logits=False):
        xs = x if isinstance(x, list) else [x]
        if len(xs) != len(self._inputs):
            raise ValueError(f"Model {self.name!r} expects {len(self._inputs)} inputs, got {len(xs)}")
        values = {t.id: v for t, v in zip(self._inputs, xs)}
        logits = None
        for node in self._nodes:
            args = [values[t.id] for t in node.inputs]
            arg = args[0] if len(args) == 1 else args
            if node.spread:  # layer(q, v): separate arguments, not a list
                values[node.id] = node.layer._apply(args[0], training, *args[1:])
            elif want_logits and node is self._outputs[0] and isinstance(node.layer, _ActivatedLayer):
                logits = _nhwc(node.layer._apply(arg, training, pre_activation=True))
                values[node.id] = node.layer.activation(logits)
            else:
                values[node.id] = node.layer._apply(arg, training)
        outs = [_nhwc(values[t.id]) for t in self._outputs]
        return (outs[0] if len(outs) == 1 else outs), logits

    # ------------------------------------------------------------ structure
    def _children(self):
        return self._graph_layers if getattr(self, "_functional", False) else super()._children()

    @property
    def layers(self):
        return list(self._children())

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}; layers are {[l.name for l in self.layers]}")

    def _known_input_shape(self):
        return self.input_shape if self._functional else None

    def _output_activation(self):
        """The last layer's activation name (for fusing it into the loss), or None."""
        if self._functional:
            layer = self._outputs[0].layer
            return layer.activation_name if isinstance(layer, _ActivatedLayer) and len(self._outputs) == 1 else None
        return None

    # ------------------------------------------------------------ calling
    def call(self, inputs, training=None):
        if self._functional:
            return self._run_graph(inputs, training)[0]
        raise NotImplementedError(f"{type(self).__name__}: subclass Model and define call(self, inputs, training=None)")

    def _apply(self, x, training=None, *args, pre_activation=False, **kwargs):
        x = _nhwc(x)
        if self.input_shape is None:
            self.input_shape = (None,) + tuple(x.shape[1:]) if not isinstance(x, list) else None
        if training is None:
            training = _context["training"]
        previous, _context["training"] = _context["training"], training
        try:
            out = self.call(x, training=training) if self._takes_training() else self.call(x)
        finally:
            _context["training"] = previous
        self.built = True
        if not isinstance(out, (list, tuple)):
            self.output_shape = (None,) + tuple(out.shape[1:])
        return out

    def _forward(self, x, training, want_logits=False):
        """-> (y_pred, logits or None): the output and, when asked and possible, the last
        layer's pre-activation (see losses' module docstring)."""
        if self._functional:
            return self._run_graph(x, training, want_logits)
        return _nhwc(self._apply(x, training)), None

    def build(self, input_shape=None):
        """Create every weight by running one zero sample of `input_shape` (batch dim first) through."""
        shape = input_shape if input_shape is not None else self._known_input_shape()
        if shape is None:
            raise ValueError(f"Model {self.name!r} has not been built: call it on data, fit it, or pass input_shape "
                             "to the first layer (or build((None, ...)))")
        shape = tuple(shape)
        dummy = np.zeros((1,) + tuple(1 if d is None else int(d) for d in shape[1:]), np.float32)
        with no_grad():
            self._apply(Tensor(dummy), training=False)
        self.built = True

    def _ensure_built(self):
        if not (self.built and self._all_built()) and self._known_input_shape() is not None:
            self.build()

    def _all_built(self):
        return all(l.built for l in self._all_layers() if l is not self)

    @property
    def weights(self):
        """All weights; a model whose input shape is declared builds itself first, like Keras."""
        if "_stack" in self.__dict__ or self._functional:
            self._ensure_built()
        return Layer.weights.fget(self)

    # ------------------------------------------------------------ compile / fit / evaluate / predict
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=None, jit_compile=None, **kwargs):
        """optimizer: name or keras.optimizers object; loss: name, Loss or fn(y_true, y_pred);
        metrics: list of names ('accuracy', 'mae', ...), Metric objects or functions."""
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = loss
        self.compiled_loss = losses_module.get(loss)
        if isinstance(metrics, dict):
            metrics = [m for ms in metrics.values() for m in (ms if isinstance(ms, (list, tuple)) else [ms])]
        self._metric_specs = list(metrics or [])
        self._train_metrics = None
        self.stop_training = False

    @property
    def metrics_names(self):
        return ["loss"] + [m if isinstance(m, str) else getattr(m, "name", getattr(m, "__name__", "metric"))
                           for m in self._metric_specs]

    def _check_compiled(self, what):
        if self.compiled_loss is None or self.optimizer is None:
            raise RuntimeError(f"{what}: compile the model first, e.g. model.compile(optimizer='adam', "
                               "loss='sparse_categorical_crossentropy', metrics=['accuracy'])")

    def _loss_value(self, y_true, y_pred, logits, sample_weight=None):
        loss = self.compiled_loss(y_true, y_pred, sample_weight=sample_weight, logits=logits)
        penalties = self.losses
        for p in penalties:
            loss = loss + p
        return loss

    def _fuse(self):
        act = self._output_activation()
        return act is not None and self.compiled_loss.can_fuse(act)

    def _train_step(self, xb, yb, fuse, sw=None):
        x = as_tensor(xb) if not isinstance(xb, list) else [as_tensor(v) for v in xb]
        y_pred, logits = self._forward(x, training=True, want_logits=fuse)
        loss = self._loss_value(yb, y_pred, logits, sw)
        if self._params is None:  # after the first forward pass every weight exists
            self._sync_requires_grad()
            self._params = self.trainable_weights
        params = self._params
        for p in params:
            p.grad = None
        if loss.requires_grad:
            loss.backward()
            self.optimizer.step(params)
        return float(loss.item()), y_pred

    def train_on_batch(self, x, y=None, return_dict=False):
        """One optimisation step on one batch; returns the loss (and metrics) of that batch."""
        self._check_compiled("train_on_batch")
        self._params = None
        xb = _prepare_x(x, self._n_inputs())
        yb = _numpy(y)
        loss, y_pred = self._train_step(xb, yb, self._fuse())
        logs = {"loss": loss}
        for m in self._make_fresh_metrics(yb, y_pred):
            m.update_state(yb, y_pred.numpy())
            logs[m.name] = float(m.result())
        return logs if return_dict else (loss if len(logs) == 1 else list(logs.values()))

    def _make_fresh_metrics(self, y_true, y_pred):
        out = []
        for spec in self._metric_specs:
            m = metrics_module.get(spec, y_true, y_pred.numpy() if isinstance(y_pred, Tensor) else y_pred,
                                   self.compiled_loss)
            if m is spec:  # a Metric object the user passed: use its own state
                m.reset_state()
            out.append(m)
        return out

    def _n_inputs(self):
        return len(self._inputs) if self._functional else 1

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_batch_size=None, validation_freq=1, **kwargs):
        """Train for `epochs` epochs; returns a History whose .history maps 'loss', metrics and
        'val_...' to per-epoch lists. verbose: 1 progress bar, 2 one line per epoch, 0 silent."""
        self._check_compiled("fit")
        if kwargs:
            raise TypeError(f"fit: unexpected keyword argument(s) {sorted(kwargs)}")
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = 32 if batch_size is None else int(batch_size)
        iterable = _is_batch_iterable(x)
        if iterable and (validation_split or sample_weight is not None):
            raise ValueError("fit: validation_split and sample_weight need array inputs, not an iterable of batches")
        if not 0 <= validation_split < 1:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        if not iterable:
            if y is None:
                raise ValueError("fit: pass the targets y (or an iterable of (x, y) batches as x)")
            x = _prepare_x(x, self._n_inputs())
            y = _numpy(y)
            if _length(x) != len(y):
                raise ValueError(f"fit: x has {_length(x)} samples but y has {len(y)}")
            sample_weight = _sample_weights(y, class_weight, sample_weight, "fit")
            if validation_data is None and validation_split:
                # Keras takes the last samples, before shuffling
                split = int(math.floor(_length(x) * (1 - validation_split)))
                if split in (0, _length(x)):
                    raise ValueError(f"fit: validation_split={validation_split} leaves no samples for training or "
                                     f"validation out of {_length(x)}")
                validation_data = (_take(x, slice(split, None)), y[split:]) + (
                    () if sample_weight is None else (sample_weight[split:],))
                x, y = _take(x, slice(0, split)), y[:split]
                sample_weight = None if sample_weight is None else sample_weight[:split]
        elif class_weight is not None:
            class_weight = dict(class_weight)
        if validation_data is not None:
            validation_data = tuple(validation_data)[:3]
        if steps_per_epoch is not None and int(steps_per_epoch) < 1:
            raise ValueError(f"fit: steps_per_epoch must be a positive int, got {steps_per_epoch}")

        self._ensure_built()  # weights first, then the shuffles: the same draws with or without callbacks that build
        history = callbacks_module.History()
        steps_total = steps_per_epoch or (None if iterable else -(-_length(x) // batch_size))
        cbs = callbacks_module.CallbackList([history] + list(callbacks or []), self, {
            "epochs": epochs, "verbose": verbose, "batch_size": batch_size, "steps": steps_total})
        self.stop_training = False
        self._params = None
        fuse = self._fuse()
        train_metrics = None
        stream = _BatchStream(x, y, sample_weight, batch_size, shuffle, iterable, steps_per_epoch)
        self._fit_state = stream  # BackupAndRestore saves and restores its position
        cbs.on_train_begin({})
        if getattr(self, "_initial_epoch", None) is not None:  # set by BackupAndRestore.on_train_begin
            initial_epoch, self._initial_epoch = self._initial_epoch, None
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch, {})
            progress = _Progress(verbose, epoch, epochs, stream.steps())
            loss_sum, seen = 0.0, 0
            if train_metrics is not None:
                for m in train_metrics:
                    m.reset_state()
            logs = {}
            for step, (xb, yb, swb) in stream.epoch():
                if iterable:
                    xb, yb = _prepare_x(xb, self._n_inputs()), _numpy(yb)
                    swb = _sample_weights(yb, class_weight, swb, "fit")
                if cbs.has_batch_hooks:
                    cbs.on_train_batch_begin(step, {})
                loss, y_pred = self._train_step(xb, yb, fuse, swb)
                nb = len(yb)
                loss_sum += loss * nb
                seen += nb
                pred = y_pred.numpy()
                if train_metrics is None:
                    train_metrics = self._make_fresh_metrics(yb, pred)
                for m in train_metrics:
                    m.update_state(yb, pred)
                logs = {"loss": loss_sum / seen, **{m.name: float(m.result()) for m in train_metrics}}
                progress.update(logs, seen)
                if cbs.has_batch_hooks:
                    cbs.on_train_batch_end(step, dict(logs, batch_loss=loss))
                if self.stop_training:
                    break
            if validation_data is not None and (epoch + 1) % validation_freq == 0:
                vx, vy = validation_data[:2]
                val = self.evaluate(vx, vy, batch_size=validation_batch_size or batch_size, verbose=0,
                                    sample_weight=validation_data[2] if len(validation_data) > 2 else None,
                                    return_dict=True)
                logs.update({f"val_{k}": v for k, v in val.items()})
            cbs.on_epoch_end(epoch, logs)
            progress.close(logs, seen)
            if self.stop_training:
                break
        cbs.on_train_end({})
        self._fit_state = None
        self.history = history
        return history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        """Loss and metrics over (x, y) in inference mode: a float, [loss, *metrics], or a dict."""
        self._check_compiled("evaluate")
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = 32 if batch_size is None else int(batch_size)
        if _is_batch_iterable(x):
            batches = ((_prepare_x(a, self._n_inputs()), _numpy(b), None) for a, b in x)
            total = len(x) if hasattr(x, "__len__") else None
        else:
            x, y = _prepare_x(x, self._n_inputs()), _numpy(y)
            sw = _sample_weights(y, None, sample_weight, "evaluate")
            batches = ((_take(x, i), y[i], None if sw is None else sw[i])
                       for i in _batches(_length(x), batch_size, None))
            total = -(-_length(x) // batch_size)
        fuse = self._fuse()
        loss_sum, seen, ms = 0.0, 0, None
        bar = None
        if verbose == 1:
            try:
                from tqdm.auto import tqdm
                bar = tqdm(total=total, desc="Evaluate", unit="batch", leave=True, dynamic_ncols=True)
            except ImportError:
                bar = None
        with no_grad():
            for xb, yb, swb in batches:
                xt = as_tensor(xb) if not isinstance(xb, list) else [as_tensor(v) for v in xb]
                y_pred, logits = self._forward(xt, training=False, want_logits=fuse)
                loss = float(self._loss_value(yb, y_pred, logits, swb).item())
                loss_sum += loss * len(yb)
                seen += len(yb)
                pred = y_pred.numpy()
                if ms is None:
                    ms = self._make_fresh_metrics(yb, pred)
                for m in ms:
                    m.update_state(yb, pred)
                if bar is not None:
                    bar.update(1)
        logs = {"loss": loss_sum / max(seen, 1), **{m.name: float(m.result()) for m in ms or []}}
        if bar is not None:
            bar.set_postfix_str(", ".join(f"{k}={v:.4f}" for k, v in logs.items()))
            bar.close()
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None):
        """Outputs for x in inference mode, batch by batch, as a numpy array."""
        batch_size = 32 if batch_size is None else int(batch_size)
        if _is_batch_iterable(x):
            chunks = (_prepare_x(a[0] if isinstance(a, (tuple, list)) else a, self._n_inputs()) for a in x)
        else:
            x = _prepare_x(x, self._n_inputs())
            chunks = (_take(x, i) for i in _batches(_length(x), batch_size, None))
        outs = []
        with no_grad():
            for xb in chunks:
                xt = as_tensor(xb) if not isinstance(xb, list) else [as_tensor(v) for v in xb]
                y = self._forward(xt, training=False)[0]
                outs.append([t.numpy() for t in y] if isinstance(y, list) else y.numpy())
        if not outs:
            return np.zeros((0,), np.float32)
        if isinstance(outs[0], list):
            return [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]
        return np.concatenate(outs)

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=_length(_prepare_x(x, self._n_inputs())))

    def test_on_batch(self, x, y, return_dict=False):
        return self.evaluate(x, y, batch_size=len(_numpy(y)), verbose=0, return_dict=return_dict)

    # ------------------------------------------------------------ summary
    def summary(self, line_length=None, positions=None, print_fn=None, **kwargs):
        """Print each layer's name (type), output shape and parameter count, then the totals."""
        self._ensure_built()
        if not (self.built and self._all_built()):
            raise ValueError(f"Model {self.name!r} has not yet been built. Build it by calling it on data, fitting "
                             "it, calling build((None, ...)), or giving the first layer an input_shape.")
        print_fn = print_fn or print
        width = line_length or 65
        cols = [int(width * p) for p in (positions or (0.45, 0.85, 1.0))]
        rows = [("Layer (type)", "Output Shape", "Param #")]
        for layer in self.layers:
            shape = layer.output_shape
            rows.append((f"{layer.name} ({type(layer).__name__})", str(shape) if shape is not None else "?",
                         f"{layer.count_params():,}"))

        def line(cells):
            out, start = "", 0
            for text, end in zip(cells, cols):
                out = (out + " " + text).ljust(end) if out or start else (" " + text).ljust(end)
                start = end
            return out.rstrip()

        trainable = sum(int(np.prod(w.shape)) for w in self.trainable_weights)
        total = self.count_params()
        print_fn(f'Model: "{self.name}"')
        print_fn("_" * width)
        print_fn(line(rows[0]))
        print_fn("=" * width)
        for i, r in enumerate(rows[1:]):
            print_fn(line(r))
            print_fn(("_" if i < len(rows) - 2 else "=") * width)
        if len(rows) == 1:
            print_fn("=" * width)
        print_fn(f"Total params: {total:,} ({_human_bytes(total * 4)})")
        print_fn(f"Trainable params: {trainable:,} ({_human_bytes(trainable * 4)})")
        print_fn(f"Non-trainable params: {total - trainable:,} ({_human_bytes((total - trainable) * 4)})")
        print_fn("_" * width)

    # ------------------------------------------------------------ weights I/O
    def _weight_dict(self):
        return {f"{i:04d}/{layer.name}/{name}": w for i, (layer, name, w) in enumerate(self._named_weights())}

    def save_weights(self, filepath, overwrite=True, **kwargs):
        """Write every weight to a safetensors file, atomically (temporary file + rename).

        Keys are '<index>/<layer name>/<weight name>'; load_weights matches them by index.
        """
        from ..serialization import save
        self._ensure_built()
        path = os.fspath(filepath)
        if not overwrite and os.path.exists(path):
            raise FileExistsError(f"save_weights: {path} exists and overwrite=False")
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        tensors = {k: w.detach() for k, w in self._weight_dict().items()}
        save(tensors, path, metadata={"format": "minigrad.keras", "model": self.name})

    def save(self, filepath, overwrite=True, **kwargs):
        """`m.keras`: the whole model (see keras.saving; minigrad's format, not TensorFlow's); any other
        name: the weights alone, as save_weights."""
        if os.fspath(filepath).endswith(".keras"):
            from .saving import save_model
            return save_model(self, filepath, overwrite=overwrite)
        return self.save_weights(filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """Read weights written by save_weights (or ModelCheckpoint) into this model, in order."""
        from ..serialization import load
        self._ensure_built()
        stored = load(os.fspath(filepath))
        keys = sorted(stored, key=lambda k: int(k.split("/", 1)[0]) if k.split("/", 1)[0].isdigit() else k)
        mine = self._named_weights()
        if not mine:
            raise ValueError(f"load_weights: model {self.name!r} has no weights yet; build it first "
                             "(call it on data or give the first layer input_shape)")
        if len(keys) != len(mine):
            raise ValueError(f"load_weights: the file holds {len(keys)} weights, model {self.name!r} has {len(mine)}")
        for key, (layer, name, w) in zip(keys, mine):
            v = stored[key].numpy()
            if tuple(v.shape) != tuple(w.shape):
                if skip_mismatch:
                    continue
                raise ValueError(f"load_weights: {key} has shape {tuple(v.shape)} but {layer.name}/{name} "
                                 f"has {tuple(w.shape)}")
            w.array[...] = v
            w._version[0] += 1

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _human_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024


# ---------------------------------------------------------------- Sequential
class Sequential(Model):
    """A plain stack of layers: Sequential([Dense(64, activation='relu', input_shape=(784,)), Dense(10)])
    or model.add(layer) one at a time. Layers are built on the first batch unless the first
    one has input_shape (or the list starts with keras.Input / InputLayer)."""

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self._stack = []
        self._input_shape_decl = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, KerasTensor):
            self._input_shape_decl = layer.shape
            return
        if isinstance(layer, InputLayer):
            self._input_shape_decl = (None,) + tuple(layer._input_shape_arg or ())
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Layer, got {type(layer).__name__}")
        if not self._stack and self._input_shape_decl is None and layer._input_shape_arg is not None:
            self._input_shape_decl = (None,) + layer._input_shape_arg
        self._stack.append(layer)
        self.built = False
        self._params = None

    def pop(self):
        layer = self._stack.pop()
        self.built = False
        return layer

    def _children(self):
        return self.__dict__.get("_stack", [])

    def _known_input_shape(self):
        return self._input_shape_decl

    def _output_activation(self):
        last = self._stack[-1] if self._stack else None
        return last.activation_name if isinstance(last, _ActivatedLayer) else None

    def call(self, inputs, training=None):
        return self._forward(inputs, training)[0]

    def _apply(self, x, training=None, *args, pre_activation=False, **kwargs):
        out = self._forward(_nhwc(x), training)[0]
        self.built = True
        self.input_shape = (None,) + tuple(x.shape[1:])
        self.output_shape = (None,) + tuple(out.shape[1:])
        return out

    def _forward(self, x, training, want_logits=False):
        if not self._stack:
            raise ValueError("Sequential model has no layers; add some with model.add(...)")
        h = x
        for layer in self._stack[:-1]:
            h = layer._apply(h, training)
        last = self._stack[-1]
        if want_logits and isinstance(last, _ActivatedLayer):
            z = _nhwc(last._apply(h, training, pre_activation=True))
            last.output_shape = (None,) + tuple(z.shape[1:])
            out = last.activation(z)
            self.built = True
            return out, z
        out = _nhwc(last._apply(h, training))
        self.built = True
        return out, None


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Rebuild a model saved with model.save("m.keras") (see keras.saving)."""
    from .saving import load_model as load
    return load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


__all__ = ["Model", "Sequential", "load_model"]
