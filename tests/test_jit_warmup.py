"""The kernel warm-up command (minigrad.backend.warmup, `minigrad warmup`, make's install step) and the
main job's "compiling kernels" note."""
import os
import subprocess
import sys
import time
from pathlib import Path

from minigrad import cli
from minigrad.examples import mnist_cnn
from minigrad.backend import warmup

ROOT = Path(__file__).resolve().parents[1]


def _run(args, cache_dir, code=None):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "minigrad.backend.warmup", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def test_warmup_fills_an_empty_cache_then_loads_from_it(tmp_path):
    # float64 and the seed CNN only: a fraction of the default's compile time, the same code path
    first = _run(["--dtypes", "float64", "--parts", "cnn"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "already cached" in first.stdout and "(0 compiled" not in first.stdout
    written = [p for p in tmp_path.rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert any(p.suffix == ".nbi" for p in written) and any(p.suffix == ".nbc" for p in written)
    assert any("_gemm" in p.name for p in written)  # the GEMM, the longest compile, is among them
    second = _run(["--dtypes", "float64", "--parts", "cnn"], tmp_path)
    assert second.returncode == 0, second.stderr
    assert "(0 compiled" in second.stdout, second.stdout


def test_install_step_warns_and_exits_0_when_the_warmup_fails(tmp_path):
    code = ("import sys\nimport minigrad.backend.warmup as w\n"
            "def boom(*a, **k):\n    raise OSError('read-only file system')\n"
            "w.warm_up = boom\nsys.exit(w.main(['--install']))\n")
    out = _run([], tmp_path, code=code)
    assert out.returncode == 0
    assert "warning: minigrad warmup failed (OSError: read-only file system)" in out.stderr
    # without --install the same failure is an error
    plain = _run([], tmp_path, code=code.replace("['--install']", "[]"))
    assert plain.returncode != 0 and "OSError" in plain.stderr


def test_makefile_install_step_runs_the_warmup_and_cannot_fail_the_install():
    recipe = (ROOT / "Makefile").read_text()
    line = next(x for x in recipe.splitlines() if "-m minigrad.backend.warmup" in x and not x.startswith("#"))
    assert line.startswith("\t-") and "--install" in line  # make ignores its exit status too
    assert recipe.index("pip install -q --no-build-isolation") < recipe.index(line) < recipe.index("touch $@")


def test_bad_part_is_refused_with_the_option_named(capsys):
    try:
        warmup.main(["--parts", "cnn,gpu"])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("an unknown part was accepted")
    assert "--parts" in capsys.readouterr().err


def test_bad_dtype_is_refused_with_the_option_named(capsys):
    try:
        warmup.main(["--dtypes", "int32"])
    except SystemExit as e:
        assert e.code == 2
    assert "--dtypes" in capsys.readouterr().err


def test_cli_warmup_runs_the_warmup(monkeypatch):
    calls = []
    monkeypatch.setattr(warmup, "main", lambda argv: calls.append(argv) or 0)
    assert cli.main(["warmup"]) == 0 and calls == [[]]


def test_kernel_report_lists_signatures_with_their_source():
    for row in warmup.kernel_report():
        assert set(row) == {"kernel", "signature", "source", "seconds"}
        assert row["source"] in ("cache", "compiled")


class _Bar:
    def __init__(self):
        self.postfix = []

    def set_postfix_str(self, s, refresh=True):
        self.postfix.append(s)


def test_compile_notice_speaks_only_when_the_step_is_slow(capsys):
    bar = _Bar()
    with mnist_cnn.compile_notice(bar, after=0.05):
        time.sleep(0.3)
    assert bar.postfix == ["compiling kernels (first run only)...", ""]
    quick = _Bar()
    with mnist_cnn.compile_notice(quick, after=5.0):
        pass
    assert quick.postfix == []
    with mnist_cnn.compile_notice(None, after=0.05):
        time.sleep(0.3)
    assert "compiling kernels (first run only)..." in capsys.readouterr().out
