"""Dropout and Dropout2d: active in training mode, the identity in eval mode."""
from .. import functional as F
from ..module import Module


class Dropout(Module):
    """Zero each element with probability p during training, scaling survivors by 1 / (1 - p)."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training) if self.training else x

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Zero whole channels of (N, C, H, W) inputs during training."""

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training) if self.training else x
