"""Optimizer base: parameter groups with their own options, per-parameter state, state_dict.

Subclasses implement `_update(group, p, g, state)` on raw arrays: p.array is changed in
place (other tensors may share that memory), then the base bumps the version counter.
"""
import copy

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor

_required = object()


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}  # id(param) -> dict of arrays / numbers
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("Optimizer: params must be an iterable of tensors or dicts, got a single Tensor")
        groups = list(params)
        if not groups:
            raise ValueError("Optimizer: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group):
        """Add a dict {'params': [...], option: value, ...}; missing options take the defaults."""
        group = dict(param_group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf tensor of shape {p.shape}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter group contains the same parameter twice")
        group["params"] = params
        for k, v in self.defaults.items():
            if v is _required and k not in group:
                raise ValueError(f"{type(self).__name__}: parameter group didn't specify a value of required "
                                 f"option {k!r}")
            group.setdefault(k, v)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.array = p.xp.zeros_like(p.grad.array)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; closure re-evaluates and returns the loss."""
        loss = None
        if closure is not None:
            from ..autograd import enable_grad
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad.array
                    if group.get("maximize", False):
                        g = -g
                    st = self.state.setdefault(id(p), {})
                    self._update(group, p, g, st)
                    p._version[0] += 1
        return loss

    def _update(self, group, p, g, state):
        raise NotImplementedError

    # ------------------------------------------------------------ state
    def state_dict(self):
        """{'state': {index: {...}}, 'param_groups': [{options..., 'params': [indices]}]}; indices count
        parameters across groups in order, as torch does."""
        index, groups = {}, []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {index[pid]: {k: (v.copy() if hasattr(v, "copy") else v) for k, v in s.items()}
                 for pid, s in self.state.items() if pid in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: the state has {len(groups)} parameter groups, the optimizer "
                             f"{len(self.param_groups)}")
        params = {}
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError("load_state_dict: a parameter group's size doesn't match the optimizer's")
            for p, i in zip(mine["params"], theirs["params"]):
                params[i] = p
        self.state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            # arrays as the parameter's device keeps them (a checkpoint gives numpy ones back)
            self.state[id(p)] = {k: (p.xp.array(v) if isinstance(v, (np.ndarray, p.xp.ndarray))
                                     else copy.copy(v)) for k, v in s.items()}
        for mine, theirs in zip(self.param_groups, groups):
            for k, v in theirs.items():
                if k != "params":
                    mine[k] = v

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(k for k in g if k != "params"):
                lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"
