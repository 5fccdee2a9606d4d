"""SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta with torch.optim's update rules.

Notation: p parameter, g gradient (plus weight_decay * p where the algorithm adds it),
t the step count (from 1). All arrays are updated in place.

SGD and Adam/AdamW hand each update to the parameter's device's backend (`adam_update`,
`sgd_update`): the rule is written once, as the contract's reference (backend/contract.py), and
the Numba backend runs it in one pass over p.
"""
import math
import numbers

from .optimizer import Optimizer, _required


def _check(name, arg, value, ok, what=None):
    """ValueError/TypeError naming the optimiser, the argument and its value unless ok(value)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: {arg} must be a number, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and ok(value)):
        raise ValueError(f"{name}: invalid {what or arg} {value!r} (argument {arg})")


def _check_betas(name, betas):
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
    for i, b in enumerate(betas):
        _check(name, f"betas[{i}]", b, lambda v: 0 <= v < 1, "beta")


class SGD(Optimizer):
    """buf = momentum buf + (1 - dampening) g  (buf = g on the first step);
    p -= lr (g + momentum buf if nesterov else buf)."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 maximize=False):
        if lr is not _required:
            _check("SGD", "lr", lr, lambda v: v >= 0, "learning rate")
        _check("SGD", "momentum", momentum, lambda v: v >= 0)
        _check("SGD", "weight_decay", weight_decay, lambda v: v >= 0)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum requires a momentum > 0 and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _update(self, group, p, g, state):
        momentum = group["momentum"]
        buf = state.get("momentum_buffer") if momentum else None
        first = bool(momentum) and buf is None
        if first:  # the kernel fills it with g
            buf = state["momentum_buffer"] = p.xp.empty_like(p.array)
        p.device.backend.sgd_update(p.array, g, buf, group["lr"], momentum, group["dampening"],
                                    group["weight_decay"], group["nesterov"], first)


class Adam(Optimizer):
    """m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v_hat) / sqrt(1 - b2^t) + eps), v_hat = max over steps of v if amsgrad."""

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False):
        name = type(self).__name__
        _check(name, "lr", lr, lambda v: v >= 0, "learning rate")
        _check(name, "eps", eps, lambda v: v >= 0, "epsilon")
        _check_betas(name, betas)
        _check(name, "weight_decay", weight_decay, lambda v: v >= 0)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _update(self, group, p, g, state):
        xp = p.xp
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.array)
            state["exp_avg_sq"] = xp.zeros_like(p.array)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p.array)
        state["step"] += 1
        t = state["step"]
        p.device.backend.adam_update(p.array, g, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
                                     lr, b1, b2, eps, wd, self.decoupled, 1 - b1 ** t, 1 - b2 ** t)


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)


class RMSprop(Optimizer):
    """s = alpha s + (1 - alpha) g^2;  avg = sqrt(s - gbar^2 if centered else s) + eps;
    p -= lr g / avg  (or through a momentum buffer b = momentum b + g / avg)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 maximize=False):
        _check("RMSprop", "lr", lr, lambda v: v >= 0, "learning rate")
        _check("RMSprop", "alpha", alpha, lambda v: v >= 0)
        _check("RMSprop", "momentum", momentum, lambda v: v >= 0)
        _check("RMSprop", "eps", eps, lambda v: v >= 0, "epsilon")
        _check("RMSprop", "weight_decay", weight_decay, lambda v: v >= 0)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def _update(self, group, p, g, state):
        xp = p.xp
        alpha, eps, wd, momentum = group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p.array)
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(p.array)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p.array)
        state["step"] += 1
        if wd:
            g = g + wd * p.array
        s = state["square_avg"]
        s *= alpha
        s += (1 - alpha) * g * g
        if group["centered"]:
            ga = state["grad_avg"]
            ga += (g - ga) * (1 - alpha)
            avg = xp.sqrt(s - ga * ga) + eps
        else:
            avg = xp.sqrt(s) + eps
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += g / avg
            p.array -= group["lr"] * buf
        else:
            p.array -= group["lr"] * (g / avg)


class Adagrad(Optimizer):
    """sum += g^2;  p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps)."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 maximize=False):
        _check("Adagrad", "lr", lr, lambda v: v >= 0, "learning rate")
        _check("Adagrad", "lr_decay", lr_decay, lambda v: v >= 0)
        _check("Adagrad", "weight_decay", weight_decay, lambda v: v >= 0)
        _check("Adagrad", "initial_accumulator_value", initial_accumulator_value, lambda v: v >= 0)
        _check("Adagrad", "eps", eps, lambda v: v >= 0, "epsilon")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))

    def _update(self, group, p, g, state):
        xp = p.xp
        if not state:
            state["step"] = 0
            state["sum"] = xp.full_like(p.array, group["initial_accumulator_value"])
        state["step"] += 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.array
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += g * g
        p.array -= clr * (g / (xp.sqrt(state["sum"]) + group["eps"]))


class Adadelta(Optimizer):
    """s = rho s + (1 - rho) g^2;  d = sqrt(u + eps) / sqrt(s + eps) g;  u = rho u + (1 - rho) d^2;  p -= lr d."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
        _check("Adadelta", "lr", lr, lambda v: v >= 0, "learning rate")
        _check("Adadelta", "rho", rho, lambda v: 0 <= v <= 1)
        _check("Adadelta", "eps", eps, lambda v: v >= 0, "epsilon")
        _check("Adadelta", "weight_decay", weight_decay, lambda v: v >= 0)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _update(self, group, p, g, state):
        xp = p.xp
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p.array)
            state["acc_delta"] = xp.zeros_like(p.array)
        state["step"] += 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.array
        s, u = state["square_avg"], state["acc_delta"]
        s *= rho
        s += (1 - rho) * g * g
        delta = xp.sqrt(u + eps) / xp.sqrt(s + eps) * g
        u *= rho
        u += (1 - rho) * delta * delta
        p.array -= group["lr"] * delta
