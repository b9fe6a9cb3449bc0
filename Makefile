# Learning Studio — the two commands a newcomer runs, and the developer's helpers.
#   make demo   set up (idempotent) and start the embedded default: portal + JupyterHub on 127.0.0.1
#   make test   set up what the tests need and run the whole suite
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: demo test test-fast setup setup-test lint format clean

setup:
	@bash scripts/setup.sh demo

setup-test:
	@bash scripts/setup.sh test

demo: setup
	@$(PY) scripts/embedded.py demo

test: setup-test
	@$(PY) -m pytest $(PYTEST_ARGS)

# Everything except the browser and multi-process integration tests (a minute or so).
test-fast: setup-test
	@$(PY) -m pytest -m "not e2e and not integration and not docker" $(PYTEST_ARGS)

lint: setup-test
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .
	@! grep -rn --include='*.py' --exclude-dir=.venv --exclude-dir=node_modules 'fmt: skip' . \
		|| { echo 'ruff format owns the layout (line length 120): no "# fmt: skip"' >&2; exit 1; }
	@cd portal && STUDIO_PORTAL_DATA_DIR=$$(mktemp -d) ../$(PY) manage.py makemigrations --check --dry-run \
		--settings=studio_portal.settings.test

format: setup-test
	@.venv/bin/ruff format . && .venv/bin/ruff check --fix .

clean:
	rm -rf var .venv tests/artifacts
