# Every target creates the virtualenv it needs from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= .data

.PHONY: install proto proto-check lint test run fake-openai demo bench bench-peer-install clean deploy-lint

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
	$(BIN)/ruff check server client/visionstudio tests bench tools
	$(BIN)/ruff format --check server client/visionstudio tests bench tools
	$(BIN)/mypy

# The Python checks and suite first, then the contract gate, the reference and the Node client.
test: system-deps proto-check lint deploy-lint
	$(BIN)/pytest -q
	$(MAKE) --no-print-directory proto-lint docs-check node-test

# The Dockerfile's lint (hadolint from its PyPI wheel; no image is built or pulled). The
# Compose file, the Kubernetes manifests and the dashboards are checked by tests/deploy.
deploy-lint: $(STAMP)
	$(BIN)/hadolint Dockerfile

# PostgreSQL's server binaries and Chromium for the tests, from Debian's packages when missing.
system-deps:
	@tools/system-deps.sh

# Runs the service. With no VISIONSTUDIO_API_KEYS a development key is created
# in $(DATA_DIR)/dev-api-key and printed.
run: $(STAMP)
	$(BIN)/visionstudio-server --data-dir $(DATA_DIR) --dev-key

# A local OpenAI-compatible Images API (no real images, no cost) for trying the service.
fake-openai: $(STAMP)
	$(BIN)/python -m tests.fake_openai --port 8600

# Example inputs for the README's commands: demo/photo.png, demo/photo.jpg, demo/mask.png.
demo: $(STAMP)
	$(BIN)/python tools/demo_inputs.py demo

# About 20 minutes on the 2-core machine; `python -m bench.perf --help` picks sections.
bench: $(STAMP)
	$(BIN)/python -m bench.latency
	$(BIN)/python -m bench.edit
	$(BIN)/python -m bench.prep
	$(BIN)/python -m bench.load --streams 100 --rounds 3
	$(BIN)/python -m bench.perf
	$(BIN)/python -m bench.peer
	$(BIN)/python -m bench.budget
	$(BIN)/python -m bench.burst
	$(BIN)/python -m bench.deployments
	$(BIN)/python -m bench.attacks
	$(BIN)/python -m bench.slowloris
	$(BIN)/python -m bench.restarts
	$(BIN)/python -m bench.batches
	$(BIN)/python -m bench.transfer

# LiteLLM's proxy for `python -m bench.peer`, in a virtualenv of its own (see pyproject.toml).
bench-peer-install:
	$(PYTHON) -m venv .venv-litellm
	.venv-litellm/bin/pip install --quiet --upgrade pip
	.venv-litellm/bin/pip install --quiet --group bench

clean:
	rm -rf $(VENV) .venv-litellm .mypy_cache .pytest_cache .ruff_cache

# --- Contract gate, generated reference, Node.js client -------------------------------------
NODE_DIR := client/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
BUF := $(NODE_DIR)/node_modules/.bin/buf
# The last released contract: `buf breaking` fails on any change that would break its callers.
PROTO_BASELINE := protos/released/visionstudio-image-v1.binpb

.PHONY: node-install node-gen node-test proto-lint proto-release docs docs-check

# npm ci from the lockfile (buf ships inside its npm package); again only when either changes.
node-install: $(NODE_STAMP)

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

# buf lint (STANDARD + COMMENTS, see buf.yaml) and buf breaking against the released contract.
proto-lint: $(NODE_STAMP)
	$(BUF) lint
	$(BUF) format --diff --exit-code protos
	$(BUF) breaking --against $(PROTO_BASELINE)

# Run when a version of the contract is released: later changes are checked against it.
proto-release: $(NODE_STAMP)
	$(BUF) build --exclude-source-info -o $(PROTO_BASELINE)

# docs/api-reference.md from the proto comments.
docs: $(STAMP)
	$(BIN)/python tools/protodoc.py

docs-check: $(STAMP)
	$(BIN)/python tools/protodoc.py --check

# Regenerates the Node client's TypeScript from the protos (after `make proto`).
node-gen: $(NODE_STAMP)
	cd $(NODE_DIR) && npm run --silent generate

# Generated code fresh, strict tsc build, then node --test against the real server.
node-test: $(STAMP) $(NODE_STAMP)
	cd $(NODE_DIR) && npm run --silent generate:check
	cd $(NODE_DIR) && npm test
