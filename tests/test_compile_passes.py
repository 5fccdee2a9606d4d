"""The fusion passes of minigrad.compile: kernels against their numpy references, fused graphs
against eager."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from minigrad.backend import apply_tuning, numpy_backend
from minigrad.compile.graph import Backward
from minigrad.compile.passes import (ConvReluPool, ConvReluPoolTrain, LinearAct, LinearActTrain,
                                     PoolReluBackward)
from minigrad.kernels.cpu import fusion

apply_tuning()  # (before these tests start Numba's threads themselves)


@pytest.mark.parametrize("k, shape", [(2, (3, 4, 8, 6)), (2, (2, 3, 7, 5)), (3, (1, 2, 9, 9))])
def test_relu_max_pool2d_matches_its_reference(k, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    n, c, h, w = shape
    y = np.empty((n, c, h // k, w // k), np.float32)
    idx = np.empty(y.shape, np.int64)
    fusion.relu_max_pool2d(x, k, y, idx, True)
    np.testing.assert_array_equal(y, fusion.relu_max_pool2d_reference(x, k))
    assert np.isnan(y[0, 0, 0, 0])
    _, expected_idx = numpy_backend.max_pool2d_forward(x, (k, k), (k, k), (0, 0), (1, 1))  # (on the raw values)
    np.testing.assert_array_equal(idx, expected_idx)


@pytest.mark.parametrize("relu", [True, False])
def test_bias_act_matches_its_reference(relu):
    rng = np.random.default_rng(1)
    y, b = rng.standard_normal((5, 7)).astype(np.float32), rng.standard_normal(7).astype(np.float32)
    y[2, 3] = np.nan
    expected = fusion.bias_act_reference(y, b, relu)
    fusion.bias_act(y, b, relu)
    np.testing.assert_array_equal(y, expected)


def _cnn():
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 32), nn.ReLU(), nn.Linear(32, 10))


def test_fused_inference_graph_matches_eager_bit_for_bit():
    mg.manual_seed(0)
    model = _cnn().eval()
    cf = mg.compile(model)
    rng = np.random.default_rng(2)
    with mg.no_grad():
        for _ in range(3):
            x = mg.from_numpy(rng.standard_normal((6, 1, 28, 28)).astype(np.float32))
            np.testing.assert_array_equal(cf(x).array, model(x).array)
    (graph,) = cf.graphs()
    kinds = [type(s) for s in graph.steps]
    assert kinds.count(ConvReluPool) == 2 and kinds.count(LinearAct) == 2
    assert [s.relu for s in graph.steps if type(s) is LinearAct] == [True, False]


def test_relu_max_pool2d_backward_matches_its_reference():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 4)).astype(np.float32)
    y, idx = np.empty((2, 3, 3, 2), np.float32), np.empty((2, 3, 3, 2), np.int64)
    fusion.relu_max_pool2d(x, 2, y, idx, True)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    gx = np.empty((6, 24), np.float32)
    fusion.relu_max_pool2d_backward(gy, idx, y, gx)
    np.testing.assert_array_equal(gx.reshape(x.shape),
                                  fusion.relu_max_pool2d_backward_reference(gy, idx, y, x.shape))
    assert (gx != 0).sum() == (y > 0).sum()


def test_training_graphs_get_the_training_fusions():
    model = _cnn()
    opt = mg.optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = model(x).sum()
        loss.backward()
        opt.step()
        return loss

    cf = mg.compile(step)
    cf(mg.randn(2, 1, 28, 28))
    kinds = [type(s) for s in cf.graphs()[0].steps]
    assert kinds.count(ConvReluPoolTrain) == 2 and kinds.count(LinearActTrain) == 2
    (plan,) = [s for s in cf.graphs()[0].steps if type(s) is Backward]
    assert sum(type(n) is PoolReluBackward for n in plan.nodes) == 2


def test_an_intermediate_read_elsewhere_is_not_fused():
    conv = nn.Conv2d(1, 4, 3)

    def f(x):
        y = conv(x).relu()
        return mg.nn.functional.max_pool2d(y, 2), y  # y is returned: it must exist

    cf = mg.compile(f)
    with mg.no_grad():
        x = mg.randn(2, 1, 10, 10)
        cf(x)
        pooled, y = cf(x)
        e_pooled, e_y = f(x)
    np.testing.assert_array_equal(pooled.array, e_pooled.array)
    np.testing.assert_array_equal(y.array, e_y.array)
    assert not any(type(s) is ConvReluPool for s in cf.graphs()[0].steps)


def test_depth_first_batch_tiling_matches_eager():
    from minigrad.compile.passes import Tiled
    mg.manual_seed(0)
    model = _cnn().eval()
    cf = mg.compile(model, options={"batch_tile": 4})
    x = mg.from_numpy(np.random.default_rng(4).standard_normal((10, 1, 28, 28)).astype(np.float32))
    with mg.no_grad():
        cf(x)
        out = cf(x)
        np.testing.assert_allclose(out.array, model(x).array, rtol=1e-5, atol=1e-6)
    (graph,) = cf.graphs()
    assert type(graph.steps[0]) is Tiled and graph.steps[0].tile == 4 and len(graph.steps[0].layers) == 5
    with pytest.raises(ValueError, match=r"compile: options\['batch_tile'\] must be an int >= 0, got -1"):
        mg.compile(model, options={"batch_tile": -1})
    with pytest.raises(ValueError, match=r"compile: unknown options \['mode'\]"):
        mg.compile(model, options={"mode": 1})


def test_planned_buffers_are_reused_but_never_for_a_returned_value():
    conv1, conv2 = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3)

    def f(x):
        y = mg.nn.functional.max_pool2d(conv1(x).relu(), 2)  # fused, an intermediate: its buffer is reused
        return mg.nn.functional.max_pool2d(conv2(y).relu(), 2)  # fused, returned: a new array every call

    cf = mg.compile(f)
    with mg.no_grad():
        x1, x2 = mg.randn(2, 1, 14, 14), mg.randn(2, 1, 14, 14)
        cf(x1)
        first = cf(x1)
        kept = first.array.copy()
        second = cf(x2)
        np.testing.assert_array_equal(first.array, kept)
        np.testing.assert_array_equal(second.array, f(x2).array)
    inner, outer = [s for s in cf.graphs()[0].steps if type(s) is ConvReluPool]
    assert inner.buffers.reuse and not outer.buffers.reuse
