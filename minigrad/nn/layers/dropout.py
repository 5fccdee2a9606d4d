"""Dropout and Dropout2d: active in training mode, the identity in eval mode."""
from ...checks import check_float
from .. import functional as F
from ..module import Module


class Dropout(Module):
    """Zero each element with probability p during training, scaling survivors by 1 / (1 - p)."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        check_float(type(self).__name__, "p", p, min=0, max=1)
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training) if self.training else x

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Zero whole channels of (N, C, H, W) inputs during training."""

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training) if self.training else x
