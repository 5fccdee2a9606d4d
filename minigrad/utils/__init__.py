"""Utilities: `minigrad.utils.data` (Dataset, DataLoader, random_split); `checkpoint` (gradient checkpointing)."""
from . import data
from .checkpoint import checkpoint
