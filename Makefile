# Every target sets itself up on a fresh machine: a venv in .venv, the package
# installed in it (editable, with TensorFlow CPU, the test and docs tools), then
# the job. `make test-jax` and `make test-torch` add a backend to the same venv.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: demo test test-jax test-torch docs lint typecheck bench catalog clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools>=77"
	$(PY) -m pip install --quiet -e ".[tensorflow-cpu,test,tuner,draw,docs]"
	touch $(STAMP)

# Left out on JAX and PyTorch (docs/backends.md): the model zoo and the three
# keras.applications CLI runs, which rewrite 13 + 3 full-size models and take
# half an hour of CPU off TensorFlow (the smaller keras.applications tests stay),
# and the fresh-venv install, which installs TensorFlow whatever the backend.
OTHER_BACKEND_SUBSET := --ignore=tests/test_zoo.py \
	--deselect tests/test_applications.py::test_application_via_api_and_cli \
	--deselect tests/test_packaging.py::test_wheel_installs_into_a_fresh_venv_and_runs_the_demo

demo: $(STAMP)
	$(VENV)/bin/keras-rewrite demo

test: $(STAMP) lint
	$(PY) -m pytest -n 2 --durations=10

$(VENV)/.jax-stamp: $(STAMP)
	$(PY) -m pip install --quiet -e ".[jax]"
	touch $@

test-jax: $(VENV)/.jax-stamp
	KERAS_BACKEND=jax $(PY) -m pytest -n 2 --durations=10 $(OTHER_BACKEND_SUBSET)

# Pinned: on this project's machines pip takes torch 2.13.0 from a CPU build kept
# on disk; an unpinned `torch` from PyPI is a CUDA build of several GB.
$(VENV)/.torch-stamp: $(STAMP)
	$(PY) -m pip install --quiet "torch==2.13.0"
	touch $@

test-torch: $(VENV)/.torch-stamp
	KERAS_BACKEND=torch $(PY) -m pytest -n 2 --durations=10 $(OTHER_BACKEND_SUBSET)

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The benchmarks' own extras: matplotlib for the scaling plot, pyinstrument for profiles.
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	touch $(BENCH_STAMP)

# Every benchmark and every target; writes benchmarks/results.json, docs/img/scaling.png
# and the tables in docs/benchmarks.md.
bench: $(BENCH_STAMP)
	$(PY) -m benchmarks --docs docs/benchmarks.md

catalog: $(STAMP)
	$(PY) -m rewrite._catalog_gen

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .mypy_cache .ruff_cache
