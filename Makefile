# Depot: `make run` sets everything up and serves http://127.0.0.1:8000; `make test` sets up and runs the tests.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
VAR := $(or $(DEPOT_VAR_DIR),var)
# pip prints one warning per package for mirror folders it skips; they are noise here.
PIP_QUIET := 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true

.PHONY: setup run serve worker test test-fast lint format benchmarks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip $(PIP_QUIET)

# Reinstall only when a requirements file changed.
$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt $(PIP_QUIET)
	$(BIN)/python -c "import torch, timm, django" 
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/python manage.py migrate --no-input -v 0
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py import_timm
	$(BIN)/python manage.py collectstatic --no-input -v 0
	HOST=$(HOST) PORT=$(PORT) scripts/serve.sh

test: setup
	scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

benchmarks: setup
	$(BIN)/python benchmarks/catalog_list.py
	$(BIN)/python benchmarks/harness.py
	$(BIN)/python benchmarks/starter_bundle.py

clean:
	rm -rf $(VENV) var
