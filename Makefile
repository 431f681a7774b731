# Kefu: `make run` starts everything, `make test` proves it.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
KEFU := $(VENV)/bin/kefu
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: install run test test-sqlite test-postgresql e2e-deps mail-deps bench lint clean

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

# The browser tests drive Debian's chromium (never a Playwright download); CJK and emoji fonts
# make the pages (and their screenshots) render as they do for users.
e2e-deps:
	@{ command -v chromium && fc-list :lang=zh | grep -q . && fc-list | grep -qi emoji; } \
	  >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium and fonts for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    fonts-noto-cjk fonts-noto-color-emoji) >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { echo "chromium is missing: the e2e tests cannot run" >&2; exit 1; }

# The email tests run Debian's dovecot on loopback (started by the tests themselves).
mail-deps:
	@test -x /usr/sbin/dovecot || { \
	  echo "installing Debian's dovecot for the email tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd) >/dev/null; }
	@test -x /usr/sbin/dovecot || { echo "dovecot is missing: the email tests cannot run" >&2; exit 1; }

test: install e2e-deps mail-deps test-sqlite test-postgresql

test-sqlite: install
	KEFU_TEST_DB=sqlite $(PY) -m pytest $(PYTEST_ARGS)

# Pure unit and classifier tests touch no database: the PostgreSQL run skips re-running them.
test-postgresql: install
	KEFU_TEST_DB=postgresql $(PY) -m pytest tests/integration tests/e2e $(PYTEST_ARGS)

bench: install
	$(PY) -m bench

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy models web workers triage
	$(VENV)/bin/lint-imports --no-logo

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
