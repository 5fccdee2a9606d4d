"""Embedding: a lookup table of learned vectors."""
from ... import autograd
from ...checks import check_int
from .. import functional as F
from .. import init
from ..module import Module
from ._util import new_parameter


class Embedding(Module):
    """indices (*) -> (*, embedding_dim); weight: (num_embeddings, embedding_dim) ~ N(0, 1).

    The row `padding_idx` starts at zero and gets no gradient.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, device=None, dtype=None):
        super().__init__()
        num_embeddings = check_int("Embedding", "num_embeddings", num_embeddings, min=0)
        embedding_dim = check_int("Embedding", "embedding_dim", embedding_dim, min=0)
        if padding_idx is not None:
            check_int("Embedding", "padding_idx", padding_idx)
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for {num_embeddings} rows")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.max_norm = max_norm
        self.weight = new_parameter((num_embeddings, embedding_dim), dtype, device)
        self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with autograd.no_grad():
                self.weight.array[self.padding_idx] = 0

    def forward(self, indices):
        return F.embedding(indices, self.weight, self.padding_idx, self.max_norm)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        s += f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return s + (f", max_norm={self.max_norm}" if self.max_norm is not None else "")
