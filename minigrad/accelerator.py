"""`minigrad.accelerator`: which accelerator is there? Shaped like `torch.accelerator`.

minigrad's one accelerator is CUDA (through CuPy), so this answers from `minigrad.cuda`. The
device-picking line of current PyTorch tutorials runs as it is:

    device = mg.accelerator.current_accelerator().type if mg.accelerator.is_available() else "cpu"
"""
from . import cuda
from .backend import Device


def is_available():
    """True when a CUDA device is usable (CuPy imports and sees a GPU)."""
    return cuda.is_available()


def current_accelerator(check_available=False):
    """Device("cuda") when CuPy, the CUDA backend's library, imports, else None.

    check_available=True: Device("cuda") only when a GPU can be used right now.
    """
    usable = cuda.is_available() if check_available else cuda._cupy() is not None
    return Device("cuda") if usable else None


def device_count():
    """Number of usable CUDA devices (0 without CuPy, a driver or a device)."""
    return cuda.device_count()


def current_device_index():
    """The index of the current CUDA device, or -1 when there is none."""
    if not cuda.is_available():
        return -1
    import cupy
    return int(cupy.cuda.Device().id)


def synchronize(device=None):
    """Wait for every kernel queued on the accelerator `device` (default: the current one)."""
    cuda.synchronize(device)
