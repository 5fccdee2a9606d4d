"""Vision datasets and transforms, shaped like torchvision."""
from . import datasets, transforms
from .datasets import MNIST, FashionMNIST

__all__ = ["datasets", "transforms", "MNIST", "FashionMNIST"]
