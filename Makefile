# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | sha1sum | cut -c1-12)

.PHONY: run test check bench install browsers clean audit lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Every dependency, direct or not, at the exact version in requirements.lock (`make lock` renews it).
$(STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
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
	$(BIN)/ruff check server sync tests scripts $(wildcard bench)
	$(BIN)/mypy

# Known vulnerabilities in requirements.lock and package-lock.json (scripts/audit.py, SECURITY.md).
# Fails when one is found, and also when the check could not be done (UNVERIFIED).
audit: install
	$(BIN)/python scripts/audit.py

# Renew requirements.lock: a clean Python 3.11 venv, the project with its test extra, pip freeze.
lock:
	rm -rf var/lock-venv
	$(PYTHON) -m venv var/lock-venv
	var/lock-venv/bin/pip install --quiet --upgrade pip
	var/lock-venv/bin/pip install --quiet '.[test]'
	{ sed -n '1,/^$$/p' requirements.lock; var/lock-venv/bin/pip freeze --exclude yorisoi; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	rm -rf var/lock-venv

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var/test-*
