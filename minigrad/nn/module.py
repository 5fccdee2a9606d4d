"""Module, Parameter and the containers (Sequential, ModuleList, ModuleDict).

A Module owns Parameters (trainable tensors), buffers (state such as BatchNorm's running
mean, saved but not trained) and sub-modules. Assigning one of these as an attribute
registers it, so `named_parameters()` / `state_dict()` find it under a dotted name like
`features.0.weight`, exactly as PyTorch names it.
"""
from collections import OrderedDict, namedtuple

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor, _device
from ..ops.convert import to_args
from .hooks import ModuleHooks, call_with_hooks


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable; requires_grad=True by default.

    Parameter(tensor_or_array) shares the tensor's memory (arrays are wrapped as they are).
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty(0, dtype=np.float32)
        if isinstance(data, Tensor):
            super().__init__(data.array, device=data.device)
        else:
            super().__init__(data)
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _make(cls, data, device):
        # results of ops on a Parameter are plain Tensors, not Parameters
        return Tensor._make(data, device)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce__(self):
        raise TypeError("Parameter: pickling is not supported; use minigrad.save(module.state_dict(), path)")


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _as_array(value):
    """A Tensor, numpy array or torch tensor (anything with .detach().cpu().numpy()) -> numpy/cupy array."""
    if isinstance(value, Tensor):
        return value.array
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor, without importing torch
        return value.detach().cpu().numpy()
    return np.asarray(value)


class Module:
    """Base class of every layer and model. Subclasses set attributes in __init__ and define forward()."""

    training: bool

    def __init__(self):
        d = self.__dict__
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent"] = set()
        d["_modules"] = OrderedDict()
        d["_hooks"] = None  # a ModuleHooks once a hook is registered
        d["training"] = True

    # ------------------------------------------------------------ registration through attributes
    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if params is None:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called")
        if isinstance(value, Parameter):
            self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            d["_modules"][name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                "(a Parameter or None is required)")
            params[name] = None
        elif name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r}")
            d["_modules"][name] = None
        elif name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} (a Tensor or None)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        d = self.__dict__
        d.pop(name, None)
        for key in ("_parameters", "_buffers", "_modules"):
            d[key].pop(name, None)
        d["_non_persistent"].discard(name)

    def __getattr__(self, name):  # only called when normal lookup fails
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            store = d.get(key)
            if store is not None and name in store:
                return store[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if name in d[key]:
                del d[key][name]
                d["_non_persistent"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return list(super().__dir__()) + list(self._parameters) + list(self._buffers) + list(self._modules)

    def register_parameter(self, name, param):
        if "." in name or not name:
            raise KeyError(f"register_parameter: invalid name {name!r}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """A tensor saved in state_dict (unless persistent=False) and moved by .to(), but not trained."""
        if "." in name or not name:
            raise KeyError(f"register_buffer: invalid name {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        if name not in self._buffers and (name in self.__dict__ or name in self._parameters or name in self._modules):
            raise KeyError(f"register_buffer: attribute {name!r} already exists")
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    # ------------------------------------------------------------ forward
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        hooks = self.__dict__.get("_hooks")
        if hooks is None:
            return self.forward(*args, **kwargs)
        return call_with_hooks(self, hooks, args, kwargs)

    # ------------------------------------------------------------ hooks (see nn/hooks.py)
    def _add_hook(self, kind, hook, **options):
        d = self.__dict__
        if d.get("_hooks") is None:
            d["_hooks"] = ModuleHooks()
        return d["_hooks"].add(kind, hook, **options)

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """hook(module, args) -> None or new args; with_kwargs: hook(module, args, kwargs) -> None or (args, kwargs)."""
        return self._add_hook("forward_pre", hook, prepend=prepend, with_kwargs=with_kwargs)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False):
        """hook(module, args, output) -> None or a new output (with_kwargs: hook(module, args, kwargs, output))."""
        return self._add_hook("forward", hook, prepend=prepend, with_kwargs=with_kwargs)

    def register_full_backward_pre_hook(self, hook, *, prepend=False):
        """hook(module, grad_output) -> None or new grad_output, before the module's input gradients are computed."""
        return self._add_hook("backward_pre", hook, prepend=prepend)

    def register_full_backward_hook(self, hook, *, prepend=False):
        """hook(module, grad_input, grad_output) -> None or new grad_input, once the gradients with respect to
        the module's tensor inputs are known (grad_input holds None for inputs that need no gradient)."""
        return self._add_hook("backward", hook, prepend=prepend)

    # ------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix=""):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, prefix + ("." if prefix else "") + name)

    def get_submodule(self, target):
        """The sub-module at the dotted path `target` ("" is self): model.get_submodule("features.0")."""
        module = self
        for i, name in enumerate(target.split(".") if target else []):
            child = module._modules.get(name)
            if child is None:
                path = ".".join(target.split(".")[:i])
                raise AttributeError(f"get_submodule: {type(module).__name__} {path!r} has no sub-module {name!r}")
            module = child
        return module

    def get_parameter(self, target):
        """The parameter at the dotted path `target`: model.get_parameter("features.0.weight")."""
        return self._get_member("_parameters", "parameter", target)

    def get_buffer(self, target):
        """The buffer at the dotted path `target`: model.get_buffer("bn.running_mean")."""
        return self._get_member("_buffers", "buffer", target)

    def _get_member(self, store, kind, target):
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in getattr(module, store):
            raise AttributeError(f"get_{kind}: {type(module).__name__} has no {kind} {name!r} (target {target!r})")
        return getattr(module, store)[name]

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, store, prefix, recurse):
        seen = set()  # identity, not ==: Tensor == is elementwise
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, m in mods:
            for name, t in getattr(m, store).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield mod_prefix + ("." if mod_prefix else "") + name, t

    def named_parameters(self, prefix="", recurse=True):
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call fn on every sub-module (children first), then on self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ modes and gradients
    def train(self, mode=True):
        for m in self.modules():
            m.__dict__["training"] = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter of this module."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = Tensor._make(p.xp.zeros_like(p.grad.array), p.device)

    # ------------------------------------------------------------ device / dtype
    def _apply_to_tensors(self, convert):
        """Replace every parameter's and buffer's array by convert(tensor), keeping the objects."""
        with no_grad():
            for m in self.modules():
                for store in (m._parameters, m._buffers):
                    for t in store.values():
                        if t is None:
                            continue
                        new = convert(t)
                        if new is not t:
                            t.array, t.device = new.array, new.device
                            t._version[0] += 1
                        if t.grad is not None:
                            g = convert(t.grad)
                            t.grad = g if g is not t.grad else t.grad
        return self

    def to(self, *args, dtype=None, device=None):
        """to(device), to(dtype) or both; only floating-point tensors change dtype (like torch)."""
        device, dtype = to_args(args, dtype, device)
        dev = None if device is None else _device(device)
        dt = None if dtype is None else np.dtype(dtype)
        if dt is not None and dt.kind != "f":
            raise TypeError(f"Module.to: only floating-point dtypes are allowed, got {dt}")

        def convert(t):
            out = t
            if dev is not None and dev != t.device:
                out = out.to(dev)
            if dt is not None and out.dtype.kind == "f" and out.dtype != dt:
                out = out.to(dt)
            return out

        return self._apply_to_tensors(convert)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    def half(self):
        return self.to(np.float16)

    # ------------------------------------------------------------ state
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """OrderedDict name -> tensor of every parameter and persistent buffer (sharing memory)."""
        out = OrderedDict() if destination is None else destination
        for mod_prefix, m in self.named_modules(prefix=prefix.rstrip(".")):
            lead = mod_prefix + "." if mod_prefix else ""
            for name, p in m._parameters.items():
                if p is not None:
                    out[lead + name] = p if keep_vars else p.detach()
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    out[lead + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into this module's parameters and buffers, in place.

        Returns (missing_keys, unexpected_keys). With strict=True any of those raises a
        RuntimeError listing them. A value whose shape differs from the target's, or whose
        dtype is of another kind (integer vs floating point), is never loaded: that raises
        RuntimeError naming the key in both modes (like torch for shapes). Floating-point
        values are cast to the target's dtype.
        """
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        arrays = {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            arr = _as_array(state_dict[key])
            if tuple(arr.shape) != tuple(target.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape {tuple(arr.shape)} from "
                              f"checkpoint, the shape in current model is {tuple(target.shape)}")
            elif (arr.dtype.kind == "f") != (target.dtype.kind == "f") or (arr.dtype.kind == "b") != (
                    target.dtype.kind == "b"):
                errors.append(f"dtype mismatch for {key}: checkpoint has {arr.dtype}, the model has {target.dtype}")
            else:
                arrays[key] = arr
        if strict and (missing or unexpected):
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        for key, arr in arrays.items():
            target = own[key]
            target.array[...] = target.xp.asarray(arr).astype(target.dtype, copy=False)
            target._version[0] += 1
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ printing
    def extra_repr(self):
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        """Name(extra_repr) or, with children or a multi-line extra_repr, one line each, indented:

        Sequential(
          (0): Linear(in_features=784, out_features=128, bias=True)
          (1): ReLU()
        )
        """
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        return _block(self._get_name(), extra_lines, self._child_lines())

    def _child_lines(self):
        return [f"({name}): " + _indent(repr(m)) for name, m in self._modules.items()]


def _indent(text):
    """Indent every line of `text` but the first by two spaces (a child's repr inside its parent's)."""
    return text.replace("\n", "\n  ")


def _block(name, extra_lines, child_lines):
    if len(extra_lines) == 1 and not child_lines:
        return f"{name}({extra_lines[0]})"
    lines = extra_lines + child_lines
    return name + ("(\n  " + "\n  ".join(lines) + "\n)" if lines else "()")


class Sequential(Module):
    """Runs its modules in order: Sequential(m1, m2, ...) or Sequential(OrderedDict(name=m, ...))."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], (OrderedDict, dict)):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            keys = list(self._modules)[idx]
            return Sequential(OrderedDict((k, self._modules[k]) for k in keys))
        return mods[idx]

    def __setitem__(self, idx, module):
        key = list(self._modules)[idx]
        self.add_module(key, module)

    def __delitem__(self, idx):
        keys = list(self._modules)
        for k in (keys[idx] if isinstance(idx, slice) else [keys[idx]]):
            del self._modules[k]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(Module):
    """A list of modules whose parameters are registered (named 0, 1, ...)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"ModuleList index {idx} out of range for length {n}")
        return self._modules[str(idx % n)]

    def __setitem__(self, idx, module):
        self.add_module(str(idx % len(self)), module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def _child_lines(self):
        """Runs of equal children are shown once: (0-2): 3 x Linear(...)."""
        names, reprs = list(self._modules), [repr(m) for m in self._modules.values()]
        lines, start = [], 0
        for end in range(1, len(reprs) + 1):
            if end < len(reprs) and reprs[end] == reprs[start]:
                continue
            count = end - start
            head = f"({names[start]}): " if count == 1 else f"({names[start]}-{names[end - 1]}): {count} x "
            lines.append(head + _indent(reprs[start]))
            start = end
        return lines

    def insert(self, index, module):
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)


class ModuleDict(Module):
    """A dict of modules whose parameters are registered under their keys."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for k, m in items:
            self.add_module(k, m)
