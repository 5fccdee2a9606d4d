"""The process settings of the Numba backend (minigrad/backend/process_tuning.py): untouched until its first
kernel, listed by minigrad.backend.tuning(), each with a working opt-out; the GEMM's SLP compile hook."""
import json
import os
import subprocess
import sys
import timeit
import types

import numba
import pytest
from numba.core.compiler_lock import global_compiler_lock

from minigrad.backend.process_tuning import BlasLimit

# Runs in a fresh process: records the settings before import, after import + tensors + a numpy-backend op,
# and after one op on the Numba backend. numpy's BLAS starts at 2 threads so that a limit of 1 shows.
PROBE = r"""
import json, os, sys
import numpy  # its BLAS, loaded before we look
from threadpoolctl import threadpool_info, threadpool_limits
threadpool_limits(2, user_api="blas")

def blas():  # the BLAS libraries loaded so far: path -> threads
    return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

def snapshot():
    numba = sys.modules.get("numba")
    started = numba is not None and sys.modules["numba.np.ufunc.parallel"]._is_initialized
    return {"spin": os.environ.get("GOMP_SPINCOUNT"), "blas": blas(), "numba_threads_started": bool(started),
            "slp": numba.config.SLP_VECTORIZE if numba else None}

out = {"before": snapshot()}
import minigrad as mg
from minigrad.backend import tuning, process_tuning
x = mg.randn(64, 64, requires_grad=True)
with mg.no_grad():
    y = (x * 2).relu().sum()
mg.set_backend("numpy")
mg.nn.functional.conv2d(mg.randn(1, 3, 8, 8), mg.randn(4, 3, 3, 3)).sum()
mg.set_backend("numba")
out["after_import"] = snapshot()
out["status_before_use"] = [s.status for s in tuning()]
loss = mg.nn.functional.conv2d(mg.randn(2, 3, 8, 8), mg.randn(4, 3, 3, 3, requires_grad=True)).sum()
loss.backward()
(x @ x).sum()
out["after_use"] = snapshot()
out["blas_inside"] = process_tuning.blas_limit.call(blas)
out["tuning"] = [s._asdict() for s in tuning()]
print("PROBE" + json.dumps(out))
"""


_TUNING_VARIABLES = ("GOMP_SPINCOUNT", "MINIGRAD_BACKEND", "MINIGRAD_TUNING", "MINIGRAD_BLAS_THREADS",
                     "MINIGRAD_MALLOC_TUNING")


def probe(first="", **variables):
    """The probe's record, from a process whose tuning variables are exactly these (`first`: code run first)."""
    env = {k: v for k, v in os.environ.items() if k not in _TUNING_VARIABLES}
    r = subprocess.run([sys.executable, "-c", first + PROBE], env={**env, **variables}, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return {**json.loads(r.stdout.split("PROBE", 1)[1]), "stderr": r.stderr}


def test_nothing_changes_before_the_first_numba_kernel_then_tuning_lists_it():
    out = probe()
    before, after_import = out["before"], out["after_import"]
    assert before["spin"] is None and list(before["blas"].values()) == [2]  # numpy's BLAS
    assert after_import == {"spin": None, "blas": before["blas"], "numba_threads_started": False, "slp": 0}
    assert all(s.startswith("not applied yet") for s in out["status_before_use"])
    after = out["after_use"]
    assert after["spin"] == "10000" and after["slp"] == 0 and after["numba_threads_started"]
    numpy_blas, = before["blas"]
    assert after["blas"][numpy_blas] == 2             # numpy keeps its threads outside minigrad's calls...
    assert out["blas_inside"][numpy_blas] == 1        # ...and runs those on one
    settings = {s["name"]: s for s in out["tuning"]}
    assert set(settings) == {"GOMP_SPINCOUNT", "BLAS threads", "malloc"}
    assert all(s["status"] == "applied by minigrad" for s in settings.values()), settings
    assert settings["GOMP_SPINCOUNT"]["value"] == "10000"
    assert settings["BLAS threads"]["value"] == "1 inside the Numba backend's matmuls, 2 elsewhere"
    assert settings["malloc"]["value"].startswith("M_MMAP_MAX=0")
    for s in settings.values():
        assert s["what"] and s["why"] and "=" in s["opt_out"]


def test_every_setting_has_a_working_opt_out():
    off = {s["name"]: s for s in probe(MINIGRAD_TUNING="0")["tuning"]}
    assert all(s["status"].startswith("off") for s in off.values()), off
    out = probe(GOMP_SPINCOUNT="500", MINIGRAD_BLAS_THREADS="0", MINIGRAD_MALLOC_TUNING="0")
    assert out["after_use"]["spin"] == "500" and 1 not in out["blas_inside"].values()
    settings = {s["name"]: s for s in out["tuning"]}
    assert settings["GOMP_SPINCOUNT"]["status"].startswith("yours")
    assert settings["BLAS threads"]["status"].startswith("off") and settings["malloc"]["status"].startswith("off")


def test_a_spincount_that_would_come_too_late_is_not_set_and_says_why():
    out = probe(first="import numba; numba.get_num_threads()  # starts Numba's OpenMP threads\n")
    assert out["after_use"]["spin"] is None
    spin = out["tuning"][0]
    assert spin["name"] == "GOMP_SPINCOUNT" and spin["status"].startswith("not set: Numba's OpenMP threads had started")
    assert "RuntimeWarning: minigrad: Numba's OpenMP threads started before" in out["stderr"]
    assert "minigrad.backend.apply_tuning()" in out["stderr"]


def test_apply_tuning_makes_the_settings_early():
    out = probe(first="import minigrad.backend; minigrad.backend.apply_tuning()\n"
                      "import numba; numba.get_num_threads()\n")
    assert out["after_use"]["spin"] == "10000" and "Warning" not in out["stderr"]
    assert all(s["status"] == "applied by minigrad" for s in out["tuning"])


def test_blas_limit_restores_the_count():
    threads = [4]
    limit = BlasLimit()
    seen = lambda: list(threads)  # noqa: E731
    assert limit.call(seen) == [4]  # not armed: leaves BLAS alone
    limit.arm(1, lambda: threads[0], lambda n: threads.__setitem__(0, n))
    assert limit.call(seen) == [1] and threads == [4]
    assert limit.call(lambda: limit.call(seen) + threads) == [1, 1] and threads == [4]  # nested: no change
    with pytest.raises(KeyError):
        limit.call(lambda: {}["an error inside still restores"])
    assert threads == [4]


def test_blas_limit_costs_about_a_microsecond():
    from minigrad.backend import process_tuning
    process_tuning.apply()
    if process_tuning.blas_limit.threads is None:
        pytest.skip("no BLAS limit in this process (opted out, or no BLAS found)")
    noop = lambda: None  # noqa: E731
    per_call = min(timeit.repeat(lambda: process_tuning.blas_limit.call(noop), number=2000, repeat=5)) / 2000
    assert per_call < 3e-6, f"{per_call * 1e6:.1f} us per limited call"


def test_bad_blas_threads_value_is_named(monkeypatch):
    from minigrad.backend import process_tuning
    monkeypatch.setenv("MINIGRAD_BLAS_THREADS", "two")
    with pytest.raises(ValueError, match="MINIGRAD_BLAS_THREADS must be a whole number >= 0.*'two'"):
        process_tuning._blas_threads()


def test_slp_is_on_only_while_the_gemm_compiles():
    from minigrad.kernels.cpu.matmul import slp_vectorized
    seen = []
    before = numba.config.SLP_VECTORIZE
    fake = types.SimpleNamespace(
        _compile_for_args=lambda *args: seen.append((numba.config.SLP_VECTORIZE, global_compiler_lock.is_locked())))
    slp_vectorized(fake)._compile_for_args(1, 2)
    assert seen == [(1, True)] and numba.config.SLP_VECTORIZE == before


RESTORE = r"""
import ctypes, json, os
import numpy as np
from threadpoolctl import threadpool_limits
threadpool_limits(2, user_api="blas")
import minigrad as mg
from minigrad.backend import process_tuning, restore_tuning, tuning
a = mg.randn(70, 70)
(a @ a).sum()                      # a small product: numpy's BLAS under the limit
status = {s.name: s.status for s in tuning()}
restore_tuning()
after = {s.name: (s.value, s.status) for s in tuning()}
print(json.dumps({"applied": status, "after": after, "spin": os.environ.get("GOMP_SPINCOUNT"),
                  "armed": process_tuning.blas_limit.threads}))
"""


def test_restore_tuning_undoes_the_settings():
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "MINIGRAD_TUNING", "MINIGRAD_BACKEND")}
    out = json.loads(subprocess.run([sys.executable, "-c", RESTORE], capture_output=True, text=True, env=env,
                                    check=True).stdout.strip().splitlines()[-1])
    assert set(out["applied"].values()) == {"applied by minigrad"}
    assert all(status == "restored by restore_tuning()" for _, status in out["after"].values())
    assert out["spin"] is None and out["armed"] is None
    assert out["after"]["malloc"][0] == "glibc's defaults"
