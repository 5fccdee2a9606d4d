"""Apple's Metal GPUs: minigrad has no backend for them."""


def is_available():
    """False: minigrad cannot run on an Apple GPU."""
    return False


def is_built():
    """False: minigrad has no Metal backend."""
    return False
