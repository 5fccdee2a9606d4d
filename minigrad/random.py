"""The random numbers of minigrad: one default Generator for everything it draws.

Weight init, dropout, rand/randn/randint, Keras shuffles draw from `default_generator`; the
DataLoader's shuffles, random_split and the random transforms of minigrad.vision draw from
numpy's global generator. `manual_seed(s)` seeds both, so one call makes a whole run repeatable:

    mg.manual_seed(0); a = mg.randn(3)
    mg.manual_seed(0); b = mg.randn(3)     # a and b are equal

A `Generator` (torch's name) wraps a numpy Generator; pass one as `generator=` to rand, randn,
randint, random_split, DataLoader and the nn.init functions for a private stream of numbers.
"""
import json

import numpy as np


class Generator:
    """A seeded stream of random numbers: Generator().manual_seed(42).

    It hands its draws to a numpy Generator (`g.numpy`), so g.random(shape), g.normal(...),
    g.permutation(n), ... work as on numpy's.
    """

    def __init__(self, device="cpu"):
        self.device = device
        self.seed()

    def manual_seed(self, seed):
        """Restart the stream from `seed` (an int); returns the generator, as torch does."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
        self._initial_seed = int(seed) % 2**64
        self.numpy = np.random.default_rng(self._initial_seed)
        return self

    def seed(self):
        """Seed from the operating system's entropy; returns the seed chosen."""
        self.manual_seed(int(np.random.SeedSequence().generate_state(1, np.uint64)[0]))
        return self._initial_seed

    def initial_seed(self):
        """The seed the stream started from."""
        return self._initial_seed

    def get_state(self):
        """The stream's position (a dict): set_state(state) goes back to it."""
        return self.numpy.bit_generator.state

    def set_state(self, state):
        self.numpy.bit_generator.state = state
        return self

    def __getattr__(self, name):  # random, normal, integers, permutation, ...: numpy's
        if name == "numpy":
            raise AttributeError(name)
        return getattr(self.numpy, name)

    def __repr__(self):
        return f"<minigrad.Generator seeded {self._initial_seed}>"


default_generator = Generator()


def manual_seed(seed):
    """Seed every random draw of minigrad (its default Generator and numpy's global one, which the
    DataLoader, random_split and vision transforms use); returns the default Generator."""
    default_generator.manual_seed(seed)
    np.random.seed(int(seed) % 2**32)
    return default_generator


def seed():
    """Seed every random draw of minigrad from the operating system's entropy; returns the seed."""
    s = default_generator.seed()
    np.random.seed(s % 2**32)
    return s


def initial_seed():
    """The seed the default Generator started from."""
    return default_generator.initial_seed()


_RNG_FORMAT = "minigrad-rng/1"


def get_rng_state():
    """Every stream minigrad draws from by default, as a uint8 Tensor (torch's ByteTensor):
    the default Generator (init, dropout, rand*, Keras shuffles) and numpy's global one (the
    DataLoader's shuffles, random_split, vision transforms). mg.save stores it;
    set_rng_state(state) goes back to it. Explicit Generator objects keep their own state
    (g.get_state())."""
    from .tensor import Tensor
    mt = np.random.get_state(legacy=False)
    mt = {**mt, "state": {**mt["state"], "key": mt["state"]["key"].tolist()}}
    text = json.dumps({"format": _RNG_FORMAT, "default": default_generator.get_state(), "numpy_global": mt})
    return Tensor(np.frombuffer(text.encode("ascii"), dtype=np.uint8).copy())


def set_rng_state(state):
    """Restore what get_rng_state returned (a uint8 Tensor or numpy array, as mg.load gives it back)."""
    raw = state
    if isinstance(raw, (bytes, bytearray)):
        raw = np.frombuffer(raw, dtype=np.uint8)
    elif hasattr(raw, "numpy") and not isinstance(raw, np.ndarray):  # a Tensor
        raw = raw.numpy()
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1:
        raise TypeError(f"set_rng_state: expected the uint8 state that get_rng_state returns, got "
                        f"{type(state).__name__}" + (f" of dtype {raw.dtype} and shape {raw.shape}"
                                                     if isinstance(raw, np.ndarray) else ""))
    try:
        parsed = json.loads(raw.tobytes().decode("ascii"))
        assert parsed["format"] == _RNG_FORMAT
        mt = parsed["numpy_global"]
        mt["state"]["key"] = np.asarray(mt["state"]["key"], dtype=np.uint32)
        probe = np.random.RandomState()
        probe.set_state(mt)  # validate both before changing anything
        Generator().set_state(parsed["default"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AssertionError) as e:
        raise ValueError(f"set_rng_state: not a state from get_rng_state ({type(e).__name__}: {e})") from None
    default_generator.set_state(parsed["default"])
    np.random.set_state(mt)


def rng(generator=None):
    """The numpy Generator to draw from: `generator`'s (a minigrad or numpy Generator) or the default one."""
    if generator is None:
        return default_generator.numpy
    if isinstance(generator, Generator):
        return generator.numpy
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be a minigrad.Generator or a numpy.random.Generator, "
                    f"got {type(generator).__name__}")
