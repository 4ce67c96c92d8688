# Real-time attribution pipeline — the commands of the README.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.13.8
# The machine's Python 3.11 when it has one: uv never downloads an interpreter then. Without one, uv
# finds another 3.11 or installs its own managed 3.11; where it cannot, setup says what to install.
ifneq ($(shell command -v $(PYTHON) 2>/dev/null),)
export UV_PYTHON_DOWNLOADS := never
VENV_PYTHON := $(PYTHON)
else
export UV_PYTHON_DOWNLOADS := automatic
VENV_PYTHON := 3.11
endif
NO_PYTHON := make setup needs Python 3.11 and found none ($(PYTHON) is missing and uv could not download one): install it (Debian/Ubuntu: apt install python3.11 python3.11-venv) or name it with make PYTHON=/path/to/python3.11
# $(call make_venv,dir): a virtualenv on that interpreter, once.
make_venv = test -x $(1)/bin/python || $(UV) venv --quiet --python $(VENV_PYTHON) $(1) || { echo "$(NO_PYTHON)" >&2; exit 1; }
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
VENV := .venv
DBT_VENV := .venv-dbt
EMULATOR_VENV := .venv-emulator
PY := $(VENV)/bin/python
DBT_SOURCES := $(shell find dbt -path dbt/target -prune -o -path dbt/logs -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print 2>/dev/null)
ARGS ?=

# Test tiers (tests/tiers.py): the fast tier is every test that needs none of these markers.
FAST_TIER := not (dbt or airflow or bigquery or browser or debian or compose)
# The heavy tiers wait on processes much of the time (Airflow's loops, the emulator, dbt starting): two
# workers on two cores, each test file on one worker, the longest first (tests/conftest.py).
PYTEST_WORKERS ?= 2

.PHONY: help setup lock demo stop dashboard run-once dbt env test test-fast test-compose lint pytest test-packages compose-packages bench soak clean

help:  ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: $(VENV)/.synced $(DBT_VENV)/.synced dbt/target/manifest.json dbt/target/index.html  ## Install both environments, build the dbt manifest and docs (idempotent)

.tools/bin/uv:
	$(or $(shell command -v $(PYTHON) python3 2>/dev/null | head -1),$(error $(NO_PYTHON))) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# Bytecode is compiled at install time: where PYTHONDONTWRITEBYTECODE is set (CI machines and images
# often set it) nothing else caches it, and every process compiles all it imports again. Measured on a
# 2-core machine: dbt parse 6.7 s -> 3.4 s, `airflow version` 5.3 s -> 3.1 s; the tests start hundreds.
SYNC := pip sync --quiet --compile-bytecode

# The .pth file puts `include/` on the path: the DAG, the tests and the CLIs import `attribution`.
$(VENV)/.synced: requirements.lock | $(UV)
	@$(call make_venv,$(VENV))
	VIRTUAL_ENV=$(VENV) $(UV) $(SYNC) requirements.lock
	echo "$(CURDIR)/include" > $$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/attribution-include.pth
	touch $@

$(DBT_VENV)/.synced: requirements-dbt.lock | $(UV)
	@$(call make_venv,$(DBT_VENV))
	VIRTUAL_ENV=$(DBT_VENV) $(UV) $(SYNC) requirements-dbt.lock
	touch $@

# Test-only: the BigQuery and Cloud Storage emulators (see tests/emulators.py).
$(EMULATOR_VENV)/.synced: requirements-emulator.lock | $(UV)
	@$(call make_venv,$(EMULATOR_VENV))
	VIRTUAL_ENV=$(EMULATOR_VENV) $(UV) $(SYNC) requirements-emulator.lock
	touch $@

# Cosmos renders the DAG from this manifest, so parsing the DAG never runs dbt.
dbt/target/manifest.json: $(DBT_SOURCES) $(VENV)/.synced $(DBT_VENV)/.synced
	$(PY) -m attribution.dbt_cli parse --quiet
	touch $@

# The dbt docs that Cosmos's plugin serves in the Airflow UI: models, columns, tests and lineage from
# the manifest, no warehouse needed. `make dbt ARGS="docs generate"` adds column types and compiled SQL.
dbt/target/index.html: dbt/target/manifest.json
	$(PY) -m attribution.dbt_cli docs generate --no-compile --empty-catalog --quiet

# Test-only system packages: Debian's Chromium and its WebDriver for the browser tests, Debian's
# docker-compose to validate docker-compose.yaml (`config` needs no Docker engine). The compose test
# adds a Docker engine (docker.io, containerd, runc) and debootstrap for its stand-in base images.
TEST_PACKAGES := chromium chromium-driver docker-compose
TEST_COMMANDS := chromium chromedriver docker-compose
COMPOSE_PACKAGES := docker.io containerd runc docker-compose debootstrap
COMPOSE_COMMANDS := dockerd containerd runc docker-compose debootstrap
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# $(call apt_install,commands,packages): install the packages when one of the commands is missing.
apt_install = for c in $(1); do command -v $$c >/dev/null || missing=1; done; test -z "$$missing" || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(2); }
test-packages:
	@$(call apt_install,$(TEST_COMMANDS),$(TEST_PACKAGES))
compose-packages:
	@$(call apt_install,$(COMPOSE_COMMANDS),$(COMPOSE_PACKAGES))

env: $(VENV)/.synced  ## Write .env for docker compose with fresh secrets (keeps values already set)
	$(PY) -m attribution.compose_env

lock: | $(UV)  ## Re-resolve both lock files from requirements*.txt
	$(UV) pip compile --quiet requirements.txt -o requirements.lock --python-version 3.11 --python-platform x86_64-manylinux_2_28
	$(UV) pip compile --quiet requirements-dbt.txt -o requirements-dbt.lock --override uv-overrides.txt --python-version 3.11 --python-platform x86_64-manylinux_2_28
	$(UV) pip compile --quiet requirements-emulator.txt -o requirements-emulator.lock --python-version 3.11 --python-platform x86_64-manylinux_2_28

# The demo's synthetic users log in, some on a second device: it reports with the blended identity to
# show what stitching changes (docs/identity.md); make demo ATTRIBUTION_REPORTING_IDENTITY=device compares.
demo: export ATTRIBUTION_REPORTING_IDENTITY ?= blended
demo: setup  ## Airflow UI on 127.0.0.1:8080, dashboard on :8501, the pipeline on schedule, a first run awaited
	$(PY) -m attribution.local_stack start

stop:  ## Stop everything `make demo` started
	@test -x $(PY) && $(PY) -m attribution.local_stack stop || true

dashboard: setup  ## The dashboard alone on http://127.0.0.1:8501 (reads what the pipeline published)
	$(PY) -m attribution.local_stack dashboard

run-once: setup  ## Exactly one DAG run (airflow dags test); exit code = the run's outcome
	$(PY) -m attribution.local_stack run-once

dbt: setup  ## dbt against the configured target, e.g. make dbt ARGS="build -s mart_first_click"
	$(PY) -m attribution.dbt_cli $(ARGS)

lint: setup  ## ruff and sqlfluff
	$(VENV)/bin/ruff check dags include plugins tests benchmarks
	$(VENV)/bin/ruff format --check dags include plugins tests benchmarks
	cd dbt && ../$(DBT_VENV)/bin/sqlfluff lint --processes 2 models macros tests

test-fast: lint  ## Lint and the tests that need no dbt, Airflow, emulator, browser or Docker (about a minute)
	$(VENV)/bin/pytest -m "$(FAST_TIER)"

pytest: setup $(EMULATOR_VENV)/.synced test-packages
	$(VENV)/bin/pytest --numprocesses $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder

test: lint pytest  ## Lint, then every test but the compose stack's (about 13 minutes)

test-compose: setup test-packages compose-packages  ## Build the image, run docker-compose.yaml in a Docker engine of its own (stand-in base images)
	$(VENV)/bin/pytest -m compose --capture=tee-sys tests/docker

bench: setup $(EMULATOR_VENV)/.synced  ## Performance figures against same-run baselines; writes BENCHMARKS.md (16–26 min)
	$(PY) benchmarks/run.py $(ARGS)

soak: setup  ## 50 runs while files land at random intervals, then every invariant checked (~30 min)
	$(PY) benchmarks/soak.py $(ARGS)

clean: stop  ## Remove environments, runtime data and build output
	rm -rf $(VENV) $(DBT_VENV) $(EMULATOR_VENV) .tools .airflow data dbt/target dbt/logs
