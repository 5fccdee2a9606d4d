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
