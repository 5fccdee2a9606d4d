"""Shared test set-up: hypothesis profiles and the MNIST folder beside the repository."""
import contextlib
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# "ci" (the default) is derandomized with bounded examples, so a submission never fails on a
# lucky draw; HYPOTHESIS_PROFILE=thorough runs many more examples locally.
settings.register_profile("ci", derandomize=True, max_examples=12, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def mnist_dir():
    """The folder holding mnist/ (MINIGRAD_DATA_DIR, else ../shared/data); skips when absent."""
    root = Path(os.environ.get("MINIGRAD_DATA_DIR", SHARED_DATA))
    if not (root / "mnist").is_dir():
        pytest.skip(f"MNIST not found under {root}")
    return root


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --runslow to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@contextlib.contextmanager
def cpu_backend(name):
    """Run a block on one CPU backend ("numpy" or "numba"), then restore the previous one."""
    from minigrad.backend import get_backend_name, set_backend
    before = get_backend_name()
    set_backend(name)
    try:
        yield
    finally:
        set_backend(before)


@pytest.fixture
def no_network(monkeypatch):
    """urlopen serves file:// URLs only; anything else fails as a dead mirror would."""
    real = urllib.request.urlopen

    def urlopen(req, *args, **kwargs):
        url = req.full_url if isinstance(req, urllib.request.Request) else req
        if not url.startswith("file://"):
            raise urllib.error.URLError(f"network disabled in tests: {url}")
        return real(req, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
