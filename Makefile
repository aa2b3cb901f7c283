# GAS developer entry points. `make run` and `make test` set everything up first.
SHELL := /bin/bash
PYTHON312 ?= $(shell scripts/find-python312.sh)
VENV := .venv
PY := $(VENV)/bin/python
GAS := $(VENV)/bin/gas
STAMP := $(VENV)/.installed
export GAS_CACHE_DIR ?= $(HOME)/.cache/gas

.PHONY: setup bundles run test test-fast bench e2e reliability clean help

help:
	@echo "make run    - set up and start GAS locally"
	@echo "make test   - set up and run the whole test suite"
	@echo "make bench  - speed and concordance benchmarks (prints JSON lines)"

$(STAMP): pyproject.toml
	@test -n "$(PYTHON312)" || { scripts/find-python312.sh; exit 1; }
	@test -x $(PY) || $(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# Bundles are cached under $(GAS_CACHE_DIR) and rebuilt only when their source changes.
bundles: $(STAMP)
	$(GAS) bundle build --genome GRCh38
	$(GAS) bundle build --genome GRCh37

setup: $(STAMP) bundles

run: setup
	@echo "The embedded stack (gas up) arrives with the pipeline issue; for now annotate a file:"
	@echo "  $(GAS) annotate ../shared/data/course/test.vcf -o out/ --genome GRCh37"

test: setup
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

bench: setup
	$(PY) -m bench.engine_speed
	$(PY) -m bench.concordance

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
