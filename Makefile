# The two Quickstart commands: `make run` (main job on the synthetic default) and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: install run test lint bench viz repro clean mutation

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	touch $@

install: $(VENV)/.installed

# The main job: builds the dataset where it is absent, trains WSDNet, evaluates it on the test split.
run: install
	$(VENV)/bin/kedro run --pipeline=train_urur
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc metrics show data/08_reporting/test_metrics.json
	@echo "Outputs are under data/ (test metrics, per-class IoU and the dataset statistics in data/08_reporting)."
	@echo "Next: open data/08_reporting/report.html (the report: metrics, where the model fails, the data)."

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports  # the layers and independence contracts in pyproject.toml

# pytest exits 5 when it collected no test: that is a failure here, as any non-zero code.
test: lint
	$(VENV)/bin/pytest -q

# Mutation score of the core modules against their fast tests (docs/testing.md); slow, not in CI.
mutation: install
	$(PY) -m pip install -q -c constraints.txt -e ".[test,mutation]"
	rm -rf mutants  # a fresh measurement: mutmut keeps old verdicts otherwise
	OMP_NUM_THREADS=1 nice -n 10 $(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results --all true | sed -E 's/^ *urur\.([a-z_.]*)\.x.*: (.*)$$/\1 \2/' | sort | uniq -c

bench: install
	for script in benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

repro: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro

viz: install
	$(VENV)/bin/kedro viz build

clean:
	rm -rf build .pytest_cache .ruff_cache mutants
