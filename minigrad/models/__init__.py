"""Models built from minigrad.nn: the GPT (GPT-2 architecture) and its config."""
from .gpt import GPT, GPTConfig
