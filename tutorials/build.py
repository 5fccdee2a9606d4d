"""Build the tutorial notebooks from their .py sources (jupytext percent format).

    python tutorials/build.py                 # every chapter: .py -> .ipynb, executed, outputs saved
    python tutorials/build.py 04 07           # only the chapters whose names start with 04 or 07
    python tutorials/build.py --fast          # MINIGRAD_FAST=1: small data, few epochs (what CI runs)
    python tutorials/build.py --no-execute    # refresh the .ipynb cells without running them
    python tutorials/build.py --check         # each .ipynb has exactly the cells of its .py?
                                              # (and, as a report only: which outputs may be stale)

The .py file is the source of truth; the .ipynb beside it is generated, committed with its
outputs so that the plots show without running anything. An executed notebook records in its
metadata ("minigrad": commit, mode, date) the commit it ran at; `--check` then lists the
notebooks whose library excerpts (printed by helpers.show) come from files changed since.
"""
import argparse
import datetime
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import _machine  # noqa: E402 (the CPU model, read as the benchmarks record it)


def chapters(names=()):
    """The tutorial sources, tutorials/NN-title.py, in order (optionally only those matching names)."""
    found = sorted(p for p in HERE.glob("[0-9][0-9]-*.py"))
    if names:
        found = [p for p in found if any(p.name.startswith(n) or p.stem == n for n in names)]
    return found


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def out_of_sync(py):
    """'' when py's .ipynb holds the same cells as py, else why not."""
    ipynb = py.with_suffix(".ipynb")
    if not ipynb.exists():
        return f"{ipynb.name} is missing"
    want = _cells(jupytext.read(py))
    have = _cells(nbformat.read(ipynb, as_version=4))
    if len(want) != len(have):
        return f"{ipynb.name} has {len(have)} cells, {py.name} has {len(want)}"
    for i, (w, h) in enumerate(zip(want, have)):
        if w != h:
            return f"{ipynb.name} cell {i} differs from {py.name}"
    return ""


def check(names=()):
    """Problems found: a list of strings, empty when every pair is in sync."""
    problems = [f"{py.name}: {why}" for py in chapters(names) if (why := out_of_sync(py))]
    orphans = {p.stem for p in HERE.glob("[0-9][0-9]-*.ipynb")} - {p.stem for p in chapters()}
    problems += [f"{o}.ipynb has no {o}.py" for o in sorted(orphans)]
    return problems


def _git(*args):
    """git's stdout in the repository, or None when git fails (no git, unknown commit)."""
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def shown_files(nb):
    """The library files (repo-relative paths) whose source nb's outputs print through helpers.show."""
    sys.path.insert(0, str(HERE))
    try:
        from helpers import shown
    finally:
        sys.path.remove(str(HERE))
    files = set()
    for cell in nb.cells:
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        for module, _, _ in shown(text):
            spec = importlib.util.find_spec(module)  # where the module lives (minigrad.kernels is kernels/)
            if spec is None or spec.origin is None:
                continue
            path = Path(spec.origin).resolve()
            if path.is_relative_to(REPO):
                files.add(path.relative_to(REPO).as_posix())
    return sorted(files)


def staleness(nb):
    """'' when nb's recorded commit is at or after the last change to the library files it shows, else why."""
    meta = nb.metadata.get("minigrad", {})
    commit = meta.get("commit")
    if not commit:
        return "no recorded execution"
    files = shown_files(nb)
    if not files:
        return ""
    changed = _git("log", "--format=%h", f"{commit}..HEAD", "--", *files)
    if changed is None:
        return f"recorded commit {commit[:7]} unknown to git here"
    if changed:
        n = len(changed.splitlines())
        return f"executed at {commit[:7]} ({meta.get('mode')}); {n} later commit(s) change {', '.join(files)}"
    return ""


def record(nb, fast, seconds):
    """Note in nb's metadata the commit and mode it was executed at, how long it took and on what CPU.
    dirty: library or tutorial sources differed from the commit (the generated .ipynb files do not count)."""
    dirty = bool(_git("status", "--porcelain", "--", "minigrad", "kernels", "tutorials", ":!tutorials/*.ipynb"))
    nb.metadata["minigrad"] = {"commit": _git("rev-parse", "HEAD") or "", "mode": "fast" if fast else "full",
                               "dirty": dirty, "date": datetime.date.today().isoformat(),
                               "seconds": round(seconds, 1), "cpu": _machine.cpu_model()}


def kernel_env(fast):
    """The environment the notebook kernel runs in."""
    env = dict(os.environ)
    env["MINIGRAD_FAST"] = "1" if fast else "0"
    if "MINIGRAD_DATA_DIR" not in env:
        shared = REPO.parent / "shared" / "data"
        if shared.is_dir():
            env["MINIGRAD_DATA_DIR"] = str(shared)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return env


def execute(nb, fast, timeout=1800):
    """Run every cell of nb in a fresh kernel (cwd tutorials/), keeping the outputs in nb."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(HERE)}})
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(kernel_env(fast))  # the kernel process inherits this environment
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return nb


def build(py, fast=False, run=True):
    nb = jupytext.read(py)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata.get("jupytext", {}).pop("text_representation", None)
    start = time.time()
    try:
        if run:
            execute(nb, fast)
            record(nb, fast, time.time() - start)
        else:  # cells refreshed without running: keep the record of the last execution
            old = py.with_suffix(".ipynb")
            if old.exists():
                nb.metadata["minigrad"] = nbformat.read(old, as_version=4).metadata.get("minigrad", {})
    finally:  # on an error, keep what ran (with the traceback) to look at
        nbformat.write(nb, py.with_suffix(".ipynb"))
    return time.time() - start


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="chapter prefixes, e.g. 01 07 (default: all)")
    ap.add_argument("--fast", action="store_true", help="set MINIGRAD_FAST=1: small data, few epochs")
    ap.add_argument("--check", action="store_true", help="only check that each .py/.ipynb pair is in sync")
    ap.add_argument("--no-execute", action="store_true", help="write the .ipynb without running it")
    args = ap.parse_args(argv)
    if args.check:
        problems = check(args.names)
        for p in problems:
            print("out of sync:", p)
        print("all tutorial pairs in sync" if not problems else f"{len(problems)} problem(s)")
        for py in chapters(args.names):  # a report, not a failure: outputs may predate library changes
            ipynb = py.with_suffix(".ipynb")
            if ipynb.exists() and (why := staleness(nbformat.read(ipynb, as_version=4))):
                print(f"maybe stale: {ipynb.name}: {why}")
        return 1 if problems else 0
    for py in chapters(args.names):
        print(f"{py.name} ...", end=" ", flush=True)
        seconds = build(py, fast=args.fast, run=not args.no_execute)
        print(f"{seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
