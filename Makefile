# modelserve: train a Keras classifier, serve it behind TF Serving's API and a
# Flask gateway. `make help` lists the targets.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
EXTRAS ?= training,model-server,gateway,protos,dev
STAMP := $(VENV)/.installed
PROTO_SOURCES := $(shell find protos -name '*.proto')
PROTO_STAMP := protogen/.generated
CONFIG ?= training/configs/digits.yaml
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install protos train serve test test-fast test-faults lint clean up down logs train-container bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

install: $(STAMP) $(PROTO_STAMP) ## create .venv with every component's pinned dependencies and generate protogen/

# Re-runs only when the dependency pins change; pip itself is pinned too.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==26.3
	$(PIP) install --quiet -c constraints.txt -e ".[$(EXTRAS)]" --config-settings editable_mode=compat
	touch $@

protos: $(PROTO_STAMP) ## generate the protogen/ package from protos/*.proto

$(PROTO_STAMP): $(PROTO_SOURCES) scripts/gen_protos.py $(STAMP)
	$(PY) scripts/gen_protos.py
	touch $@

train: install ## train $(CONFIG) (default: digits) and publish a new model version under models/
	$(PY) -m training --config $(CONFIG) $(ARGS)

serve: install ## train digits if models/ is empty, then run the model server and the gateway on 127.0.0.1:8000 (Ctrl-C stops both)
	$(PY) -m serving.devstack $(ARGS)

test: install ## the whole test suite but the fault scenarios (CI runs both)
	$(PY) -m pytest -m "not faults" $(PYTEST_ARGS)

test-faults: install ## the fault and load scenarios on real processes, a few minutes (docs/operations.md)
	$(PY) -m pytest -m faults tests/faults $(PYTEST_ARGS)

test-fast: install ## the tests not marked slow
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install ## ruff
	$(VENV)/bin/ruff check .

# Performance (README, "Performance"): trains or reuses digits and wide under bench/out/,
# measures every cell with wrk (installed from Debian if missing), and writes
# bench/results.{json,md,png}. BENCH_* variables tune it (bench/config.py).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
bench: install ## benchmark the gateway against the backend alone and in-process baselines (~15 min)
	@command -v wrk >/dev/null || $(SUDO) apt-get install -y wrk || { $(SUDO) apt-get update && $(SUDO) apt-get install -y wrk; }
	$(PY) -m bench

# Deployment with docker compose (README, "Deployment"). VARIANT=cpu: docker-compose.cpu.yml,
# for hosts without a GPU. The containers run as your uid:gid, root mapped to 1000 (no
# container runs as root), so the files in models/ and runs/ stay yours.
VARIANT ?= gpu
COMPOSE_YML := $(if $(filter cpu,$(VARIANT)),docker-compose.cpu.yml,docker-compose.yml)
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
HOST_UID ?= $(shell u=$$(id -u); [ "$$u" = 0 ] && echo 1000 || echo $$u)
HOST_GID ?= $(shell g=$$(id -g); [ "$$g" = 0 ] && echo 1000 || echo $$g)
DC = HOST_UID=$(HOST_UID) HOST_GID=$(HOST_GID) $(COMPOSE) -f $(COMPOSE_YML)

up: ## start TF Serving and the gateway on :8000 (docker compose; VARIANT=cpu without a GPU)
	@test -f models/models.config || { echo "models/models.config is missing: run 'make train-container' first" >&2; exit 1; }
	$(DC) up -d --build

down: ## stop and remove the containers (models/ and runs/ are kept)
	$(DC) down

logs: ## follow the containers' logs
	$(DC) logs -f --tail=200

train-container: ## train $(CONFIG) in the training container; TF Serving picks the new version up
	mkdir -p models runs
	if [ "$$(id -u)" = 0 ]; then chown $(HOST_UID):$(HOST_GID) models runs; fi
	$(DC) build train
	$(DC) run --rm train --config $(CONFIG) $(ARGS)

clean: ## remove the virtualenv and generated code (models/ and runs/ are kept)
	rm -rf $(VENV) protogen .pytest_cache
