"""cuDNN's flags, as torch.backends.cudnn has them. minigrad does not use cuDNN: setting them changes nothing."""

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available():
    """False: minigrad's CUDA kernels are its own, not cuDNN's."""
    return False


def version():
    """None: no cuDNN is loaded."""
    return None
