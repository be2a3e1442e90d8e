# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test check bench install browsers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium (and WebKit's driver) for the browser tests; Playwright never downloads a browser here.
browsers:
	@bash .ci/ensure-browsers

run: install
	$(BIN)/yorisoi migrate
	$(BIN)/yorisoi demo
	$(BIN)/yorisoi serve --host 127.0.0.1 --port 8000

# Test-only JavaScript tools (axe-core for the accessibility checks); the app itself has no build step.
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

test: install browsers node_modules/.package-lock.json
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: install
	$(BIN)/ruff check server sync tests $(wildcard bench)
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var/test-*
