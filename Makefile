# Every target sets itself up on a fresh machine: a venv in .venv, the package
# installed in it (editable, with TensorFlow CPU and the test tools), then the job.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: demo test lint typecheck bench catalog clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[tensorflow-cpu,test,tuner,draw]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/keras-rewrite demo

test: $(STAMP) lint
	$(PY) -m pytest -n 2 --durations=10

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
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
