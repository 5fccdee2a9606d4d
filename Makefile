# minigrad: `make demo` trains the CNN on MNIST, `make test` runs the tests.
# Both create .venv and install the project into it on first use; the install step also compiles
# the Numba kernels once (`python -m minigrad.backend.warmup`), so the first epoch runs at full speed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= test,plot,tutorials
comma  := ,
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

# Use the MNIST copy beside the repository when there is one; otherwise the loader
# downloads (and checksum-verifies) into ~/.cache/minigrad.
ifneq ($(wildcard ../shared/data/mnist),)
export MINIGRAD_DATA_DIR ?= $(abspath ../shared/data)
endif

.PHONY: demo test bench tutorials clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=68" wheel
	$(PY) -m pip install -q --no-build-isolation -e ".[$(EXTRAS)]"
	-$(PY) -m minigrad.backend.warmup --install
	touch $@

demo: $(STAMP)
	$(PY) -m minigrad.examples.mnist_cnn $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

tutorials: $(STAMP)
	$(PY) tutorials/build.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
