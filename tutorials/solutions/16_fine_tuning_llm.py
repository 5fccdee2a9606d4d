"""Chapter 16 exercises: LoRA's parameter count and arithmetic, partial freezing."""
import numpy as np


def lora_param_count(shapes, r):
    """LoRA parameters for Linear layers of the given (out_features, in_features) shapes:
    A is (r, in), B is (out, r)."""
    return sum(r * (out_features + in_features) for out_features, in_features in shapes)


def lora_forward(x, W, b, A, B, alpha, r):
    """x: (N, in) -> x W^T + b + x A^T B^T * alpha / r: (N, out)."""
    y = x @ W.T + (0 if b is None else b)
    return y + (x @ A.T) @ B.T * (alpha / r)


def merged_weight(W, A, B, alpha, r):
    """The plain Linear weight equivalent to the adapted layer: W + B A * alpha / r."""
    return W + B @ A * (alpha / r)


def freeze_all_but(model, prefixes):
    """requires_grad only on the parameters named with one of prefixes; the count of trainable numbers."""
    prefixes = tuple(prefixes)
    trainable = 0
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(prefixes))
        trainable += p.numel() if p.requires_grad else 0
    return trainable
