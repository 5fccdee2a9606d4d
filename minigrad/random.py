"""One seeded random generator for everything minigrad draws (init, dropout, rand)."""
import numpy as np

_state = {"rng": np.random.default_rng()}


def manual_seed(seed):
    """Seed minigrad's generator (and numpy's global one, which data shuffling may use)."""
    _state["rng"] = np.random.default_rng(seed)
    np.random.seed(seed % 2**32)
    return _state["rng"]


seed = manual_seed


def rng():
    return _state["rng"]
