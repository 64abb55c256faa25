# normsuite: `make task=cls norm=bgn` trains and evaluates; `make test` runs the tests.
# Both install what is missing into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# --isolated ignores pip config and PIP_* variables: a machine-local CPU-only torch
# wheel in PIP_FIND_LINKS would otherwise win, and no torchvision works with it.
PIP    := $(PY) -m pip --isolated
STAMP  := $(VENV)/.installed

task    ?= cls
norm    ?= bn
ARGS    ?=
PROFILE ?= default

.DEFAULT_GOAL := run
.PHONY: run install test test-slow test-learning test-oldest-torch bench study results clean

run: install
	$(PY) -m suite task=$(task) norm=$(norm) $(ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install_learn2learn.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	$(PIP) install -q torch torchvision
	$(PIP) install -q -e ".[dev]"
	bash scripts/install_learn2learn.sh $(PY)
	touch $(STAMP)

# The fast tier (under 15 minutes); test-slow holds real runs, kills and multi-process runs.
# pytest exits 5 when a tier selects no test: that is not a failure.
test: install
	$(PY) -m pytest -q -m "not slow and not learning"

test-slow: install
	$(PY) -m pytest -q -m slow || [ $$? -eq 5 ]

# Every task x norm learns in a short run (tests/tasks/test_every_task.py), the third tier of .ci/run:
# 25.6 min on the 2-core machine with nothing else running (nas 13 min of it), before cls went from 2 to 3 epochs.
test-learning: install
	$(PY) -m pytest -q -m learning

# The norms tests on the oldest declared torch and timm (pyproject's lower bounds), in a second venv.
# A multi-GB download the first time (torch's CUDA wheels); not in CI, which has no room for it.
OLDEST_VENV := .venv-oldest
OLDEST_PIP  := $(OLDEST_VENV)/bin/python -m pip --isolated
# numpy<2.4: Triton 3.6's interpreter (torch 2.11's) int()s 1-element arrays, which NumPy 2.4 refuses (the
# Triton interpreter tests fail with "only 0-dimensional arrays can be converted"); Triton 3.8 squeezes first.
OLDEST_PINS := "torch==2.11.*" "timm==1.0.3" "pytest>=7.4" "numpy<2.4"

$(OLDEST_VENV)/.installed: Makefile
	test -x $(OLDEST_VENV)/bin/python || $(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_PIP) install -q $(OLDEST_PINS) torchvision
	touch $@

test-oldest-torch: $(OLDEST_VENV)/.installed
	$(OLDEST_VENV)/bin/python -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__)"
	# --confcutdir: tests/conftest.py imports suite (hydra), which this venv does not need. Fast tier, as make test:
	# the 192-case Triton interpreter sweep is slow-tier.
	PYTHONPATH=$(CURDIR) $(OLDEST_VENV)/bin/python -m pytest -q -p no:cacheprovider -m "not slow" --confcutdir tests/norms tests/norms

bench: install
	$(PY) -m benchmarks.norms --write-readme README.md

study: install
	$(PY) -m suite.study profile=$(PROFILE) $(ARGS)

# README result tables from the committed results/<name>/ folders (suite/tables.py).
results: install
	$(PY) -m suite.tables --results results --readme README.md

clean:
	rm -rf runs reports wandb outputs multirun lightning_logs .pytest_cache
