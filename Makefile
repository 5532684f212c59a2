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
# Development-only projects, never released: the local stack and the shared test support.
DEV_PROJECTS := infra/local test-support
PYPROJECTS := pyproject.toml $(addsuffix /pyproject.toml,$(PROJECTS) $(DEV_PROJECTS))
# `make test PKG=db-user` tests one package or service alone.
PKG ?=
# Test workers (pytest-xdist): `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 4
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
	@# Poetry keeps an editable project whose version did not change even when its metadata (console
	@# scripts, entry points) did: drop our own projects' records so that sync installs them afresh.
	@for dir in $(PROJECTS) $(DEV_PROJECTS); do \
	  name=$$(sed -n 's/^name = "\(.*\)"/\1/p' $$dir/pyproject.toml | head -1 | tr - _); \
	  rm -rf $(VENV)/lib/python*/site-packages/$$name-*.dist-info; \
	done
	$(POETRY_ENV) $(POETRY) sync --all-groups
	@touch $@

# Bytecode for every module, written once here as pip would at install (Poetry does not): a process
# started where PYTHONDONTWRITEBYTECODE is set (as in the images) otherwise compiles every module it
# imports, every time it starts; the test suite starts hundreds. A source edited later is compiled
# again at import, as always.
$(VENV)/.compiled: $(VENV)/.installed
	$(RUN)/python -m compileall -q -j 0 $(VENV)/lib $(wildcard $(addsuffix /src,$(PROJECTS) $(DEV_PROJECTS))) infra/local/local_stack >/dev/null
	@touch $@

.PHONY: install
install: $(VENV)/.installed $(VENV)/.compiled ## Install the pinned Poetry when missing, then every dependency

.PHONY: lock
lock: $(POETRY) ## Re-resolve poetry.lock after a dependency change
	$(POETRY_ENV) $(POETRY) lock

##@ Quality
.PHONY: test
test: install ## Run the whole test suite (PKG=name tests one package or service)
	@# PostgreSQL and Redis on the default ports are used as they are; without them, embedded ones.
	@# The whole suite leaves its JUnit report (times per test) for `make bench BENCH=startup`.
	@# Four workers, a file each at a time (its module fixtures stay whole): most tests wait on real
	@# processes and servers, so four share two cores well.
	$(RUN)/python infra/local/stack.py test-servers -- $(RUN)/pytest -n $(TEST_WORKERS) --dist loadfile $(TEST_PATHS) $(if $(PKG),,--junitxml=.bench/test-suite.xml)

.PHONY: soak
soak: install ## The order and account scenarios at full sizes (1,000 faulted orders, 10,000 random ones, 50 users; 500 orders, 50 stream drops)
	ORDERS_SOAK=1 ACCOUNTS_SOAK=1 $(RUN)/python infra/local/stack.py test-servers -- $(RUN)/pytest -n 0 --timeout 0 tests/test_orders_api.py tests/test_orders_kill.py tests/test_accounts.py

.PHONY: lint
lint: install ## ruff check, ruff format --check, mypy --strict, the import contracts, poetry check --lock
	$(RUN)/ruff check .
	$(RUN)/ruff format --check .
	@for dir in $(PROJECTS); do \
	  echo "mypy --strict $$dir"; \
	  $(RUN)/mypy $$dir/src $$(compgen -G "$$dir/tests/*.py" >/dev/null && echo $$dir/tests); \
	done
	$(RUN)/mypy tests infra/local test-support/src tools conftest.py
	@$(MAKE) --no-print-directory lint-imports
	$(POETRY_ENV) $(POETRY) check --lock

# The sources of this checkout come first on the path, so the contracts judge the files here even
# where the environment's editable installs point at another checkout.
SOURCE_PATHS = $(subst $(eval) ,:,$(abspath $(addsuffix /src,$(PROJECTS))))

.PHONY: lint-imports
lint-imports: ## The layering contracts alone (import-linter; [tool.importlinter] in pyproject.toml)
	PYTHONPATH=$(SOURCE_PATHS) $(RUN)/lint-imports --no-cache

.PHONY: fmt
fmt: install ## Format and auto-fix the code, then report what needs a hand
	@# Formatting never waits on a finding ruff cannot fix; a fix may leave lines to re-wrap, so the
	@# format runs again after it, and the exit status is the findings'.
	$(RUN)/ruff format .
	status=0; $(RUN)/ruff check --fix . || status=$$?; $(RUN)/ruff format --quiet .; exit $$status

##@ Monorepo
BASE ?=

.PHONY: test-affected
test-affected: install ## Test what changed since BASE (default: merge base with main) and its dependents
	$(RUN)/python tools/affected.py $(if $(BASE),--base $(BASE)) -- \
	  $(RUN)/python infra/local/stack.py test-servers -- $(RUN)/pytest -n $(TEST_WORKERS) --dist loadfile

.PHONY: settings-docs
settings-docs: install ## Write the README's settings table and .env.example from core_config.Settings
	$(RUN)/python tools/settings_docs.py

.PHONY: graph
graph: ## Show the package graph: what each package and service uses and what uses it
	@$(PYTHON) tools/graph.py

.PHONY: dist
dist: install ## Build wheel and sdist of each package and service into dist/ (PKG=name: one), twine-checked
	$(RUN)/python tools/dist.py $(PKG)

##@ Run
.PHONY: run
run: install ## The whole stack in the foreground: servers (embedded when none), migrations, api, worker, beat, stream, accounts
	$(RUN)/python infra/local/stack.py run

.PHONY: run-api
run-api: install ## The API alone under uvicorn (api-serve), on the configured databases and Redis
	$(RUN)/api-serve

.PHONY: config
config: install ## Validate the settings and print them (secrets masked)
	$(RUN)/python -m core_config

##@ Benchmarks
.PHONY: bench
bench: install ## Run the benchmarks side by side with their baselines (BENCH=name runs one)
	$(RUN)/python tests/bench/run.py $(BENCH)

##@ Images and deployment
# A running Docker engine is used as is; without one, the scripts build and run with podman (and
# podman-compose, with stand-ins for the PostgreSQL and Redis images).
# `make up SIMULATED=1` runs the stack against the fake exchange instead of Bybit.
SIMULATED ?=
# The containers run as the image's user, or as the caller, who then owns the master key file.
APP_USER = $(shell [ "$$(id -u)" = 0 ] && echo 10001:10001 || echo "$$(id -u):$$(id -g)")

.PHONY: requirements
requirements: $(POETRY) ## Regenerate each service's requirements.txt (pinned, hashed) from poetry.lock
	$(POETRY_ENV) $(PYTHON) infra/images/requirements.py $(POETRY)

.PHONY: images
images: ## Build the api and worker images (docker build, or podman without a Docker engine)
	infra/images/build.sh

.PHONY: image-test
image-test: install ## Build the images, run them on local PostgreSQL and Redis, then the whole compose stack; clean up
	infra/images/image-test.sh

.PHONY: up
up: install ## Start the whole stack with compose (api on http://127.0.0.1:8000)
	infra/images/build.sh api worker postgres redis
	infra/images/master-key.sh .local/compose/master.key $(APP_USER)
	APP_USER=$(APP_USER) SIMULATED=$(SIMULATED) infra/images/stack.sh up

.PHONY: down
down: ## Stop the compose stack and remove its containers (volumes are kept)
	SIMULATED=$(SIMULATED) infra/images/stack.sh down

##@ Databases
# URLs come from DATABASE_URL_USER / DATABASE_URL_GENERAL (environment or .env); see packages/db-core.
DB ?=
MSG ?=

.PHONY: migrate
migrate: install ## Migrate both databases (user, general) to head
	$(RUN)/db-migrate upgrade

.PHONY: migrate-user
migrate-user: install ## Migrate the user database to head
	$(RUN)/db-migrate upgrade user

.PHONY: migrate-general
migrate-general: install ## Migrate the general database to head
	$(RUN)/db-migrate upgrade general

.PHONY: revision
revision: install ## Autogenerate a migration from the models: make revision DB=user|general MSG="..."
	@test -n "$(DB)" -a -n "$(MSG)" || { echo 'usage: make revision DB=user|general MSG="what changed"'; exit 2; }
	$(RUN)/db-migrate revision $(DB) -m "$(MSG)"
	$(RUN)/ruff format --quiet packages/db-$(DB)/src/db_$(DB)/migrations/versions

.PHONY: db-check
db-check: install ## Fail when models and migrations differ (drift), for both databases
	$(RUN)/db-migrate check

##@ Worker
.PHONY: run-worker
run-worker: install ## Run the Celery worker (syncs market data from Bybit into the general database)
	$(RUN)/worker-service worker

.PHONY: run-beat
run-beat: install ## Run beat, the sync scheduler (one instance only)
	@mkdir -p .local
	$(RUN)/worker-service beat --schedule .local/celerybeat-schedule

.PHONY: run-stream
run-stream: install ## Run the live kline stream (Bybit's WebSocket -> general database; one instance only)
	$(RUN)/worker-service stream
