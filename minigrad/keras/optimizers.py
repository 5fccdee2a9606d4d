"""Keras optimisers: Keras' update rules on minigrad.optim's machinery.

Each is a `minigrad.optim.Optimizer`: the weights it has updated form its parameter group
(added on first use, since Keras optimisers are made before the model's weights), its
per-weight state lives in `state` (so `state_dict()` / `load_state_dict()` work as in torch)
and `optim.Optimizer.step` runs the in-place updates. What stays Keras' own is the rule:

The formulas differ from PyTorch's in small, documented ways:

* SGD:     v = momentum * v - lr * g;  w += v          (nesterov: w += momentum * v - lr * g)
           torch keeps buf = momentum * buf + g and steps w -= lr * buf; the two agree
           while lr is constant and differ when lr changes mid-training.
* Adam:    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
           w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps),   eps = 1e-7
           torch divides by sqrt(v / (1 - b2^t)) + eps with eps = 1e-8, so Keras' epsilon acts
           like eps * sqrt(1 - b2^t) in torch's placement ("epsilon hat").
* RMSprop: v = rho v + (1 - rho) g^2;  w -= lr * g / sqrt(v + eps)     (eps inside the root,
           rho = 0.9, eps = 1e-7; torch: alpha = 0.99, g / (sqrt(v) + eps), eps = 1e-8)
* Adagrad: a += g^2 (a starts at 0.1);  w -= lr * g / sqrt(a + eps)
* AdamW:   Adam plus decoupled weight decay w -= lr * weight_decay * w before the step.

`learning_rate` may be a float or a schedule (callable of the step count, see `schedules`).
"""
import importlib
import math
import types

import numpy as np

from ..optim.optimizer import Optimizer as _TorchOptimizer
from ..tensor import Tensor


# ---------------------------------------------------------------- learning-rate schedules
class LearningRateSchedule:
    """lr = schedule(step), step counting optimiser updates from 0."""

    def __call__(self, step):
        raise NotImplementedError


class ExponentialDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.decay_rate, self.staircase = decay_rate, staircase

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)


class PiecewiseConstantDecay(LearningRateSchedule):
    def __init__(self, boundaries, values):
        if len(values) != len(boundaries) + 1:
            raise ValueError("PiecewiseConstantDecay: need one more value than boundaries")
        self.boundaries, self.values = list(boundaries), list(values)

    def __call__(self, step):
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]


class CosineDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
        self.initial_learning_rate, self.decay_steps, self.alpha = initial_learning_rate, decay_steps, alpha
        self.warmup_target, self.warmup_steps = warmup_target, warmup_steps

    def __call__(self, step):
        lr0 = self.initial_learning_rate
        if self.warmup_target is not None and step < self.warmup_steps:
            return lr0 + (self.warmup_target - lr0) * step / max(1, self.warmup_steps)
        if self.warmup_target is not None:
            lr0, step = self.warmup_target, step - self.warmup_steps
        t = min(step, self.decay_steps) / self.decay_steps
        return lr0 * ((1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * t)) + self.alpha)


schedules = types.SimpleNamespace(LearningRateSchedule=LearningRateSchedule, ExponentialDecay=ExponentialDecay,
                                  PiecewiseConstantDecay=PiecewiseConstantDecay, CosineDecay=CosineDecay)


# ---------------------------------------------------------------- optimisers
class Optimizer(_TorchOptimizer):
    """Base: `apply_gradients([(grad, weight), ...])` or `step(weights)` (grads from weight.grad).

    clipnorm: clip each gradient to this L2 norm; global_clipnorm: clip all of them together;
    clipvalue: clip every element to [-clipvalue, clipvalue].
    """

    def __init__(self, learning_rate=0.001, clipnorm=None, clipvalue=None, global_clipnorm=None, weight_decay=None,
                 name=None, **kwargs):
        if "lr" in kwargs:  # the old Keras spelling
            learning_rate = kwargs.pop("lr")
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        self.defaults, self.state, self.param_groups = {}, {}, []  # weights join on first use (track)
        self._learning_rate = learning_rate
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.weight_decay = weight_decay
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._lr_now = None

    @property
    def learning_rate(self):
        """The current learning rate as a float (a schedule is evaluated at `iterations`)."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else float(lr)

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = value

    lr = learning_rate

    def track(self, weights):
        """Add the weights not yet in the parameter group (in order), so state_dict indices are stable."""
        known = {id(p) for g in self.param_groups for p in g["params"]}
        new = [w for w in weights if id(w) not in known]
        if new and not self.param_groups:
            self.add_param_group({"params": new})
        elif new:
            self.param_groups[0]["params"].extend(new)

    def init_state(self, w):
        return {}

    def _clip(self, grads):
        if self.global_clipnorm:
            norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
            if norm > self.global_clipnorm:
                grads = [g * (self.global_clipnorm / norm) for g in grads]
        if self.clipnorm:
            out = []
            for g in grads:
                n = float(math.sqrt(float((g * g).sum())))
                out.append(g * (self.clipnorm / n) if n > self.clipnorm else g)
            grads = out
        if self.clipvalue:
            grads = [g.clip(-self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def apply_gradients(self, grads_and_vars):
        """Keras' API: one update from (gradient, weight) pairs; gradients may be Tensors or arrays."""
        pairs = [(g, w) for g, w in grads_and_vars if g is not None]
        if not pairs:
            return
        grads = [g.array if isinstance(g, Tensor) else np.asarray(g) for g, _ in pairs]
        grads = self._clip(grads)
        self.track([w for _, w in pairs])
        self._lr_now = self.learning_rate
        self.iterations += 1
        given = {id(w): g for g, (_, w) in zip(grads, pairs)}
        params = [p for group in self.param_groups for p in group["params"]]
        saved = [p.grad for p in params]
        try:  # optim.Optimizer.step reads p.grad: show it exactly these (clipped) gradients
            for p in params:
                g = given.get(id(p))
                p.grad = None if g is None else Tensor._make(g.astype(p.array.dtype, copy=False), p.device)
            _TorchOptimizer.step(self)
        finally:
            for p, g in zip(params, saved):
                p.grad = g

    def _update(self, group, p, g, state):
        if not state:
            state.update(self.init_state(p.array))
        if self.weight_decay:
            p.array -= (self._lr_now * self.weight_decay) * p.array
        self.update(p.array, g, state, self._lr_now)

    def step(self, weights=None, closure=None):
        """One update of `weights` from their .grad (what Model.fit calls); without weights, of every
        weight already tracked, as torch's step()."""
        if weights is None:
            weights = [p for group in self.param_groups for p in group["params"]]
        self.apply_gradients([(w.grad, w) for w in weights])

    def update(self, w, g, state, lr):
        """Change the array `w` in place from gradient `g`."""
        raise NotImplementedError

    def state_dict(self):
        out = super().state_dict()
        out["iterations"] = self.iterations
        return out

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.iterations = int(state_dict.get("iterations", 0))

    def get_config(self):
        """The constructor's arguments (a schedule is saved as its class name and attributes)."""
        cfg = {k: v for k, v in vars(self).items() if not k.startswith("_") and k not in
               ("defaults", "state", "param_groups", "iterations")}
        lr = self._learning_rate
        cfg["learning_rate"] = {"class_name": type(lr).__name__, "config": dict(vars(lr))} \
            if isinstance(lr, LearningRateSchedule) else float(lr)
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = getattr(schedules, lr["class_name"])(**lr["config"])
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} learning_rate={self.learning_rate:g}>"


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if momentum < 0:
            raise ValueError(f"SGD: momentum must be >= 0, got {momentum}")
        self.momentum, self.nesterov = float(momentum), nesterov

    def init_state(self, w):
        return {"v": w * 0} if self.momentum else {}

    def update(self, w, g, state, lr):
        if not self.momentum:
            w -= lr * g
            return
        v = state["v"]
        v *= self.momentum
        v -= lr * g
        if self.nesterov:
            w += self.momentum * v - lr * g
        else:
            w += v


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def init_state(self, w):
        state = {"m": w * 0, "v": w * 0, "t": 0}
        if self.amsgrad:
            state["vhat"] = w * 0
        return state

    def update(self, w, g, state, lr):
        state["t"] += 1
        t = state["t"]
        b1, b2 = self.beta_1, self.beta_2
        m, v = state["m"], state["v"]
        m += (1 - b1) * (g - m)
        v += (1 - b2) * (g * g - v)
        if self.amsgrad:
            vh = state["vhat"]
            xp = np if isinstance(vh, np.ndarray) else importlib.import_module("cupy")
            xp.maximum(vh, v, out=vh)
            v = vh
        lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        w -= lr_t * m / ((v ** 0.5) + self.epsilon)


class AdamW(Adam):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, float(momentum), epsilon, centered

    def init_state(self, w):
        state = {"v": w * 0}
        if self.momentum:
            state["mom"] = w * 0
        if self.centered:
            state["mg"] = w * 0
        return state

    def update(self, w, g, state, lr):
        v = state["v"]
        v *= self.rho
        v += (1 - self.rho) * g * g
        denom = v
        if self.centered:
            mg = state["mg"]
            mg *= self.rho
            mg += (1 - self.rho) * g
            denom = v - mg * mg
        incr = lr * g / ((denom + self.epsilon) ** 0.5)
        if self.momentum:
            mom = state["mom"]
            mom *= self.momentum
            mom += incr
            w -= mom
        else:
            w -= incr


class Adagrad(Optimizer):
    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def init_state(self, w):
        return {"acc": w * 0 + self.initial_accumulator_value}

    def update(self, w, g, state, lr):
        acc = state["acc"]
        acc += g * g
        w -= lr * g / ((acc + self.epsilon) ** 0.5)


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier):
    """'adam' | an Optimizer -> an Optimizer (a new one, with Keras' defaults, for a name)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise ValueError(f"Unknown optimizer {identifier!r}; choose one of {sorted(_BY_NAME)} or pass an Optimizer")
