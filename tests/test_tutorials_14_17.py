"""Tutorial chapters 14 (attention) and 17 (data-parallel training): what tests/test_tutorials.py does not
cover. The reference solutions go through tutorials/practice.py's checks there; here: the solution of
chapter 14 against PyTorch, and the checks of both chapters rejecting typical wrong answers."""
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
sys.path.insert(0, str(TUTORIALS))  # `solutions` and `practice` live in tutorials/


def sol(name):
    return importlib.import_module(f"solutions.{name}")


def check(chapter, **given):
    return importlib.import_module("practice").check(chapter, **given)


def test_14_attention_np_matches_torch():
    torch = pytest.importorskip("torch")
    s = sol("14_attention")
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(3, 6, 8)), rng.normal(size=(3, 6, 8)), rng.normal(size=(3, 6, 2))
    out, _ = s.attention_np(q, k, v, s.causal_mask(6))
    ref = torch.nn.functional.scaled_dot_product_attention(*(torch.tensor(a) for a in (q, k, v)), is_causal=True)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-10, atol=1e-12)


def test_14_checks_reject_typical_mistakes(capsys):
    s = sol("14_attention")

    def unscaled(q, k, v, mask=None):  # the 1/sqrt(d) forgotten
        return s.attention_np(q * np.sqrt(q.shape[-1]), k, v, mask)

    def nan_rows(q, k, v, mask=None):  # a fully masked row: softmax of all -inf gives NaN
        scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        with np.errstate(invalid="ignore"):
            w = np.exp(scores - scores.max(-1, keepdims=True))
            w = w / w.sum(-1, keepdims=True)
        return w @ v, w

    def naive_softmax(x, block):  # no running maximum: exp(700) overflows
        with np.errstate(over="ignore", invalid="ignore"):
            return np.exp(x) / np.exp(x).sum()

    for wrong in (unscaled, nan_rows):
        assert not check("14", attention_np=wrong)
        assert "wrong" in capsys.readouterr().out
    assert not check("14", online_softmax=naive_softmax)
    assert not check("14", causal_mask=lambda T: np.triu(np.ones((T, T), bool)))
    assert not check("14", sinusoidal_positions=lambda T, d: s.sinusoidal_positions(T, d)[:, ::-1])


def test_17_checks_reject_typical_mistakes(capsys):
    s = sol("17_data_parallel")

    def everyone_sends_everything(arrays):  # the right sums, by sending whole arrays: not a ring
        total = sum(arrays)
        return [total.copy() for _ in arrays], [a.size * (len(arrays) - 1) for a in arrays]

    assert not check("17", ring_allreduce=everyone_sends_everything)
    assert "sent in all" in capsys.readouterr().out
    assert not check("17", shard_indices=lambda n, world, rank: list(range(rank, n, world)))  # no padding
    assert not check("17", allreduce_seconds=lambda p, w, g, b=4: 2 * p * b * 8 / (g * 1e9))  # (R-1)/R forgotten
    assert check("17", ring_allreduce=s.ring_allreduce, shard_indices=s.shard_indices,
                 allreduce_seconds=s.allreduce_seconds)
