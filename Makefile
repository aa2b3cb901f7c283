# GAS developer entry points. `make run` and `make test` set everything up first.
SHELL := /bin/bash
PYTHON312 ?= $(shell scripts/find-python312.sh)
VENV := .venv
PY := $(VENV)/bin/python
GAS := $(VENV)/bin/gas
STAMP := $(VENV)/.installed
export GAS_CACHE_DIR ?= $(HOME)/.cache/gas

.PHONY: setup bundles run test test-fast bench e2e reliability clean help

include tools.mk

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

setup: $(STAMP) bundles tools

# Until the embedded stack lands (`gas up`, pipeline issue), `make run` annotates the example VCF.
run: setup
	$(GAS) annotate examples/course-test.vcf -o out/ --genome GRCh37
	@$(PY) -c "import json; s=json.load(open('out/course-test.summary.json')); print('most severe consequences:', json.dumps(s['by_consequence'], indent=1)); print('genes hit:', s['genes_hit'], '  Ti/Tv:', s['ti_tv'])"
	@echo "Browse it with pandas: $(PY) -c \"import pandas as pd; print(pd.read_parquet('out/course-test.parquet').head(20))\""

test: setup
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

bench: setup
	$(PY) -m bench.engine_speed
	$(PY) -m bench.concordance

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .aws-sam .pytest_cache build *.egg-info
