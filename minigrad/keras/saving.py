"""`model.save("m.keras")` and `keras.models.load_model("m.keras")`: a whole model in one file.

The file is a zip holding
    metadata.json               {"format": "minigrad.keras", "version": 1}
    config.json                 the architecture (layer classes and their get_config()) and the
                                compile settings (optimizer config, loss, metrics)
    model.weights.safetensors   every weight, in `model.weights` order
    optimizer.safetensors       the optimizer's state arrays (when it has taken a step)

These files are minigrad's own: they are NOT interchangeable with TensorFlow/Keras `.keras`
files (whose weights are HDF5), and Keras cannot read them. Nothing is unpickled: the config
is JSON and layers are looked up by class name among minigrad.keras' layers, the classes
registered with `register_keras_serializable`, and `custom_objects`; no module is imported
from a name found in a file.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from .. import serialization
from .. import _files

FORMAT, VERSION = "minigrad.keras", 1
_REGISTERED = {}


def register_keras_serializable(package="Custom", name=None):
    """Decorator: let load_model find this class by name without custom_objects."""
    def register(cls):
        _REGISTERED[name or cls.__name__] = cls
        _REGISTERED[f"{package}>{name or cls.__name__}"] = cls
        return cls
    return register


def get_registered_object(name, custom_objects=None):
    """The class (or function) called `name`: custom_objects, then the registry, then minigrad.keras'."""
    from . import activations, initializers, layers, losses, metrics, models, optimizers, regularizers
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name in _REGISTERED:
        return _REGISTERED[name]
    for module in (layers, models, optimizers, losses, metrics, regularizers, initializers, activations):
        obj = getattr(module, name, None)
        if obj is not None and not isinstance(obj, type(json)):
            return obj
    return None


# ---------------------------------------------------------------- values in configs <-> JSON
def serialize(value):
    """A config value -> JSON data: layers and objects with get_config() become {"class_name", "config"}."""
    from . import activations
    from .layers import Layer
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [serialize(v) for v in value]
    if isinstance(value, dict):
        return {str(k): serialize(v) for k, v in value.items()}
    if isinstance(value, Layer):
        return {"__layer__": serialize_layer(value)}
    for name, fn in activations._BY_NAME.items():
        if value is fn:
            return name
    if hasattr(value, "get_config"):
        return {"class_name": type(value).__name__, "config": serialize(value.get_config())}
    if callable(value) and getattr(value, "__name__", "<lambda>") != "<lambda>":
        return {"function": value.__name__}
    raise TypeError(f"save: cannot store {value!r} ({type(value).__name__}) in a config; give its class "
                    "get_config()/from_config() or pass a name")


def deserialize(data, custom_objects=None):
    if isinstance(data, list):
        return [deserialize(v, custom_objects) for v in data]
    if not isinstance(data, dict):
        return data
    if "__layer__" in data:
        return deserialize_layer(data["__layer__"], custom_objects)
    if set(data) == {"function"}:
        fn = get_registered_object(data["function"], custom_objects)
        if fn is None:
            raise ValueError(f"load_model: unknown function {data['function']!r}; pass it in custom_objects")
        return fn
    if set(data) == {"class_name", "config"}:
        cls = get_registered_object(data["class_name"], custom_objects)
        if cls is None:
            raise ValueError(f"load_model: unknown class {data['class_name']!r}; pass it in custom_objects")
        config = deserialize(data["config"], custom_objects)
        return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    return {k: deserialize(v, custom_objects) for k, v in data.items()}


def serialize_layer(layer):
    return {"class_name": type(layer).__name__, "config": serialize(layer.get_config())}


def deserialize_layer(data, custom_objects=None):
    from .layers import Layer
    name = data["class_name"]
    cls = get_registered_object(name, custom_objects)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"load_model: unknown layer class {name!r}; pass it as custom_objects={{{name!r}: {name}}} "
                         "or decorate it with keras.saving.register_keras_serializable()")
    return cls.from_config(deserialize(data["config"], custom_objects))


# ---------------------------------------------------------------- models
def model_config(model):
    """{"class_name", "config", "build_input_shape"} for a Sequential, functional or subclassed model."""
    from .models import Sequential
    if type(model) is Sequential:
        cfg = {"name": model.name, "layers": [serialize_layer(l) for l in model.layers],
               "input_shape": serialize(model._input_shape_decl)}
        return {"class_name": "Sequential", "config": cfg, "build_input_shape": serialize(model.input_shape)}
    if type(model).__name__ in ("Model", "Functional") and model._functional:
        layers = model.layers
        tensors = list(model._inputs) + list(model._nodes)
        ref = {t.id: i for i, t in enumerate(tensors)}
        index = {id(l): i for i, l in enumerate(layers)}
        cfg = {"name": model.name, "layers": [serialize_layer(l) for l in layers],
               "inputs": [index[id(t.layer)] for t in model._inputs],
               "nodes": [{"layer": index[id(t.layer)], "inputs": [ref[a.id] for a in t.inputs], "spread": t.spread}
                         for t in model._nodes],
               "outputs": [ref[t.id] for t in model._outputs]}
        return {"class_name": "Functional", "config": cfg, "build_input_shape": None}
    return {"class_name": type(model).__name__, "config": serialize(model.get_config()),
            "build_input_shape": serialize(model.input_shape)}


def model_from_config(data, custom_objects=None):
    from .layers import KerasTensor
    from .models import Model, Sequential
    kind, cfg = data["class_name"], data["config"]
    if kind == "Sequential":
        model = Sequential([deserialize_layer(l, custom_objects) for l in cfg["layers"]], name=cfg["name"])
        if cfg.get("input_shape") is not None:
            model._input_shape_decl = tuple(cfg["input_shape"])
    elif kind == "Functional":
        layers = [deserialize_layer(l, custom_objects) for l in cfg["layers"]]
        tensors = [KerasTensor((None,) + tuple(layers[i]._input_shape_arg), layer=layers[i], name=layers[i].name)
                   for i in cfg["inputs"]]
        for node in cfg["nodes"]:
            args = [tensors[i] for i in node["inputs"]]
            layer = layers[node["layer"]]
            tensors.append(layer(*args) if node.get("spread") else layer(args[0] if len(args) == 1 else args))
        outputs = [tensors[i] for i in cfg["outputs"]]
        model = Model(tensors[:len(cfg["inputs"])], outputs[0] if len(outputs) == 1 else outputs, name=cfg["name"])
    else:
        cls = get_registered_object(kind, custom_objects)
        if not (isinstance(cls, type) and issubclass(cls, Model)):
            raise ValueError(f"load_model: unknown model class {kind!r}; pass it in custom_objects")
        model = cls.from_config(deserialize(cfg, custom_objects))
    shape = data.get("build_input_shape")
    if shape is not None and not model.weights:
        model.build(tuple(shape))
    return model


def _compile_config(model):
    if model.optimizer is None:
        return None
    metrics = [m if isinstance(m, str) else serialize(m) for m in model._metric_specs]
    return {"optimizer": serialize(model.optimizer), "loss": serialize(model.loss), "metrics": metrics}


def _optimizer_state(model):
    """(arrays for a safetensors file, JSON data) holding the optimizer's state, or ({}, None)."""
    opt = model.optimizer
    if opt is None or not opt.param_groups:
        return {}, None
    index = {id(w): i for i, w in enumerate(model.weights)}
    params = [index[id(p)] for g in opt.param_groups for p in g["params"]]  # weight index of each param
    sd = opt.state_dict()
    arrays, scalars = {}, {}
    for i, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, np.ndarray):
                arrays[f"{i}/{k}"] = v
            else:
                scalars.setdefault(str(i), {})[k] = serialize(v)
    return arrays, {"params": params, "scalars": scalars, "iterations": sd["iterations"]}


def _restore_optimizer_state(model, meta, arrays):
    opt, mine = model.optimizer, model.weights
    opt.track([mine[i] for i in meta["params"]])
    state = {}
    for key, t in arrays.items():
        i, k = key.split("/", 1)
        state.setdefault(int(i), {})[k] = t.numpy().copy()
    for i, st in meta["scalars"].items():
        state.setdefault(int(i), {}).update(st)
    groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": list(range(len(g["params"])))}
              for g in opt.param_groups]
    opt.load_state_dict({"state": state, "param_groups": groups, "iterations": meta["iterations"]})


def save_model(model, filepath, overwrite=True, extra=None, with_config=True):
    """Write `model` (architecture, compile settings, weights, optimizer state) to a .keras zip, atomically.
    extra: {file name: JSON data} stored beside (BackupAndRestore keeps its training state there)."""
    path = os.fspath(filepath)
    if not path.endswith(".keras"):
        raise ValueError(f"save_model: the file name must end in .keras, got {path!r} (weights alone: save_weights)")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save_model: {path} exists and overwrite=False")
    model._ensure_built()
    config = {"model": model_config(model), "compile": _compile_config(model)} if with_config else {}
    weights = {f"{i:04d}/{layer.name}/{name}": w.detach() for i, (layer, name, w) in
               enumerate(model._named_weights())}
    opt_arrays, opt_meta = _optimizer_state(model)
    config["optimizer_state"] = opt_meta
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        serialization.save(weights, os.path.join(tmp, "w"), metadata={"format": FORMAT})
        if opt_arrays:
            serialization.save(opt_arrays, os.path.join(tmp, "o"))
        fd, part = _files.mkstemp(dir=folder, prefix=".tmp-", suffix=".keras")
        os.close(fd)
        try:
            with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("metadata.json", json.dumps({"format": FORMAT, "version": VERSION}))
                z.writestr("config.json", json.dumps(config, indent=1))
                z.write(os.path.join(tmp, "w"), "model.weights.safetensors")
                if opt_arrays:
                    z.write(os.path.join(tmp, "o"), "optimizer.safetensors")
                for name, data in (extra or {}).items():
                    z.writestr(name, json.dumps(data))
            os.replace(part, path)
        except BaseException:
            if os.path.exists(part):
                os.remove(part)
            raise


def read_archive(filepath):
    """(config, {weight key: Tensor}, {optimizer key: Tensor}, {other .json entry: data}) of a .keras zip."""
    path = os.fspath(filepath)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"load_model: {path!r} is not a .keras zip written by minigrad's model.save")
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        if "model.weights.h5" in names:
            raise ValueError(f"load_model: {path!r} is a TensorFlow/Keras file (HDF5 weights); minigrad reads only the "
                             ".keras files it writes itself")
        if not {"metadata.json", "config.json", "model.weights.safetensors"} <= names:
            raise ValueError(f"load_model: {path!r} lacks metadata.json/config.json/model.weights.safetensors")
        meta = json.loads(z.read("metadata.json"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"load_model: {path!r} has format {meta.get('format')!r}, expected {FORMAT!r}")
        config = json.loads(z.read("config.json"))
        extra = {n: json.loads(z.read(n)) for n in names
                 if n.endswith(".json") and n not in ("metadata.json", "config.json")}
        with tempfile.TemporaryDirectory() as tmp:
            z.extract("model.weights.safetensors", tmp)
            weights = serialization.load(os.path.join(tmp, "model.weights.safetensors"))
            opt_arrays = {}
            if "optimizer.safetensors" in names:
                z.extract("optimizer.safetensors", tmp)
                opt_arrays = serialization.load(os.path.join(tmp, "optimizer.safetensors"))
    return config, weights, opt_arrays, extra


def restore(model, config, weights, opt_arrays):
    """Copy the stored weights (and the optimizer state, when the model is compiled) into `model`."""
    if len(model.weights) != len(weights):
        raise ValueError(f"load_model: the file holds {len(weights)} weights, the model has {len(model.weights)}")
    model.set_weights([weights[k].numpy() for k in sorted(weights)])
    if model.optimizer is not None and config.get("optimizer_state"):
        _restore_optimizer_state(model, config["optimizer_state"], opt_arrays)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Rebuild a model written by model.save("m.keras"): architecture, weights and (compile=True) its
    compile settings and optimizer state. Custom layers: custom_objects={"Name": cls}."""
    config, weights, opt_arrays, _ = read_archive(filepath)
    model = model_from_config(config["model"], custom_objects)
    if compile and config.get("compile"):
        c = config["compile"]
        model.compile(optimizer=deserialize(c["optimizer"], custom_objects),
                      loss=deserialize(c["loss"], custom_objects),
                      metrics=[deserialize(m, custom_objects) for m in c["metrics"]])
    restore(model, config, weights, opt_arrays)
    return model


__all__ = ["save_model", "load_model", "register_keras_serializable", "get_registered_object", "serialize",
           "deserialize"]
