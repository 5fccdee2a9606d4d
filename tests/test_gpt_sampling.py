"""topk and multinomial, the ops generate() samples with."""
import numpy as np
import pytest

import minigrad as mg


def test_topk_matches_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((4, 9, 5))
    for dim, k, largest in [(-1, 3, True), (1, 9, False), (0, 1, True), (1, 0, True)]:
        v, i = mg.topk(mg.tensor(a), k, dim=dim, largest=largest)
        rv, ri = torch.topk(torch.tensor(a), k, dim=dim, largest=largest)
        np.testing.assert_array_equal(v.numpy(), rv.numpy())
        np.testing.assert_array_equal(i.numpy(), ri.numpy())
        assert i.dtype == mg.int64


def test_topk_gradient_goes_to_the_chosen_entries():
    x = mg.tensor([[1.0, 5.0, 3.0, 4.0]], requires_grad=True)
    v, _ = x.topk(2)
    (v * mg.tensor([[10.0, 1.0]])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 10, 0, 1]])


def test_topk_errors():
    x = mg.randn(2, 3)
    with pytest.raises(ValueError, match=r"topk: k must be an int in \[0, 3\]"):
        mg.topk(x, 4)
    with pytest.raises(IndexError, match="topk"):
        mg.topk(x, 1, dim=2)


def test_multinomial_follows_the_probabilities():
    p = mg.tensor([[0.1, 0.0, 0.6, 0.3], [1.0, 1.0, 0.0, 2.0]])  # rows need not sum to 1
    mg.manual_seed(0)
    draws = mg.multinomial(p, 20000, replacement=True).numpy()
    assert draws.shape == (2, 20000) and draws.dtype == np.int64
    for row, expected in zip(draws, [[0.1, 0.0, 0.6, 0.3], [0.25, 0.25, 0.0, 0.5]]):
        freq = np.bincount(row, minlength=4) / row.size
        np.testing.assert_allclose(freq, expected, atol=0.015)
        assert freq[np.array(expected) == 0].sum() == 0  # never a zero-probability category
    one = mg.multinomial(mg.tensor([0.2, 0.8]), 1)
    assert one.shape == (1,)
    distinct = mg.multinomial(mg.tensor([1.0, 1.0, 1.0, 0.0]), 3).numpy()
    assert sorted(distinct) == [0, 1, 2]


def test_multinomial_is_repeatable_with_a_generator():
    p = mg.softmax(mg.randn(3, 10), dim=-1)
    a = mg.multinomial(p, 5, True, generator=mg.Generator().manual_seed(3))
    b = mg.multinomial(p, 5, True, generator=mg.Generator().manual_seed(3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_multinomial_errors():
    with pytest.raises(ValueError, match="non-negative"):
        mg.multinomial(mg.tensor([0.5, -0.1]), 1)
    with pytest.raises(ValueError, match="positive sum"):
        mg.multinomial(mg.tensor([[0.0, 0.0]]), 1)
    with pytest.raises(ValueError, match="without replacement"):
        mg.multinomial(mg.tensor([1.0, 0.0]), 2)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        mg.multinomial(mg.ones(2, 2, 2), 1)
    with pytest.raises(TypeError, match="floating"):
        mg.multinomial(mg.tensor([1, 2]), 1)
    with pytest.raises(ValueError, match="num_samples"):
        mg.multinomial(mg.tensor([1.0, 2.0]), 0)
