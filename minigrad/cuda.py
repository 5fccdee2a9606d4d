"""`minigrad.cuda`: is there a GPU? Shaped like `torch.cuda`.

Nothing here imports CuPy until asked, and the queries never raise: without CuPy, without a
driver or without a device, `is_available()` is False and `device_count()` is 0.
"""


def _cupy():
    """CuPy, or None when it cannot be imported."""
    try:
        import cupy
    except Exception:
        return None
    return cupy


def device_count():
    """Number of CUDA devices CuPy can use (0 without CuPy, a driver or a device)."""
    cupy = _cupy()
    if cupy is None:
        return 0
    try:
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def is_available():
    """True when minigrad can run on a GPU: CuPy imports and sees at least one device."""
    return device_count() > 0


def synchronize(device=None):
    """Wait for every kernel queued on `device` (default: the current one) to finish."""
    if not is_available():
        raise RuntimeError("minigrad.cuda.synchronize: no CUDA device (needs CuPy and an NVIDIA GPU)")
    import cupy
    if device is None:
        cupy.cuda.Device().synchronize()
        return
    index = getattr(device, "index", device)
    if isinstance(device, str):
        index = int(device.split(":", 1)[1]) if ":" in device else None
    cupy.cuda.Device(0 if index is None else int(index)).synchronize()
