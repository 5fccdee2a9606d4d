"""The structure of a nested checkpoint, as mg.save writes it into one safetensors file.

mg.save({'model': m.state_dict(), 'optim': opt.state_dict(), 'epoch': 3}, path) stores every tensor
and numpy array as a safetensors tensor (named by its key path, e.g. 'model.0.weight') and the rest
as JSON in the header's __metadata__ under STRUCTURE_KEY. A node of that JSON is:

    null, true/false, an int, a finite float, a string      the value itself
    {"float": "nan" | "inf" | "-inf"}                        a non-finite float
    {"dict": [[key, node], ...]}                             keys: str or int, in order
    {"list": [node, ...]}   {"tuple": [node, ...]}
    {"tensor": name, "requires_grad": bool}                  a minigrad Tensor
    {"ndarray": name}   {"npscalar": name}                   a numpy array / numpy scalar

Anything else is refused when saving, naming its key path and type. The same Tensor saved twice
(tied weights) is stored once and comes back as one object. Nothing is ever unpickled.
"""
import json
import math

import numpy as np

STRUCTURE_KEY = "minigrad.structure"
FORMAT_KEY = "minigrad.format"
FORMAT = "1"
MAX_DEPTH = 64


def _path_text(path):
    return ".".join(str(p) for p in path) or "<root>"


def flatten(obj, to_array):
    """obj -> (JSON text of its structure, {name: numpy array}); to_array(value, key) -> array."""
    from .tensor import Tensor
    arrays, names, stack = {}, {}, set()

    def store(value, path):
        key = id(value)
        if key in names:  # the same object again: store it once
            return names[key][0]
        base = _path_text(path)
        name, n = base, 1
        while name in arrays or name == "__metadata__":
            n += 1
            name = f"{base}#{n}"
        arrays[name] = to_array(value, base)
        names[key] = (name, value)  # keep value alive so its id stays unique
        return name

    def node(value, path):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            if math.isfinite(value):
                return float(value)
            return {"float": "nan" if value != value else ("inf" if value > 0 else "-inf")}
        if isinstance(value, Tensor):
            return {"tensor": store(value, path), "requires_grad": bool(value.requires_grad)}
        if isinstance(value, np.ndarray) or type(value).__module__.startswith("cupy"):
            return {"ndarray": store(value, path)}
        if isinstance(value, np.generic):
            return {"npscalar": store(value, path)}
        if isinstance(value, (dict, list, tuple)):
            if len(path) >= MAX_DEPTH or id(value) in stack:
                raise ValueError(f"save: the object at key path {_path_text(path)!r} is nested more than "
                                 f"{MAX_DEPTH} levels deep or contains itself")
            stack.add(id(value))
            try:
                if isinstance(value, dict):
                    items = []
                    for k, v in value.items():
                        if isinstance(k, bool) or not isinstance(k, (str, int)):
                            raise TypeError(f"save: dict keys must be str or int; the dict at key path "
                                            f"{_path_text(path)!r} has a key {k!r} of type {type(k).__name__}")
                        items.append([k if isinstance(k, str) else int(k), node(v, path + (k,))])
                    return {"dict": items}
                kind = "tuple" if isinstance(value, tuple) else "list"
                return {kind: [node(v, path + (i,)) for i, v in enumerate(value)]}
            finally:
                stack.discard(id(value))
        hint = "; save its state_dict() instead" if hasattr(value, "state_dict") else ""
        raise TypeError(f"save: cannot store a {type(value).__module__}.{type(value).__qualname__} at key path "
                        f"{_path_text(path)!r}: checkpoints hold tensors, numpy arrays, int, float, str, bool, "
                        f"None and dicts/lists/tuples of them{hint}")

    tree = node(obj, ())
    return json.dumps(tree, separators=(",", ":"), allow_nan=False), arrays


def _refuse_constant(name):  # NaN / Infinity: not JSON, and never written by flatten
    raise ValueError(f"unexpected constant {name}")


def unflatten(text, arrays, path, device=None):
    """The object a structure text describes, with tensors from `arrays` ({name: numpy array})."""
    from .tensor import Tensor

    def bad(why):
        return ValueError(f"load: {path!r} is corrupted or tampered with: its checkpoint structure {why}")

    try:
        tree = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as e:
        raise bad(f"is not valid JSON ({type(e).__name__}: {str(e)[:100]})") from None
    made = {}

    def array(name):
        if not isinstance(name, str) or name not in arrays:
            raise bad(f"names a tensor {name!r} that the file does not hold")
        return arrays[name]

    def build(n, depth):
        if depth > MAX_DEPTH:
            raise bad(f"is nested more than {MAX_DEPTH} levels deep")
        if n is None or isinstance(n, (bool, str, int, float)):
            return n
        if isinstance(n, list) or not isinstance(n, dict) or len(n) not in (1, 2):
            raise bad(f"has an unknown node {str(n)[:80]}")
        kind = next(iter(n))
        value = n[kind]
        if kind == "float" and value in ("nan", "inf", "-inf") and len(n) == 1:
            return float(value)
        if kind in ("tensor", "ndarray", "npscalar"):
            key = (kind, value)
            if key not in made:
                arr = array(value)
                if kind == "tensor":
                    made[key] = Tensor(arr, device=device, requires_grad=bool(n.get("requires_grad", False))
                                       and arr.dtype.kind in "fc")
                elif kind == "ndarray":
                    made[key] = arr
                elif arr.size == 1:
                    made[key] = arr.reshape(-1)[0]  # a numpy scalar of the stored dtype
                else:
                    raise bad(f"calls tensor {value!r} of shape {arr.shape} a numpy scalar")
            return made[key]
        if len(n) != 1 or not isinstance(value, list):
            raise bad(f"has an unknown node {str(n)[:80]}")
        if kind == "list":
            return [build(v, depth + 1) for v in value]
        if kind == "tuple":
            return tuple(build(v, depth + 1) for v in value)
        if kind == "dict":
            out = {}
            for item in value:
                if (not isinstance(item, list) or len(item) != 2 or isinstance(item[0], bool)
                        or not isinstance(item[0], (str, int))):
                    raise bad(f"has a malformed dict item {str(item)[:80]}")
                out[item[0]] = build(item[1], depth + 1)
            return out
        raise bad(f"has an unknown node kind {kind!r}")

    return build(tree, 0)
