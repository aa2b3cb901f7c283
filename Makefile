# GAS developer entry points. `make run` and `make test` set everything up first.
SHELL := /bin/bash
PYTHON312 ?= $(shell scripts/find-python312.sh)
VENV := .venv
PY := $(VENV)/bin/python
GAS := $(VENV)/bin/gas
STAMP := $(VENV)/.installed
export GAS_CACHE_DIR ?= $(HOME)/.cache/gas

.PHONY: setup bundles bytecode run demo test test-fast bench e2e reliability clean help

include tools.mk

help:
	@echo "make run    - set up and start GAS locally (the embedded stack; Ctrl-C stops it)"
	@echo "make demo   - set up and annotate the example VCF without the stack"
	@echo "make test   - set up and run the test suite (all but the long runs of make reliability)"
	@echo "make e2e    - the end-to-end tests only (embedded stack, real browser; screenshots in build/)"
	@echo "make reliability - faults, hostile input, access control at full size (docs/reliability.md)"
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

# Bytecode for our own packages, as pip writes it for installed ones: an editable install has
# none, and where PYTHONDONTWRITEBYTECODE is set (CI, containers) every process would compile
# the sources again (~40 ms of each `gas annotate` start, the reader process's too). Incremental.
bytecode: $(STAMP)
	@$(PY) -m compileall -q annotator gas ui functions bench > /dev/null

setup: $(STAMP) bundles tools bytecode

# The embedded stack in the foreground (Ctrl-C stops it; state is kept in $(GAS_DATA_DIR)).
export GAS_DATA_DIR ?= $(HOME)/.local/share/gas
run: setup
	@echo "Starting GAS locally. In another terminal, try:"
	@echo "  $(GAS) users add alice --email alice@example.org"
	@echo "  $(GAS) submit examples/course-test.vcf --user alice --wait"
	@echo "  $(GAS) jobs --user alice     # then: $(GAS) results JOB_ID --user alice -o out.parquet"
	@echo "  $(GAS) outbox                # the completion email"
	@echo "or open http://127.0.0.1:8501 and sign in with the e-mail and the password 'users add' printed."
	$(GAS) up --genome GRCh37

# Annotate one file without the stack.
demo: setup
	$(GAS) annotate examples/course-test.vcf -o out/ --genome GRCh37
	@$(PY) -c "import json; s=json.load(open('out/course-test.summary.json')); print('most severe consequences:', json.dumps(s['by_consequence'], indent=1)); print('genes hit:', s['genes_hit'], '  Ti/Tv:', s['ti_tv'])"

# Everything but the long fault runs of tests/reliability (marked reliability_slow; `make reliability`).
test: setup
	$(PY) -m pytest -q -m "not reliability_slow"

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

# Real-browser tests of the web app against `gas up` (Debian chromium; screenshots in
# build/e2e-screenshots/). Part of `make test` too.
e2e: setup
	$(PY) -m pytest -q tests/e2e

# Fault injection, hostile input and access control (tests/reliability, docs/reliability.md) with the
# full parameters: a 40-job kill -9 storm, stack stop/start and crash, the decompression bomb,
# 10,000 fuzz examples. Prints what it measured (build/reliability/measurements.jsonl).
RELIABILITY_LOG := build/reliability/measurements.jsonl
reliability: setup
	@mkdir -p build/reliability && if [ -f $(RELIABILITY_LOG) ]; then mv $(RELIABILITY_LOG) $(RELIABILITY_LOG:.jsonl=.prev.jsonl); fi
	GAS_RELIABILITY_FULL=1 $(PY) -m pytest -q tests/reliability
	$(PY) -m tests.reliability.report $(RELIABILITY_LOG)

bench: setup
	$(PY) -m bench.engine_speed
	$(PY) -m bench.concordance
	$(PY) -m bench.pipeline
	$(PY) -m bench.ui_jobs
	$(PY) -m bench.ui_results

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .aws-sam .pytest_cache build *.egg-info
