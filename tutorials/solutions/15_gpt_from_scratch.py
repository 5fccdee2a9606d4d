"""Chapter 15 exercises: a counted bigram model, perplexity, BPE training, top-k sampling."""
import math

import numpy as np


def bigram_nll(train_ids, eval_ids, vocab_size, smoothing=1.0):
    """Mean -log p(eval_ids[t+1] | eval_ids[t]) under the row-normalised table of bigram counts of
    train_ids (plus smoothing in every cell)."""
    train_ids = np.asarray(train_ids, dtype=np.int64)
    eval_ids = np.asarray(eval_ids, dtype=np.int64)
    counts = np.full((vocab_size, vocab_size), float(smoothing))
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1.0)
    probs = counts / counts.sum(axis=1, keepdims=True)
    return float(-np.log(probs[eval_ids[:-1], eval_ids[1:]]).mean())


def perplexity(loss):
    """exp(loss), loss in nats per token."""
    return math.exp(loss)


def bits_per_character(loss, chars_per_token=1.0):
    """A loss in nats per token as bits per character."""
    return loss / math.log(2) / chars_per_token


def _merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def bpe_train(text_bytes, n_merges):
    """The merged pairs, in order: merge k replaces the most frequent adjacent pair by id 256 + k
    (ties: the pair seen first)."""
    ids, merges = list(text_bytes), []
    for k in range(n_merges):
        counts = {}
        for pair in zip(ids, ids[1:]):
            counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            break
        pair = max(counts, key=counts.get)
        ids = _merge(ids, pair, 256 + k)
        merges.append(pair)
    return merges


def top_k_probs(logits, k, temperature=1.0):
    """softmax(logits / temperature) over the k largest logits, zero elsewhere (1-D)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    keep = z >= np.sort(z)[-k]
    z = np.where(keep, z, -np.inf)
    e = np.exp(z - z[keep].max())
    return e / e.sum()
