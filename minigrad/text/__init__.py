"""Text: tokenizers (character, byte-level BPE) and text data sets."""
