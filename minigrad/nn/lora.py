"""Model-level LoRA: adapt the matching Linear layers of a model, and save or load just the adapters.

    model = nn.utils.apply_lora(model, r=8, lora_alpha=16, target_modules=("c_attn",))
    ...train...
    nn.utils.save_lora(model, "adapter/")          # adapter_model.safetensors + adapter_config.json
    nn.utils.load_lora(fresh_model, "adapter/")    # applies the same adapters, loads their weights
    nn.utils.merge_lora(model); nn.utils.unmerge_lora(model)   # fold the update into W and back
"""
import json
import os

from .. import serialization
from .layers.linear import Linear
from .layers.lora import LoRALinear, check_lora_args

CONFIG_NAME, WEIGHTS_NAME = "adapter_config.json", "adapter_model.safetensors"


def _matches(name, target):
    """A target names a module by its last name(s): "c_attn" matches "transformer.h.0.attn.c_attn"."""
    return name == target or name.endswith("." + target)


def apply_lora(model, r, lora_alpha=1, target_modules=("c_attn",), lora_dropout=0.0):
    """Swap every Linear whose name matches a target for a LoRALinear, freeze all else; returns model.

    A target that matches no module, or matches a module that is not a Linear, raises ValueError.
    Only the lora_A / lora_B parameters keep requires_grad=True.
    """
    check_lora_args("apply_lora", r, lora_alpha, lora_dropout)  # before anything is frozen or swapped
    if isinstance(target_modules, str):
        target_modules = (target_modules,)
    target_modules = tuple(target_modules)
    if not all(isinstance(t, str) and t for t in target_modules):
        raise TypeError(f"apply_lora: target_modules must be module names (str), got {list(target_modules)!r}")
    if not target_modules:
        raise ValueError("apply_lora: target_modules is empty")
    found = {t: [] for t in target_modules}
    for name, module in model.named_modules():
        for target in target_modules:
            if name and _matches(name, target):
                if isinstance(module, LoRALinear):
                    raise ValueError(f"apply_lora: {name!r} already has a LoRA adapter")
                if not isinstance(module, Linear):
                    raise ValueError(f"apply_lora: {name!r} matches target {target!r} but is a "
                                     f"{type(module).__name__}; LoRA adapts nn.Linear layers only")
                found[target].append(name)
    unmatched = [t for t, names in found.items() if not names]
    if unmatched:
        raise ValueError(f"apply_lora: target_modules {unmatched} match no module of {type(model).__name__}")
    previous = getattr(model, "_lora_config", None)
    if previous is not None and (previous["r"], previous["lora_alpha"], previous["lora_dropout"]) != \
            (r, lora_alpha, lora_dropout):
        raise ValueError(f"apply_lora: the model already has adapters with r={previous['r']}, lora_alpha="
                         f"{previous['lora_alpha']}, lora_dropout={previous['lora_dropout']}; more adapters must "
                         f"use the same settings (got r={r}, lora_alpha={lora_alpha}, lora_dropout={lora_dropout})")
    for name, p in model.named_parameters():
        if name.rpartition(".")[2] not in ("lora_A", "lora_B"):  # adapters from an earlier call keep training
            p.requires_grad_(False)
    for name in sorted({n for names in found.values() for n in names}):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(getattr(parent, child), r, lora_alpha, lora_dropout))
    targets = (previous["target_modules"] if previous else []) + list(target_modules)
    model._lora_config = {"r": r, "lora_alpha": lora_alpha, "lora_dropout": lora_dropout,
                          "target_modules": list(dict.fromkeys(targets))}
    return model


def lora_state_dict(model):
    """Only the adapters: {name: tensor} for every lora_A / lora_B in the model."""
    return {k: v for k, v in model.state_dict().items() if k.rpartition(".")[2] in ("lora_A", "lora_B")}


def merge_lora(model):
    """Fold every adapter into its base weight (inference at the base model's speed)."""
    for m in model.modules():
        if isinstance(m, LoRALinear) and not m.merged:
            m.merge()
    return model


def unmerge_lora(model):
    """Take every merged adapter back out of its base weight (to train or save it again)."""
    for m in model.modules():
        if isinstance(m, LoRALinear) and m.merged:
            m.unmerge()
    return model


def save_lora(model, directory):
    """Write the adapters (safetensors) and their settings (JSON) into `directory`."""
    config = getattr(model, "_lora_config", None)
    if config is None:
        raise ValueError("save_lora: the model has no LoRA adapters (call apply_lora first)")
    if any(isinstance(m, LoRALinear) and m.merged for m in model.modules()):
        raise ValueError("save_lora: unmerge the adapters before saving them")
    os.makedirs(directory, exist_ok=True)
    serialization.save(lora_state_dict(model), os.path.join(directory, WEIGHTS_NAME))
    tmp = os.path.join(directory, CONFIG_NAME + ".tmp")
    with open(tmp, "w") as f:
        json.dump(config, f, indent=2)
    os.replace(tmp, os.path.join(directory, CONFIG_NAME))


def load_lora(model, directory):
    """apply_lora with the saved settings, then load the saved adapter weights; returns model."""
    path = os.path.join(directory, CONFIG_NAME)
    with open(path) as f:
        try:
            config = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"load_lora: {path} is not valid JSON ({e})") from None
    if not isinstance(config, dict) or not {"r", "lora_alpha", "target_modules"} <= set(config):
        raise ValueError(f"load_lora: {path} is not a LoRA adapter config")
    apply_lora(model, config["r"], config["lora_alpha"], config["target_modules"], config.get("lora_dropout", 0.0))
    weights = serialization.load(os.path.join(directory, WEIGHTS_NAME))
    expected = set(lora_state_dict(model))
    if set(weights) != expected:
        raise ValueError(f"load_lora: the adapter file holds {sorted(set(weights) ^ expected)[:4]}... which do "
                         f"not match the model's adapters")
    model.load_state_dict(weights, strict=False)
    return model
