# Every target creates the virtualenv it needs from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTO_SRC := protos/visionstudio/image/v1/image_service.proto
GEN_DIR := src/visionstudio/image/v1
DATA_DIR ?= .data

.PHONY: install proto proto-check lint typecheck test run fake-openai bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Regenerates the Python modules and type stubs from the contract.
proto: $(STAMP)
	$(BIN)/python tools/genproto.py

# Fails when the checked-in generated code differs from what `make proto` writes.
proto-check: $(STAMP)
	$(BIN)/python tools/genproto.py --check

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy

test: proto-check lint
	$(BIN)/pytest -q

# Runs the service. With no VISIONSTUDIO_API_KEYS a development key is created
# in $(DATA_DIR)/dev-api-key and printed.
run: $(STAMP)
	$(BIN)/visionstudio-server --data-dir $(DATA_DIR) --dev-key

# A local OpenAI-compatible Images API (no real images, no cost) for trying the service.
fake-openai: $(STAMP)
	$(BIN)/python -m visionstudio.testing.fake_openai --port 8600

bench: $(STAMP)
	$(BIN)/python -m bench.latency

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
