"""minigrad.viz: the graph drawn behind a tensor, as SVG and DOT, with no Graphviz needed."""
import xml.etree.ElementTree as ET

import numpy as np

import minigrad as mg
from minigrad.viz import draw, to_dot

SVG = "{http://www.w3.org/2000/svg}"


def _texts(svg):
    return [t.text for t in ET.fromstring(svg).iter(SVG + "text")]


def _small_graph():
    x = mg.randn(3, 4, requires_grad=True)
    w = mg.randn(4, 2, requires_grad=True)
    y = (x @ w).relu().sum()
    return x, w, y


def test_one_node_per_function_and_leaf():
    x, w, y = _small_graph()
    g = draw(y)
    assert len(g.nodes) == 5  # Sum, Relu, MatMul, x, w
    assert len(g.edges) == 4
    titles = [n.title for n in g.nodes.values()]
    assert titles[:3] == ["Sum", "Relu", "MatMul"]
    assert titles.count("leaf") == 2


def test_svg_is_valid_and_shows_shape_dtype_device():
    x, w, y = _small_graph()
    svg = draw(y, names={"x": x, "w": w})._repr_svg_()
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag == SVG + "svg"
    assert len(list(root.iter(SVG + "rect"))) == 5
    assert len(list(root.iter(SVG + "line"))) == 4
    texts = _texts(svg)
    assert "MatMul" in texts and "x" in texts and "w" in texts
    assert "(3, 4) float32" in texts and "(3, 2) float32" in texts and "() float32" in texts
    assert "cpu" in texts


def test_output_is_drawn_below_its_inputs():
    x, w, y = _small_graph()
    g = draw(y)
    rows = g._layout()
    assert rows[-1] == [g.root]
    assert len(rows) == 4  # leaves, MatMul, Relu, Sum


def test_grad_norm_shown_after_backward():
    x, w, y = _small_graph()
    y.backward(retain_graph=True)
    g = draw(y, names={"x": x})
    node = next(n for n in g.nodes.values() if n.title == "x")
    assert np.isclose(node.grad_norm, np.linalg.norm(x.grad.numpy()), rtol=1e-5)
    assert any(t.startswith("|grad| = ") for t in _texts(g.to_svg()))


def test_nan_and_inf_are_flagged_in_red():
    a = mg.tensor([1.0, 0.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        y = (a.log() * 2).sum()  # log(0) = -inf
    g = draw(y)
    bad = [n for n in g.nodes.values() if n.bad]
    assert {n.title for n in bad} >= {"Log", "Mul", "Sum"}
    assert not next(n for n in g.nodes.values() if n.title == "leaf").bad
    svg = g.to_svg()
    assert "NaN/inf!" in _texts(svg)
    assert "#d93025" in svg


def test_shared_inputs_are_one_node():
    x = mg.randn(5, requires_grad=True)
    y = (x * x + x).sum()
    g = draw(y)
    assert sum(n.title == "leaf" for n in g.nodes.values()) == 1
    assert len(g.edges) == len(set(g.edges))


def test_constants_and_leaf_tensor():
    c = mg.ones(3)
    g = draw(c)
    assert len(g.nodes) == 1 and not g.edges
    assert next(iter(g.nodes.values())).title == "constant"
    assert any(n.title == "constant 2" for n in draw((mg.ones(2, requires_grad=True) * 2).sum()).nodes.values())
    ET.fromstring(g.to_svg())


def test_dot_text():
    x, w, y = _small_graph()
    dot = to_dot(y, names={"w": w})
    assert dot.startswith("digraph minigrad {") and dot.rstrip().endswith("}")
    assert dot.count("->") == 4
    assert "MatMul" in dot and "w\\n(4, 2) float32" in dot


def test_save(tmp_path):
    _, _, y = _small_graph()
    g = draw(y)
    svg = tmp_path / "g.svg"
    dot = tmp_path / "g.dot"
    g.save(svg)
    g.save(dot)
    ET.parse(svg)
    assert dot.read_text().startswith("digraph")


def test_module_parameters_and_deep_graph():
    nn = mg.nn
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    out = model(mg.randn(2, 4)).sum()
    g = draw(out, names=dict(model.named_parameters()))
    titles = {n.title for n in g.nodes.values()}
    assert {"0.weight", "0.bias", "2.weight", "2.bias"} <= titles
    x = mg.randn(2, requires_grad=True)
    y = x
    for _ in range(200):
        y = y * 1.0
    assert len(draw(y.sum()).nodes) == 402  # 200 Mul, 200 constants, Sum, x
