"""Image transforms, shaped like torchvision.transforms, written with numpy only.

Inputs are numpy arrays or minigrad Tensors; the output has the input's kind (Tensor in,
Tensor out), except ToTensor, which always returns a float Tensor (C, H, W).
Layouts: ToTensor reads a 2-D array as (H, W) and a 3-D array as (H, W, C), as
torchvision reads an ndarray; every other transform reads (H, W) or (C, H, W) (any
leading dimensions, as tensors in torchvision).

Batches: every transform here also has `apply_batch(x, rng=None)`, taking the per-sample
inputs stacked on a new leading axis, shape (N, ...), as a numpy array, and returning the
stacked outputs as a numpy array; random transforms draw independent parameters for
each of the N samples. Compose has it when all its parts do (`batchable`). Datasets
use it so a DataLoader can transform a whole batch at once.

Randomness: random transforms draw from `rng` when given (a numpy Generator, as the
DataLoader's fast path passes), else from numpy's global state (seeded by
`np.random.seed` / `minigrad.manual_seed`).
"""
import numbers

import numpy as np

__all__ = ["Compose", "Lambda", "ToTensor", "Normalize", "RandomCrop", "RandomHorizontalFlip",
           "RandomVerticalFlip", "RandomRotation", "RandomAffine"]


# ---------------------------------------------------------------------------- helpers

def _unwrap(x):
    """-> (numpy array, whether x was a Tensor)."""
    if isinstance(x, np.ndarray):
        return x, False
    if hasattr(x, "numpy"):
        return np.asarray(x.numpy()), True
    return np.asarray(x), False


def _wrap(arr, as_tensor):
    if not as_tensor:
        return arr
    from ..utils.data import _to_tensor
    return _to_tensor(arr)


def _random(rng, size):
    """Uniform [0, 1) draws from a Generator, or from numpy's global state when rng is None."""
    return (np.random if rng is None else rng).random(size)


def _uniform(rng, low, high, size):
    return low + (high - low) * _random(rng, size)


def _randint(rng, high, size):
    """Integers in [0, high] inclusive, shape (size,)."""
    return np.minimum((_random(rng, size) * (np.asarray(high) + 1)).astype(np.int64), high)


def _pair(x, name):
    if isinstance(x, numbers.Number):
        return (x, x)
    if len(x) != 2:
        raise ValueError(f"{name} must be a number or a pair, got {x!r}")
    return tuple(x)


def _as_nchw(x):
    """(N, ..., H, W) -> (N, M, H, W), M the product of the middle dims (1 when there are none)."""
    if x.ndim < 3:
        raise ValueError(f"expected a batch (N, ..., H, W) with at least 3 dims, got shape {x.shape}")
    return x.reshape(x.shape[0], -1, *x.shape[-2:])


class _Transform:
    """Base: __call__ runs apply_batch on a batch of one."""

    batchable = True

    def __call__(self, x):
        arr, was_tensor = _unwrap(x)
        return _wrap(self.apply_batch(arr[None])[0], was_tensor)

    def apply_batch(self, x, rng=None):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


# ---------------------------------------------------------------------------- composition

class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    @property
    def batchable(self):
        return all(getattr(t, "batchable", False) for t in self.transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def apply_batch(self, x, rng=None):
        """x: (N, ...) stacked inputs -> stacked outputs (numpy); needs every part to be batchable."""
        if not self.batchable:
            bad = [type(t).__name__ for t in self.transforms if not getattr(t, "batchable", False)]
            raise TypeError(f"Compose.apply_batch: {bad} have no apply_batch; transform per sample instead")
        x = _unwrap(x)[0]
        for t in self.transforms:
            x = t.apply_batch(x, rng)
        return x

    def __repr__(self):
        return "Compose(\n" + "".join(f"    {t!r}\n" for t in self.transforms) + ")"


class Lambda:
    """Apply a user function (per sample only: not batchable)."""

    batchable = False

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Lambda: argument lambd should be callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, x):
        return self.lambd(x)

    def __repr__(self):
        return "Lambda()"


# ---------------------------------------------------------------------------- conversion

class ToTensor(_Transform):
    """(H, W) or (H, W, C) array -> float Tensor (C, H, W); uint8 values are scaled to [0, 1]
    as float32, other dtypes are kept as they are (torchvision's rule)."""

    def __call__(self, pic):
        arr = _unwrap(pic)[0]
        return _wrap(self.apply_batch(arr[None])[0], True)

    def apply_batch(self, x, rng=None):
        """(N, H, W) -> (N, 1, H, W); (N, H, W, C) -> (N, C, H, W)."""
        x = _unwrap(x)[0]
        if x.ndim == 3:
            x = x[:, None]
        elif x.ndim == 4:
            x = x.transpose(0, 3, 1, 2)
        else:
            raise ValueError(f"ToTensor: expected images (H, W) or (H, W, C), got sample shape {x.shape[1:]}")
        if x.dtype == np.uint8:
            return x.astype(np.float32) * np.float32(1 / 255)
        return np.ascontiguousarray(x)


class Normalize(_Transform):
    """(x - mean[c]) / std[c] per channel c of a float (C, H, W) input ((H, W) with one mean/std)."""

    def __init__(self, mean, std, inplace=False):
        self.mean = tuple(np.atleast_1d(np.asarray(mean, dtype=np.float64)).tolist())
        self.std = tuple(np.atleast_1d(np.asarray(std, dtype=np.float64)).tolist())
        if len(self.mean) != len(self.std):
            raise ValueError(f"Normalize: mean has {len(self.mean)} values but std has {len(self.std)}")
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std must be non-zero, got {self.std}")
        self.inplace = inplace

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"

    def __call__(self, x):
        arr, was_tensor = _unwrap(x)
        return _wrap(self._normalize(arr, arr.ndim == 2), was_tensor)

    def apply_batch(self, x, rng=None):
        """x: (N, C, H, W) or (N, H, W) -> same shape."""
        x = _unwrap(x)[0]
        return self._normalize(x, x.ndim == 3)

    def _normalize(self, x, no_channels):
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"Normalize: input must be a float array/Tensor (use ToTensor first), got {x.dtype}")
        c = len(self.mean)
        if no_channels:
            if c != 1:
                raise ValueError(f"Normalize: input without a channel axis needs one mean/std, got {c}")
            shape = ()
        else:
            if x.ndim < 3 or (x.shape[-3] != c and c != 1):
                raise ValueError(f"Normalize: {c} means/stds for input shape {x.shape} (channels at dim -3)")
            shape = (-1, 1, 1)
        mean = np.asarray(self.mean, dtype=x.dtype).reshape(shape)
        std = np.asarray(self.std, dtype=x.dtype).reshape(shape)
        if self.inplace and x.flags.writeable:
            x -= mean
            x /= std
            return x
        return (x - mean) / std


# ---------------------------------------------------------------------------- random crops and flips

class RandomCrop(_Transform):
    """Crop a random (h, w) window, after padding the borders by `padding`.

    padding: int (all sides), (left/right, top/bottom) or (left, top, right, bottom);
    padding_mode: 'constant' (with `fill`), 'edge', 'reflect' or 'symmetric'.
    """

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = _pair(size, "RandomCrop size")
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    def _pad(self, x):
        """x: (N, M, H, W) -> padded."""
        p = self.padding
        if p is None:
            left = top = right = bottom = 0
        elif isinstance(p, numbers.Number):
            left = top = right = bottom = int(p)
        elif len(p) == 2:
            left = right = int(p[0])
            top = bottom = int(p[1])
        else:
            left, top, right, bottom = (int(v) for v in p)
        h, w = self.size
        if self.pad_if_needed:
            extra_h = max(0, h - (x.shape[2] + top + bottom))
            extra_w = max(0, w - (x.shape[3] + left + right))
            top, bottom, left, right = top + extra_h, bottom + extra_h, left + extra_w, right + extra_w
        if top == bottom == left == right == 0:
            return x
        widths = ((0, 0), (0, 0), (top, bottom), (left, right))
        if self.padding_mode == "constant":
            return np.pad(x, widths, mode="constant", constant_values=self.fill)
        return np.pad(x, widths, mode=self.padding_mode)

    def apply_batch(self, x, rng=None):
        """x: (N, ..., H, W) -> (N, ..., h, w), a window at an independent random offset per sample."""
        x = _unwrap(x)[0]
        lead = x.shape[:-2]
        xp = self._pad(_as_nchw(x))
        n, m, ph, pw = xp.shape
        h, w = self.size
        if h > ph or w > pw:
            raise ValueError(f"RandomCrop: crop size {(h, w)} is larger than the (padded) image {(ph, pw)}")
        tops, lefts = _randint(rng, ph - h, n), _randint(rng, pw - w, n)
        rows = tops[:, None] + np.arange(h)  # (N, h)
        cols = lefts[:, None] + np.arange(w)  # (N, w)
        ni = np.arange(n)[:, None, None, None]
        mi = np.arange(m)[None, :, None, None]
        out = xp[ni, mi, rows[:, None, :, None], cols[:, None, None, :]]
        return out.reshape(*lead, h, w)


class RandomHorizontalFlip(_Transform):
    """Mirror left-right with probability p."""

    def __init__(self, p=0.5):
        self.p = p

    def apply_batch(self, x, rng=None):
        x = _unwrap(x)[0]
        flip = _random(rng, x.shape[0]) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out


class RandomVerticalFlip(_Transform):
    """Mirror top-bottom with probability p."""

    def __init__(self, p=0.5):
        self.p = p

    def apply_batch(self, x, rng=None):
        x = _unwrap(x)[0]
        flip = _random(rng, x.shape[0]) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1, :]
        return out


# ---------------------------------------------------------------------------- rotations and affine maps

def affine_warp(x, matrices, translate=None, interpolation="nearest", fill=0.0):
    """Warp every image of a batch by its own 2x2 linear map about the image centre, then shift.

    x: (N, M, H, W); matrices: (N, 2, 2) forward maps A in (x right, y down) pixel
    coordinates; translate: (N, 2) shifts (dx, dy) in pixels. An input pixel at p
    (relative to the centre) lands at A p + t. Implemented by inverse mapping: each
    output pixel q samples the input at A^-1 (q - t), by 'nearest' or 'bilinear'
    interpolation; samples falling outside the image read `fill`.
    """
    n, m, h, w = x.shape
    translate = np.zeros((n, 2)) if translate is None else np.asarray(translate, dtype=np.float64)
    inv = np.linalg.inv(np.asarray(matrices, dtype=np.float64))  # (N, 2, 2)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    qy, qx = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")  # (H, W)
    qx = qx[None] - translate[:, 0, None, None]  # (N, H, W)
    qy = qy[None] - translate[:, 1, None, None]
    src_x = inv[:, 0, 0, None, None] * qx + inv[:, 0, 1, None, None] * qy + cx
    src_y = inv[:, 1, 0, None, None] * qx + inv[:, 1, 1, None, None] * qy + cy
    ni = np.arange(n)[:, None, None]

    def read(yi, xi):
        """x at integer coords (N, H, W) -> (N, M, H, W), `fill` outside."""
        inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
        vals = x[ni, :, np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]  # (N, H, W, M)
        vals = np.where(inside[..., None], vals, np.asarray(fill, dtype=vals.dtype))
        return vals.transpose(0, 3, 1, 2)

    if interpolation == "nearest":
        return read(np.floor(src_y + 0.5).astype(np.int64), np.floor(src_x + 0.5).astype(np.int64))
    if interpolation != "bilinear":
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
    x0, y0 = np.floor(src_x).astype(np.int64), np.floor(src_y).astype(np.int64)
    fx, fy = (src_x - x0)[:, None], (src_y - y0)[:, None]  # (N, 1, H, W)
    out = (read(y0, x0) * (1 - fx) * (1 - fy) + read(y0, x0 + 1) * fx * (1 - fy)
           + read(y0 + 1, x0) * (1 - fx) * fy + read(y0 + 1, x0 + 1) * fx * fy)
    if np.issubdtype(x.dtype, np.integer):
        info = np.iinfo(x.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(x.dtype)
    return out.astype(x.dtype)


def _linear_maps(angle_deg, scale, shear_x_deg, shear_y_deg):
    """(N, 2, 2) maps: scale * rotation (counter-clockwise on screen, y down) @ shear."""
    a = np.deg2rad(angle_deg)
    cos, sin = np.cos(a), np.sin(a)
    rot = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)  # (N, 2, 2)
    one = np.ones_like(a)
    shear = np.stack([np.stack([one, np.tan(np.deg2rad(shear_x_deg))], -1),
                      np.stack([np.tan(np.deg2rad(shear_y_deg)), one], -1)], -2)
    return scale[:, None, None] * (rot @ shear)


def _degrees_range(degrees, name):
    if isinstance(degrees, numbers.Number):
        if degrees < 0:
            raise ValueError(f"{name}: degrees must be non-negative when a single number, got {degrees}")
        return (-float(degrees), float(degrees))
    return tuple(float(d) for d in _pair(degrees, f"{name} degrees"))


class RandomRotation(_Transform):
    """Rotate by an angle drawn uniformly from (-degrees, degrees) (or the given (min, max)),
    counter-clockwise for positive angles, about the image centre; corners read `fill`."""

    def __init__(self, degrees, interpolation="nearest", fill=0):
        self.degrees = _degrees_range(degrees, "RandomRotation")
        self.interpolation = interpolation
        self.fill = fill

    def apply_batch(self, x, rng=None):
        """x: (N, ..., H, W) -> same shape, each sample rotated by its own angle."""
        x = _unwrap(x)[0]
        n = x.shape[0]
        angle = _uniform(rng, *self.degrees, n)
        maps = _linear_maps(angle, np.ones(n), np.zeros(n), np.zeros(n))
        return affine_warp(_as_nchw(x), maps, None, self.interpolation, self.fill).reshape(x.shape)


class RandomAffine(_Transform):
    """Random rotation, translation, scale and shear about the image centre.

    degrees: as RandomRotation; translate: (a, b) maximum shifts as fractions of width and
    height (dx drawn from +-a*W, dy from +-b*H, rounded to pixels); scale: (lo, hi);
    shear: number s (x-shear in (-s, s)), (min, max) for x, or (xmin, xmax, ymin, ymax).
    """

    def __init__(self, degrees, translate=None, scale=None, shear=None, interpolation="nearest", fill=0):
        self.degrees = _degrees_range(degrees, "RandomAffine")
        if translate is not None and not all(0 <= t <= 1 for t in translate):
            raise ValueError(f"RandomAffine: translate values must lie in [0, 1], got {translate}")
        self.translate = translate
        if scale is not None and not (len(scale) == 2 and 0 < scale[0] <= scale[1]):
            raise ValueError(f"RandomAffine: scale must be (lo, hi) with 0 < lo <= hi, got {scale}")
        self.scale = scale
        if shear is None:
            self.shear = None
        elif isinstance(shear, numbers.Number):
            self.shear = (-float(shear), float(shear), 0.0, 0.0)
        elif len(shear) == 2:
            self.shear = (float(shear[0]), float(shear[1]), 0.0, 0.0)
        else:
            self.shear = tuple(float(s) for s in shear)
        self.interpolation = interpolation
        self.fill = fill

    def apply_batch(self, x, rng=None):
        """x: (N, ..., H, W) -> same shape, each sample with its own random parameters."""
        x = _unwrap(x)[0]
        n, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        angle = _uniform(rng, *self.degrees, n)
        shift = np.zeros((n, 2))
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * w, self.translate[1] * h
            shift = np.stack([np.round(_uniform(rng, -max_dx, max_dx, n)),
                              np.round(_uniform(rng, -max_dy, max_dy, n))], axis=1)
        scale = np.ones(n) if self.scale is None else _uniform(rng, *self.scale, n)
        shx = shy = np.zeros(n)
        if self.shear is not None:
            shx = _uniform(rng, self.shear[0], self.shear[1], n)
            shy = _uniform(rng, self.shear[2], self.shear[3], n)
        maps = _linear_maps(angle, scale, shx, shy)
        return affine_warp(_as_nchw(x), maps, shift, self.interpolation, self.fill).reshape(x.shape)
