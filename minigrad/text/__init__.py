"""Text: tokenizers (character, byte-level BPE, Hugging Face tokenizer.json) and text data sets."""
from .datasets import TokenBlocks, load_tinyshakespeare, tinyshakespeare_path
from .tokenizers import BPETokenizer, CharTokenizer, HFTokenizer, load_tokenizer
