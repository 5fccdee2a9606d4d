"""The tutorials: .py/.ipynb pairs in sync, exercise solutions correct, every notebook runs (fast mode).

The notebook runs are marked `notebooks`; deselect them with `-m "not notebooks"`.
"""
import importlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
sys.path.insert(0, str(TUTORIALS))  # `solutions` is a package inside tutorials/


def _build():
    spec = importlib.util.spec_from_file_location("tutorials_build", TUTORIALS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sol(name):
    return importlib.import_module(f"solutions.{name}")


# ------------------------------------------------------------------ (a) the pairs are in sync

def test_every_chapter_has_a_notebook_in_sync():
    build = _build()
    chapters = build.chapters()
    assert len(chapters) >= 10
    assert build.check() == []


def test_check_notices_a_changed_source(tmp_path, monkeypatch):
    build = _build()
    src = build.chapters()[0]
    monkeypatch.setattr(build, "HERE", tmp_path)
    (tmp_path / src.name).write_text(src.read_text() + "\n# %%\nprint('new cell')\n")
    (tmp_path / src.with_suffix(".ipynb").name).write_text(src.with_suffix(".ipynb").read_text())
    problems = build.check()
    assert len(problems) == 1 and "cells" in problems[0]


def test_notebooks_have_outputs():
    import nbformat
    for py in _build().chapters():
        nb = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert any(c.outputs for c in code), f"{py.stem}.ipynb was committed without outputs"
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{py.stem}.ipynb holds an error output: {errors[0].ename}"


def _output_text(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def test_printed_sources_match_the_code():
    """Every library excerpt a committed notebook prints (helpers.show) is still the code's source."""
    import nbformat
    helpers = importlib.import_module("helpers")
    checked = 0
    for py in _build().chapters():
        nb = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
        for i, cell in enumerate(nb.cells):
            text = _output_text(cell)
            for module, qualname, lines in helpers.shown(text):
                now = helpers.render(helpers.resolve(module, qualname), lines)
                assert now in text, (f"{py.stem}.ipynb cell {i} prints an old source of {module}:{qualname}; "
                                     f"re-execute it: python tutorials/build.py {py.name[:2]}")
                checked += 1
    assert checked >= 10


def test_notebooks_print_sources_through_show():
    """A bare print(inspect.getsource(...)) would escape the check above."""
    for py in _build().chapters():
        assert "print(inspect.getsource" not in py.read_text(), f"{py.name}: use helpers.show(obj)"


def test_execution_is_recorded_and_staleness_reported(tmp_path, monkeypatch):
    import nbformat
    build = _build()
    for py in build.chapters():
        meta = nbformat.read(py.with_suffix(".ipynb"), as_version=4).metadata.get("minigrad", {})
        assert meta.get("mode") in ("full", "fast") and len(meta.get("commit", "")) == 40, py.name
    nb = nbformat.v4.new_notebook()
    nb.metadata["minigrad"] = {"commit": "0" * 40, "mode": "fast"}
    nb.cells.append(nbformat.v4.new_code_cell(
        "show(Adam._update)", outputs=[nbformat.v4.new_output("stream", text="# source: minigrad.optim.algorithms:Adam._update\n")]))
    assert build.shown_files(nb) == ["minigrad/optim/algorithms.py"]
    why = build.staleness(nb)
    assert "0000000" in why and "unknown" in why  # a commit git does not know is reported, not raised


# ------------------------------------------------------------------ (b) the exercise solutions

def _practice():
    return importlib.import_module("practice")


def _solution_chapters():
    return sorted(p.name[:2] for p in (TUTORIALS / "solutions").glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("chapter", _solution_chapters())
def test_solutions_pass_the_checks(chapter):
    """The checks a learner runs in the notebook accept the reference solution (strict: raise on failure)."""
    practice = _practice()
    if chapter not in practice.EXERCISES:
        pytest.fail(f"solutions/{chapter}_*.py has no checks in tutorials/practice.py (add them there)")
    module = sol(next((TUTORIALS / "solutions").glob(f"{chapter}_*.py")).stem)
    needs = {n for _, names, _ in practice.EXERCISES[chapter] for n in names}
    missing = needs - set(vars(module))
    assert not missing, f"solutions/{chapter}_*.py lacks {sorted(missing)}"
    assert practice.check(chapter, strict=True, **{n: getattr(module, n) for n in needs})


def test_check_reports_stubs_and_wrong_answers(capsys):
    practice = _practice()

    def stub(h, k, stride=1, padding=0, dilation=1):
        raise NotImplementedError

    def off_by_one(h, k, stride=1, padding=0, dilation=1):
        return (h + 2 * padding - dilation * (k - 1) - 1) // stride  # the "+ 1" forgotten

    assert not practice.check("07", conv_output_size=stub)
    assert "not yet" in capsys.readouterr().out
    assert not practice.check("07", conv_output_size=off_by_one)
    out = capsys.readouterr().out
    assert "wrong" in out and "conv_output_size(28, 3) = 25, want 26" in out
    with pytest.raises(AssertionError):
        practice.check("07", strict=True, conv_output_size=off_by_one)
    with pytest.raises(TypeError, match="no exercise that uses"):
        practice.check("07", conv_output_sise=off_by_one)
    with pytest.raises(ValueError, match="no exercises for chapter '99'"):
        practice.check("99")


def test_notebooks_do_not_show_the_solutions():
    for py in _build().chapters():
        text = py.read_text()
        assert "import_module(\"solutions" not in text and "from solutions" not in text, py.name


def test_solutions_cover_every_chapter_with_exercises():
    have = {p.name[:2] for p in (TUTORIALS / "solutions").glob("[0-9][0-9]_*.py")}
    for py in _build().chapters():
        if "## Exercises" in py.read_text():
            assert py.name[:2] in have, f"{py.name} has exercises but no solutions/{py.name[:2]}_*.py"


# ------------------------------------------------------------------ (c) every notebook runs, fast mode

def _chapter_names():
    return [p.stem for p in sorted(TUTORIALS.glob("[0-9][0-9]-*.py"))]


@pytest.mark.notebooks
@pytest.mark.parametrize("name", _chapter_names())
def test_notebook_runs_in_fast_mode(name, monkeypatch):
    import jupytext
    build = _build()
    data = os.environ.get("MINIGRAD_DATA_DIR") or str(SHARED_DATA)
    monkeypatch.setenv("MINIGRAD_DATA_DIR", data)
    nb = jupytext.read(TUTORIALS / f"{name}.py")
    build.execute(nb, fast=True, timeout=600)  # raises CellExecutionError on the first failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


# ------------------------------------------------------------------ (d) chapters 15-16 (the large-model arc)

def test_15_gpt_from_scratch():
    s = sol("15_gpt_from_scratch")
    rng = np.random.default_rng(0)
    train, held = rng.integers(0, 5, 2000), rng.integers(0, 5, 300)
    counts = np.ones((5, 5))
    for a, b in zip(train[:-1], train[1:]):
        counts[a, b] += 1
    p = counts / counts.sum(1, keepdims=True)
    want = -np.mean([np.log(p[a, b]) for a, b in zip(held[:-1], held[1:])])
    assert np.isclose(s.bigram_nll(train, held, 5), want)
    # the counted table is the bigram model's optimum: a table trained by gradient descent cannot beat it
    ids = np.array([0, 1, 0, 1, 0, 2] * 50)
    logits = mg.tensor(np.zeros((3, 3)), requires_grad=True)
    opt = mg.optim.Adam([logits], lr=0.1)
    for _ in range(300):
        loss = mg.nn.functional.cross_entropy(logits[mg.tensor(ids[:-1])], mg.tensor(ids[1:]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert s.bigram_nll(ids, ids, 3, smoothing=0.0) <= loss.item() + 1e-3
    assert np.isclose(s.perplexity(np.log(65)), 65)
    assert np.isclose(s.bits_per_character(np.log(2)), 1) and np.isclose(s.bits_per_character(np.log(4), 2), 1)
    text = "aaabdaaabacabbacdcaabbaab" * 3
    assert s.bpe_train(text.encode(), 3) == [(97, 97), (97, 98), (256, 257)]  # worked by hand
    BPETokenizer = getattr(pytest.importorskip("minigrad.text"), "BPETokenizer", None)
    if BPETokenizer is not None:
        assert s.bpe_train(text.encode(), 6) == BPETokenizer.train(text, 256 + 6).merges
    logits = np.array([2.0, 1.0, 0.5, -1.0, 3.0])
    probs = s.top_k_probs(logits, 2, temperature=0.5)
    e = np.exp(np.array([3.0, 2.0]) / 0.5)
    np.testing.assert_allclose(probs, [e[1] / e.sum(), 0, 0, 0, e[0] / e.sum()])
    np.testing.assert_allclose(s.top_k_probs(logits, 5), np.exp(logits) / np.exp(logits).sum())


def test_16_fine_tuning_llm():
    models = pytest.importorskip("minigrad.models")
    if not hasattr(models, "GPT"):
        pytest.skip("minigrad.models.GPT is not built into this checkout")
    s = sol("16_fine_tuning_llm")
    nn = mg.nn
    config = models.GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)
    model = nn.utils.apply_lora(models.GPT(config), r=2, target_modules=("c_attn", "c_proj", "c_fc"))
    C = config.n_embd
    shapes = [(3 * C, C), (C, C), (4 * C, C), (C, 4 * C)] * config.n_layer
    assert s.lora_param_count(shapes, 2) == sum(p.numel() for p in model.parameters() if p.requires_grad)
    rng = np.random.default_rng(0)
    layer = nn.LoRALinear(nn.Linear(6, 4, dtype=mg.float64), r=3, lora_alpha=5)
    with mg.no_grad():
        layer.lora_B.copy_(mg.tensor(rng.normal(size=(4, 3))))
    W, b, A, B = (t.detach().numpy().copy() for t in (layer.weight, layer.bias, layer.lora_A, layer.lora_B))
    x = rng.normal(size=(7, 6))
    want = layer(mg.tensor(x)).detach().numpy()
    np.testing.assert_allclose(s.lora_forward(x, W, b, A, B, 5, 3), want, rtol=1e-10)
    layer.merge()
    np.testing.assert_allclose(s.merged_weight(W, A, B, 5, 3), layer.weight.numpy(), rtol=1e-10)
    fresh = models.GPT(config)
    n = s.freeze_all_but(fresh, ("transformer.h.1.", "transformer.ln_f."))
    names = [name for name, p in fresh.named_parameters() if p.requires_grad]
    assert names and all(name.startswith(("transformer.h.1.", "transformer.ln_f.")) for name in names)
    assert n == sum(p.numel() for p in fresh.parameters() if p.requires_grad)
    assert n == sum(p.numel() for name, p in fresh.named_parameters()
                    if name.startswith(("transformer.h.1.", "transformer.ln_f.")))
