# Two entry points, each doing all set-up into .venv on a fresh machine:
#   make quickstart   Figure 5 on the built-in data: a 2x2 sub-grid (crop, colour), 3 seeds, heatmap written
#   make test         the test suite (what CI runs)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

.PHONY: setup quickstart test
setup: $(VENV)/.installed

quickstart: $(VENV)/.installed
	$(PY) studies/run.py augmentation_grid --operators crop,color --symmetric --seeds 3 --workers 2 \
		--set train.steps=200 --set train.precision=auto --results results/quickstart

test: $(VENV)/.installed
	bash scripts/browser-install.sh  # the report's browser test (skips, saying why, where it cannot install)
	# two workers: the cluster tests (mostly waiting on SLURM and Ray) overlap the rest; the slowest listed
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=15 tests
