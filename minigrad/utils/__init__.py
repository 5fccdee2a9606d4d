"""Utilities: `minigrad.utils.data` (Dataset, DataLoader, random_split)."""
from . import data
from .checkpoint import checkpoint
