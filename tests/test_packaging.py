"""`pip install .` ships every module and kernel source: build the wheel and look inside."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=build)
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{proc.stdout}\n{proc.stderr}")
    (wheel,) = out.glob("minigrad-*.whl")
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


def _expected(folder, package):
    """Every .py and .cu file under `folder`, as its path inside the installed package."""
    for path in (ROOT / folder).rglob("*"):
        if path.suffix in (".py", ".cu") and "__pycache__" not in path.parts:
            yield package + "/" + path.relative_to(ROOT / folder).as_posix()


def test_wheel_ships_every_kernel_source(wheel_names):
    expected = set(_expected("kernels", "minigrad/kernels"))
    assert any(name.endswith(".cu") for name in expected), "no .cu kernels found in kernels/cuda"
    missing = sorted(expected - wheel_names)
    assert not missing, f"kernel sources missing from the wheel: {missing}"


def test_wheel_ships_every_module(wheel_names):
    missing = sorted(set(_expected("minigrad", "minigrad")) - wheel_names)
    assert not missing, f"modules missing from the wheel (add their package to pyproject.toml): {missing}"
