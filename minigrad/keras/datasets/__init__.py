"""Keras-shaped dataset loaders: `mnist.load_data()`, `fashion_mnist.load_data()`, `imdb.load_data()`."""
from . import fashion_mnist, imdb, mnist

__all__ = ["mnist", "fashion_mnist", "imdb"]
