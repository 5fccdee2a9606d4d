"""Callbacks that `fit` calls around epochs and batches: History, EarlyStopping,
ModelCheckpoint, LearningRateScheduler, ReduceLROnPlateau, CSVLogger, LambdaCallback,
TerminateOnNaN, BackupAndRestore.

Hooks: on_train_begin/end(logs), on_epoch_begin(epoch, logs), on_epoch_end(epoch, logs),
on_train_batch_begin/end(batch, logs). `logs` maps 'loss', metric names and their 'val_'
versions to floats. A callback stops training with `self.model.stop_training = True`.
"""
import csv
import math
import os

import numpy as np

from ..viz_plots import _finish, _pyplot


class Callback:
    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass


def _overrides(callback, hook):
    fn = getattr(callback, hook)
    return getattr(fn, "__func__", None) is not getattr(Callback, hook)


class CallbackList:
    """Calls every callback's hook in order."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for c in self.callbacks:
            c.set_model(model)
            c.set_params(params)
        self._batch_hooks = [c for c in self.callbacks
                             if _overrides(c, "on_train_batch_end") or _overrides(c, "on_train_batch_begin")]

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)
        targets = self._batch_hooks if "batch" in hook else self.callbacks

        def call(*args):
            for c in targets:
                getattr(c, hook)(*args)
        return call

    @property
    def has_batch_hooks(self):
        return bool(self._batch_hooks)


class History(Callback):
    """Records every epoch's logs: `history.history['loss']` is the list of epoch losses."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []  # a second fit() starts a new record, like Keras

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def plot(self, metrics=None, path=None, show=False, title=None):
        """Draw loss (and accuracy-like) curves, train and validation, one panel per metric.

        metrics: names to draw (default: every recorded one without 'val_'); path: save a PNG;
        show: plt.show(). Returns the matplotlib Figure.
        """
        plt = _pyplot()
        names = metrics or [k for k in self.history if not k.startswith("val_") and k != "lr"]
        fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
        for ax, name in zip(axes[0], names):
            values = self.history.get(name, [])
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, "o-", label=f"train {name}")
            if f"val_{name}" in self.history:
                ax.plot(epochs, self.history[f"val_{name}"], "s--", label=f"val {name}")
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            ax.legend()
        return _finish(fig, title, path, show)


def _mode_op(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if any(k in monitor for k in ("acc", "auc", "precision", "recall")) else "min"
    return mode


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs.

    restore_best_weights: at the end of training, put back the weights of the best epoch.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.min_delta, self.patience = monitor, abs(min_delta), patience
        self.verbose, self.baseline, self.restore_best_weights = verbose, baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.mode = _mode_op(monitor, mode)

    def _better(self, value, ref):
        if ref is None:
            return True
        return value < ref - self.min_delta if self.mode == "min" else value > ref + self.min_delta

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = self.baseline
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            available = ", ".join(sorted(logs or {}))
            print(f"EarlyStopping: metric {self.monitor!r} is not available; available: {available}")
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # something to restore even if nothing improves
        self.wait += 1
        if self._better(value, self.best):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the weights after every epoch (or only when `monitor` improves, save_best_only).

    filepath may hold `{epoch:02d}` and log keys, e.g. 'ckpt-{epoch:02d}-{val_loss:.3f}.safetensors'.
    Files are written atomically (a temporary file renamed into place). Only weights are
    saved (safetensors), whatever save_weights_only says.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch":
            raise NotImplementedError("ModelCheckpoint: only save_freq='epoch' is supported")
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode = _mode_op(monitor, mode)
        self.best = initial_value_threshold

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                print(f"ModelCheckpoint: can save best model only with {self.monitor!r} available, skipping")
                return
            better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
            if not better:
                return
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best} to {value:.5f}, saving to {path}")
            self.best = value
        elif self.verbose:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        self.model.save_weights(path)


class LearningRateScheduler(Callback):
    """Set the optimiser's learning rate at each epoch start: schedule(epoch, lr) or schedule(epoch)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        try:
            lr = self.schedule(epoch, opt.learning_rate)
        except TypeError:
            lr = self.schedule(epoch)
        opt.learning_rate = float(lr)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr):g}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when `monitor` stalls for `patience` epochs."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError("ReduceLROnPlateau: factor must be < 1")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.mode, self.min_delta, self.cooldown, self.min_lr = _mode_op(monitor, mode), min_delta, cooldown, min_lr

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        better = self.best is None or (value < self.best - self.min_delta if self.mode == "min"
                                       else value > self.best + self.min_delta)
        if better:
            self.best, self.wait = value, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            opt = self.model.optimizer
            new = max(opt.learning_rate * self.factor, self.min_lr)
            if new < opt.learning_rate:
                opt.learning_rate = new
                if self.verbose:
                    print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new:g}.")
            self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Append one row per epoch (epoch, then the logs' keys sorted) to a CSV file."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.keys = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None
        self._has_header = exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys, delimiter=self.sep)
            if not self._has_header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self.keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        self._file.close()
        self._writer = None


class LambdaCallback(Callback):
    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end),
                         ("on_train_batch_begin", on_train_batch_begin or kwargs.get("on_batch_begin")),
                         ("on_train_batch_end", on_train_batch_end or kwargs.get("on_batch_end"))):
            if fn is not None:
                setattr(self, name, fn)


class TerminateOnNaN(Callback):
    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and (math.isnan(loss) or math.isinf(loss)):
            print(f"Batch {batch}: invalid loss, terminating training")
            self.model.stop_training = True


# ---------------------------------------------------------------- BackupAndRestore
def _rng_state():
    """Every random stream fit draws from (minigrad's default Generator, numpy's global one) as JSON data.
    (The one place to change if minigrad's RNG state API grows.)"""
    from ..random import get_rng_state
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"minigrad": get_rng_state().numpy().tolist(), "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]}


def _set_rng_state(state):
    from ..random import set_rng_state
    set_rng_state(np.asarray(state["minigrad"], dtype=np.uint8))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, np.uint32), pos, has_gauss, cached))


class BackupAndRestore(Callback):
    """Lets an interrupted fit() carry on where it stopped, as Keras' callback does.

    Every epoch (save_freq="epoch") or every `save_freq` batches, it writes backup_dir/backup.keras
    (atomically): the weights, the optimizer state, the random generators' state and fit's place
    in the data (epoch, batch, shuffled order). When fit starts and a backup is there, it loads it
    and fit resumes from that epoch and batch, so that the finished run ends at the same weights
    as an uninterrupted one (same machine, thread count and backend). Run the same script again
    after a crash; the backup is deleted when fit ends normally (delete_checkpoint=True).
    Not restored: the running loss/metrics of a half-done epoch (they restart at the resumed batch),
    a Dropout(seed=...) layer's private generator, and the position inside an iterable of batches
    (a resumed iterable restarts the interrupted epoch). double_checkpoint is accepted for Keras'
    signature; it is not needed here, since the one backup file is replaced atomically.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir must be a non-empty path")
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch' or a positive int, got {save_freq!r}")
        self.backup_dir, self.save_freq = os.fspath(backup_dir), save_freq
        self.delete_checkpoint = delete_checkpoint
        self._path = os.path.join(self.backup_dir, "backup.keras")
        self._batches, self._epoch = 0, 0

    def on_train_begin(self, logs=None):
        from . import saving
        model = self.model
        model._ensure_built()
        if not model.weights:
            raise ValueError("BackupAndRestore: the model must be built before fit() (give the first layer "
                             "input_shape, or call it on data / build() first)")
        if not os.path.exists(self._path):
            return
        config, weights, opt_arrays, extra = saving.read_archive(self._path)
        saving.restore(model, config, weights, opt_arrays)
        state = extra["training_state.json"]
        _set_rng_state(state["rng"])
        model._initial_epoch = state["epoch"]
        stream = getattr(model, "_fit_state", None)
        if stream is not None and not stream.iterable:
            stream.set_state(state["stream"], state["step"])

    def _save(self, epoch, step):
        from . import saving
        stream = self.model._fit_state
        state = {"epoch": epoch, "step": step, "rng": _rng_state(),
                 "stream": stream.get_state() if stream is not None else None}
        os.makedirs(self.backup_dir, exist_ok=True)
        saving.save_model(self.model, self._path, extra={"training_state.json": state}, with_config=False)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches += 1
        if self._batches >= self.save_freq:
            self._batches = 0
            self._save(self._epoch, batch + 1)  # resume at the next batch of this epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1, 0)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self._path):
            os.remove(self._path)
