"""Hugging Face GPT-2 checkpoints: a directory with config.json and model.safetensors.

    model = GPT.from_pretrained("path/to/gpt2")     # what transformers' save_pretrained wrote
    model.save_pretrained("out/")                   # loads back with GPT2LMHeadModel.from_pretrained

Differences from minigrad's own layout, handled here:
- GPT-2's four projections are `Conv1D` layers whose weight is stored (in, out), the transpose of
  a Linear's (out, in): c_attn, attn.c_proj, c_fc, mlp.c_proj.
- The hub's `gpt2` file has no `transformer.` prefix and no `lm_head.weight` (tied to wte);
  files written by GPT2LMHeadModel have the prefix. Both load; we write the prefixed one.
- Old files hold the attention-mask buffers `attn.bias` / `attn.masked_bias`: ignored.

Tensors are read one at a time with safetensors' safe_open and copied into the parameters, so
loading needs the model's memory plus one tensor, not twice the file.
"""
import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from .gpt import GPT, GPTConfig

__all__ = ["from_pretrained", "save_pretrained", "config_from_hf", "config_to_hf"]

CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
IGNORED = (".attn.bias", ".attn.masked_bias")
GELU_TANH = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")


def _refuse(path, what):
    raise ValueError(f"GPT.from_pretrained: {path} describes a model GPT cannot build: {what}")


def config_from_hf(hf, path="config.json", **overrides):
    """A GPTConfig from the fields of a Hugging Face GPT-2 config.json (a dict)."""
    if not isinstance(hf, dict):
        _refuse(path, f"it holds a JSON {type(hf).__name__}, not an object of config fields")
    try:
        return _config_from_hf(hf, path, **overrides)
    except (TypeError, ValueError) as e:
        if str(path) in str(e):
            raise
        _refuse(path, str(e))


def _config_from_hf(hf, path, **overrides):
    if hf.get("model_type", "gpt2") != "gpt2":
        _refuse(path, f"model_type is {hf.get('model_type')!r}, not 'gpt2'")
    n_embd = hf.get("n_embd", 768)
    checks = [
        (hf.get("n_inner") in (None, 4 * n_embd), f"n_inner={hf.get('n_inner')} (GPT's MLP is 4 * n_embd wide)"),
        (hf.get("activation_function", "gelu_new") in GELU_TANH,
         f"activation_function={hf.get('activation_function')!r} (GPT uses the tanh GELU, 'gelu_new')"),
        (hf.get("scale_attn_weights", True), "scale_attn_weights=false"),
        (not hf.get("scale_attn_by_inverse_layer_idx", False), "scale_attn_by_inverse_layer_idx=true"),
        (not hf.get("add_cross_attention", False), "add_cross_attention=true"),
        (hf.get("tie_word_embeddings", True), "tie_word_embeddings=false (GPT ties lm_head to wte)"),
    ]
    for ok, what in checks:
        if not ok:
            _refuse(path, what)
    fields = dict(vocab_size=hf.get("vocab_size", 50257), block_size=hf.get("n_positions", hf.get("n_ctx", 1024)),
                  n_layer=hf.get("n_layer", 12), n_head=hf.get("n_head", 12), n_embd=n_embd,
                  layer_norm_epsilon=hf.get("layer_norm_epsilon", 1e-5), dropout=0.0, bias=True)
    fields.update(overrides)
    return GPTConfig(**fields)


def config_to_hf(config):
    """The config.json fields transformers' GPT2Config reads, for a GPTConfig GPT-2 can express."""
    if not config.bias:
        raise ValueError("GPT.save_pretrained: GPT-2 has biases in every Linear and LayerNorm; a model with "
                         "bias=False cannot be written as a Hugging Face GPT-2 checkpoint")
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
            "vocab_size": config.vocab_size, "n_positions": config.block_size, "n_ctx": config.block_size,
            "n_embd": config.n_embd, "n_layer": config.n_layer, "n_head": config.n_head, "n_inner": None,
            "resid_pdrop": config.dropout, "embd_pdrop": config.dropout, "attn_pdrop": config.dropout,
            "layer_norm_epsilon": config.layer_norm_epsilon, "initializer_range": 0.02,
            "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
            "reorder_and_upcast_attn": False, "tie_word_embeddings": True,
            "bos_token_id": config.vocab_size - 1, "eos_token_id": config.vocab_size - 1}


def _weight_files(directory):
    """The safetensors files of a checkpoint directory: model.safetensors, or the shards its index names."""
    single = directory / "model.safetensors"
    if single.is_file():
        return [single]
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            files = [directory / n for n in names]
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"GPT.from_pretrained: {index} is not a safetensors index ({type(e).__name__}: {e})") \
                from None
        outside = [f for f in files if f.resolve().parent != directory.resolve()]
        if outside:
            raise ValueError(f"GPT.from_pretrained: {index} names files outside {directory}: {outside[:3]}")
        return files
    found = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
    raise FileNotFoundError(f"GPT.from_pretrained: no model.safetensors (or model.safetensors.index.json) in "
                            f"{directory}; found {found} (only safetensors checkpoints are read, never pickles)")


def _parameter_count(config):
    """How many numbers a GPT of this config holds (the tied lm_head counted once)."""
    V, T, L, E = config.vocab_size, config.block_size, config.n_layer, config.n_embd
    per_block = 12 * E * E + 13 * E  # c_attn 3E^2+3E, c_proj E^2+E, c_fc 4E^2+4E, mlp c_proj 4E^2+E, 2 LayerNorms 4E
    return V * E + T * E + L * per_block + 2 * E


def _stored_count(files):
    """How many numbers the weight files hold, from their headers alone (nothing is read yet)."""
    from safetensors import safe_open
    total = 0
    for file in files:
        with _opened(file, safe_open) as f:
            for key in f.keys():
                total += math.prod(f.get_slice(key).get_shape())
    return total


@contextlib.contextmanager
def _opened(file, safe_open):
    """safe_open(file) whose failures (a truncated or corrupt file) are a ValueError naming the file."""
    try:
        handle = safe_open(str(file), framework="numpy")
    except Exception as e:  # noqa: BLE001 (the reader's own error types: SafetensorError, OSError, ...)
        raise ValueError(f"GPT.from_pretrained: {file} is not a readable safetensors file "
                         f"({type(e).__name__}: {e})") from None
    with handle as f:
        yield f


def _our_name(key):
    """A checkpoint key -> GPT's parameter name, or None for the buffers we skip."""
    if key.endswith(IGNORED):
        return None
    if key == "lm_head.weight":
        return key
    return key if key.startswith("transformer.") else "transformer." + key


def from_pretrained(directory, dtype=None, device=None, **overrides):
    """A GPT with the weights of the Hugging Face GPT-2 checkpoint in `directory`.

    dtype: the parameters' dtype (default: minigrad's default dtype); overrides: GPTConfig fields
    to change (e.g. dropout=0.1, gradient_checkpointing=True).
    """
    from safetensors import safe_open

    from ..grad_mode import no_grad
    from ..tensor import get_default_dtype

    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"GPT.from_pretrained: {config_path} does not exist; pass a local directory "
                                "holding a Hugging Face GPT-2 checkpoint (config.json + model.safetensors) -- "
                                "nothing is downloaded")
    try:
        fields = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"GPT.from_pretrained: {config_path} is not valid JSON ({e})") from None
    config = config_from_hf(fields, config_path, **overrides)
    files = _weight_files(directory)
    needed, held = _parameter_count(config), _stored_count(files)
    if needed > held:  # refuse before allocating a model the files cannot fill
        _refuse(config_path, f"a model of {needed:,} numbers, but the weight files hold {held:,}")
    dtype = np.dtype(dtype if dtype is not None else get_default_dtype())
    model = GPT(config)
    if dtype != model.transformer.wte.weight.dtype:
        model.to(dtype=dtype)
    params = dict(model.named_parameters())  # the tied lm_head.weight is listed once, as transformer.wte.weight
    loaded = set()
    with no_grad():
        for file in files:
            with _opened(file, safe_open) as f:
                for key in f.keys():
                    name = _our_name(key)
                    if name is None or name == "lm_head.weight":
                        continue  # tied to wte, which the file holds too
                    if name not in params:
                        raise ValueError(f"GPT.from_pretrained: {file} holds {key!r}, which GPT has no place for")
                    array = f.get_tensor(key)
                    if name.endswith(CONV1D):
                        array = array.T
                    p = params[name]
                    if tuple(array.shape) != tuple(p.shape):
                        raise ValueError(f"GPT.from_pretrained: {key!r} in {file} has shape {tuple(array.shape)}, "
                                         f"the config needs {tuple(p.shape)}")
                    p.array[...] = array
                    loaded.add(name)
                    del array
    missing = sorted(set(params) - loaded)
    if missing:
        raise ValueError(f"GPT.from_pretrained: {directory} lacks {len(missing)} weights: {missing[:5]}")
    if device is not None:
        model.to(device)
    return model


def save_pretrained(model, directory):
    """Write `directory`/config.json and model.safetensors (transformers' GPT2LMHeadModel layout; the
    tied lm_head is stored once, as transformer.wte.weight). Each file is written atomically."""
    from ..serialization import save

    config = config_to_hf(model.config)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, p in model.named_parameters():
        array = p.array if not hasattr(p.xp, "asnumpy") else p.xp.asnumpy(p.array)
        tensors[name] = array.T if name.endswith(CONV1D) else array  # made contiguous as it is written
    save(tensors, directory / "model.safetensors", metadata={"format": "pt"})
    config["torch_dtype"] = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64",
                             np.dtype(np.float16): "float16"}.get(model.transformer.wte.weight.dtype, "float32")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".config.json.", suffix=".part")
    with os.fdopen(fd, "w") as out:
        json.dump(config, out, indent=2)
    os.replace(tmp, directory / "config.json")
    return directory
