"""Weight penalties added to the training loss: `Dense(64, kernel_regularizer=regularizers.l2(1e-4))`.

Keras' definitions (no 1/2 factor): L1 = l1 * sum(|w|), L2 = l2 * sum(w ** 2).
"""
from .. import ops


class Regularizer:
    """Base: `penalty = regularizer(weight)`, a scalar Tensor that keeps the graph."""

    def __call__(self, w):
        raise NotImplementedError

    def get_config(self):
        return {}


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, w):
        penalty = None
        if self.l1:
            penalty = ops.abs(w).sum() * self.l1
        if self.l2:
            p2 = (w * w).sum() * self.l2
            penalty = p2 if penalty is None else penalty + p2
        return penalty if penalty is not None else (w * 0.0).sum()

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}

    @classmethod
    def from_config(cls, config):
        reg = L1L2.__new__(cls)  # L1 / L2 keep their class, with both factors
        L1L2.__init__(reg, **config)
        return reg

    def __repr__(self):
        return f"{type(self).__name__}(l1={self.l1}, l2={self.l2})"


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)


def l1(l1=0.01):  # noqa: E741 -- Keras' spelling
    return L1(l1)


def l2(l2=0.01):
    return L2(l2)


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1, l2)


def get(identifier):
    if identifier is None or isinstance(identifier, Regularizer) or callable(identifier):
        return identifier
    if isinstance(identifier, str):
        return {"l1": L1, "l2": L2, "l1_l2": L1L2}[identifier.lower()]()
    raise ValueError(f"Unknown regularizer {identifier!r}")
