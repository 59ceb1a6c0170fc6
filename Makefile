# One-command entry points. Each creates .venv on first use (no system MPI needed: MPICH
# comes from PyPI).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
MPIEXEC := $(VENV)/bin/mpiexec
DATA   ?= $(abspath ../shared/datasets/mnist)
NP     ?= 2

.PHONY: venv train test test-unit test-process test-distributed test-reliability bench gpu-check clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,examples,bench,observe]'
	# PyTorch is optional: comparison tests and benchmarks use it when present.
	-$(PY) -m pip install -q torch==2.13.0 || echo "torch not installed: PyTorch comparisons will be skipped"
	touch $@

venv: $(VENV)/.installed

train: venv
	DISTGRAD_DATA=$(DATA) $(VENV)/bin/distgrad-run -n $(NP) examples/mnist_mlp.py --epochs 10

test: venv test-unit test-process test-distributed test-reliability

# tests/compat: PyTorch programs run under PyTorch and, imports rewritten, under distgrad.
test-unit: venv
	OMP_NUM_THREADS=1 $(PY) -m pytest -q tests/unit tests/gpu tests/compat

# Tests that start processes (python -m distgrad.run, mpiexec): seconds each, not milliseconds.
test-process: venv
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -p no:cacheprovider tests/process

test-distributed: venv
	OMP_NUM_THREADS=1 DISTGRAD_DATA=$(DATA) $(MPIEXEC) -n 2 $(PY) -m pytest -q -p no:cacheprovider --with-mpi tests/distributed
	OMP_NUM_THREADS=1 DISTGRAD_DATA=$(DATA) $(MPIEXEC) -n 3 $(PY) -m pytest -q -p no:cacheprovider --with-mpi tests/distributed

test-reliability: venv
	OMP_NUM_THREADS=1 DISTGRAD_DATA=$(DATA) $(PY) -m pytest -q -p no:cacheprovider tests/reliability

bench: venv
	DISTGRAD_DATA=$(DATA) $(PY) -m benchmarks.run_all

gpu-check: venv
	$(PY) -m benchmarks.gpu_check

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
