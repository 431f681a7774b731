# Kefu: `make run` starts everything, `make test` proves it.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
KEFU := $(VENV)/bin/kefu
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: install run test test-fast test-sqlite test-postgresql test-clock e2e-deps mail-deps bench lint clean

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

# The two databases' runs go side by side (each has its own database, Redis index, ports and
# temporary directory); each run's output is printed whole when it ends. TEST_JOBS=1 runs them
# one after the other.
TEST_JOBS ?= 2

test: install e2e-deps mail-deps
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target test-sqlite test-postgresql

# The inner loop: pure unit and classifier tests; no database server, browser or mail server.
test-fast: install
	$(PY) -m pytest tests/unit tests/triage -q $(PYTEST_ARGS)

# The outage drills run in a pytest process of their own: no session-wide server of the
# browser tests is alive on the database while they kill and restart Redis.
test-sqlite: install
	KEFU_TEST_DB=sqlite $(PY) -m pytest -m "not drill" $(PYTEST_ARGS)
	KEFU_TEST_DB=sqlite $(PY) -m pytest -m drill tests/integration $(PYTEST_ARGS)

# Pure unit and classifier tests touch no database: the PostgreSQL run skips re-running them.
test-postgresql: install
	KEFU_TEST_DB=postgresql $(PY) -m pytest -m "not drill" tests/integration tests/e2e $(PYTEST_ARGS)
	KEFU_TEST_DB=postgresql $(PY) -m pytest -m drill tests/integration $(PYTEST_ARGS)

# The time-sensitive tests at awkward instants: each run starts the product's clock there
# (KEFU_TEST_NOW, an offset clock) in the given team timezone (KEFU_TIMEZONE). Runs are
# independent test runs (own database and Redis index), CLOCK_JOBS at a time.
CLOCK_TESTS ?= tests/unit tests/integration/escalation tests/integration/sla \
  tests/integration/reports tests/integration/tickets/test_surveys_flow.py tests/integration/notify
# Pure checks that read no clock (import contracts, topic determinism across processes).
CLOCK_SKIP ?= not test_import_boundaries and not deterministic_across_processes
CLOCK_RUNS ?= \
  Asia/Shanghai@2026-12-03T02:30:59Z \
  Asia/Shanghai@2026-12-02T04:25:00Z \
  Asia/Shanghai@2026-11-30T15:59:30Z \
  Asia/Shanghai@2026-12-31T15:59:59Z \
  Europe/Berlin@2026-03-29T00:59:30Z \
  America/New_York@2026-11-01T05:59:30Z
CLOCK_JOBS ?= 2
CLOCK_DB ?= sqlite

test-clock: install
	@logs=$$(mktemp -d); \
	printf '%s\n' $(CLOCK_RUNS) | xargs -P $(CLOCK_JOBS) -I{} bash -c ' \
	  zone=$${1%@*}; now=$${1#*@}; log="$$2/$$(echo "$$1" | tr "/:@" "___").log"; \
	  if KEFU_TIMEZONE=$$zone KEFU_TEST_NOW=$$now KEFU_TEST_DB=$(CLOCK_DB) \
	    $(PY) -m pytest -q -p no:cacheprovider -k "$(CLOCK_SKIP)" $(CLOCK_TESTS) $(PYTEST_ARGS) \
	    >"$$log" 2>&1; then echo "ok      $$zone $$now: $$(tail -n1 "$$log")"; \
	  else echo "FAILED  $$zone $$now (log: $$log)"; grep -E "^(FAILED|ERROR) " "$$log" || tail -n 15 "$$log"; \
	    touch "$$2/failed"; fi' _ {} "$$logs"; \
	test ! -e "$$logs/failed"

bench: install
	$(PY) -m bench

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy models web workers triage
	$(VENV)/bin/lint-imports --no-logo

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
