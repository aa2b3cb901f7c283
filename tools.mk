# Deployment tools (SAM CLI, cfn-lint, statelint) in their own virtualenv, .venv-tools:
# aws-sam-cli pins boto3, click and tomlkit, so it must not share the app's .venv.
# Include from the Makefile with `include tools.mk`; make `setup` depend on `tools`.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
# Versions verified together (Nov 2026); cfn-lint is aws-sam-cli's own dependency (sam validate --lint).
TOOLS_PKGS := aws-sam-cli==1.170.0 cfn-lint==1.58.0 statelint==3.1.0
SAM := $(TOOLS_VENV)/bin/sam
SAM_BUILD_DIR ?= .aws-sam/build
# sam build needs a `python3.12` on PATH for the python3.12 runtime (pyenv shims refuse to run):
# put the folder of the interpreter find-python312.sh found first.
SAM_PATH = $(dir $(abspath $(PYTHON312))):$(PATH)
export SAM_CLI_TELEMETRY := 0

.PHONY: tools validate sam-build

$(TOOLS_STAMP): tools.mk
	@test -n "$(PYTHON312)" || { scripts/find-python312.sh; exit 1; }
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON312) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install -q --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install -q $(TOOLS_PKGS)
	@touch $@

tools: $(TOOLS_STAMP)

# Offline checks of the template and the state machine (tests/integration/test_template.py runs
# the same ones under `make test`).
validate: $(TOOLS_STAMP)
	$(SAM) validate --lint --template template.yaml
	$(SAM) validate --region us-east-1 --template template.yaml
	sed -e 's/\$${ArchiveTopicArn}/arn:aws:sns:us-east-1:123456789012:gas-archive/' \
	    -e 's/\$${DefaultWaitSeconds}/300/' statemachines/archive.asl.json > $(TOOLS_VENV)/archive.asl.json
	$(TOOLS_VENV)/bin/statelint $(TOOLS_VENV)/archive.asl.json

# Builds the four functions and the core layer (pip fetches Powertools and pydantic from PyPI).
sam-build: $(TOOLS_STAMP)
	PATH="$(SAM_PATH)" $(SAM) build --template template.yaml --build-dir $(SAM_BUILD_DIR)
