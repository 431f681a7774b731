# Kefu: `make run` starts everything, `make test` proves it.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
KEFU := $(VENV)/bin/kefu
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: install run test test-sqlite test-postgresql e2e-deps bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# torch first, pinned: the CPU wheel on disk, never a multi-GB CUDA build.
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

run: install
	$(KEFU) db upgrade
	$(KEFU) demo --if-empty
	$(KEFU) run

e2e-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk) >/dev/null; }

test: install e2e-deps test-sqlite test-postgresql

test-sqlite: install
	KEFU_TEST_DB=sqlite $(PY) -m pytest $(PYTEST_ARGS)

test-postgresql: install
	KEFU_TEST_DB=postgresql $(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) -m bench

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy models web workers triage

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
