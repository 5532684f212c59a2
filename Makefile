# The daily interface of the monorepo. `make help` lists every target.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

POETRY_VERSION := 2.5.1
PYTHON ?= $(shell command -v python3.11 || command -v python3)
TOOLS := .tools
POETRY := $(TOOLS)/poetry/bin/poetry
VENV := .venv
RUN := $(VENV)/bin

# Poetry reads packages through pip's index (environment, then pip config, then pip's default),
# found at run time so that no registry host is ever written into the repository.
PIP_INDEX = $(or $(PIP_INDEX_URL),$(shell $(PYTHON) -m pip config get global.index-url 2>/dev/null),$(shell $(PYTHON) -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)'))
POETRY_ENV = POETRY_PYPI_MIRROR_URL="$(PIP_INDEX)" POETRY_VIRTUALENVS_IN_PROJECT=true POETRY_NO_INTERACTION=1

PROJECTS := $(wildcard packages/*) $(wildcard services/*)
PYPROJECTS := pyproject.toml $(addsuffix /pyproject.toml,$(PROJECTS))
# `make test PKG=db-user` tests one package or service alone.
PKG ?=
TEST_PATHS = $(if $(PKG),$(firstword $(wildcard packages/$(PKG) services/$(PKG)))/tests,)

##@ Setup
.PHONY: help
help: ## List every target with one line
	@awk 'BEGIN {FS = ":.*## "} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(POETRY):
	@echo "Installing Poetry $(POETRY_VERSION) into $(TOOLS)/poetry"
	$(PYTHON) -m venv $(TOOLS)/poetry
	$(TOOLS)/poetry/bin/pip install --quiet "poetry==$(POETRY_VERSION)" poetry-plugin-export poetry-plugin-pypi-mirror

$(VENV)/.installed: $(POETRY) poetry.lock $(PYPROJECTS)
	$(POETRY_ENV) $(POETRY) env use --quiet $(PYTHON)
	$(POETRY_ENV) $(POETRY) sync --all-groups
	@touch $@

.PHONY: install
install: $(VENV)/.installed ## Install the pinned Poetry when missing, then every dependency

.PHONY: lock
lock: $(POETRY) ## Re-resolve poetry.lock after a dependency change
	$(POETRY_ENV) $(POETRY) lock

##@ Quality
.PHONY: test
test: install ## Run the whole test suite (PKG=name tests one package or service)
	$(RUN)/pytest $(TEST_PATHS)

.PHONY: lint
lint: install ## ruff check, ruff format --check, mypy --strict, poetry check --lock
	$(RUN)/ruff check .
	$(RUN)/ruff format --check .
	@for dir in $(PROJECTS); do \
	  echo "mypy --strict $$dir"; \
	  $(RUN)/mypy $$dir/src $$(compgen -G "$$dir/tests/*.py" >/dev/null && echo $$dir/tests); \
	done
	$(RUN)/mypy tests
	$(POETRY_ENV) $(POETRY) check --lock

.PHONY: fmt
fmt: install ## Format and auto-fix the code
	$(RUN)/ruff check --fix .
	$(RUN)/ruff format .

##@ Run
.PHONY: config
config: install ## Validate the settings and print them (secrets masked)
	$(RUN)/python -m core_config

##@ Benchmarks
.PHONY: bench
bench: install ## Run the benchmarks side by side with their baselines (BENCH=name runs one)
	$(RUN)/python tests/bench/run.py $(BENCH)
