"""MNIST digits, as keras.datasets.mnist."""
from ...vision.datasets import MNIST, load_arrays


def load_data(path=None):
    """-> ((x_train, y_train), (x_test, y_test)): x uint8 (60000|10000, 28, 28), y uint8 (N,) in 0..9.

    path: data dir or folder with the four .gz files (default $MINIGRAD_DATA_DIR, else
    ~/.cache/minigrad); downloads what is missing, verifies every file's SHA-256.
    """
    return load_arrays(MNIST, path)
