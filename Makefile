# leadcrm: `make run` to try it, `make test` to test it.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export DEBUG ?= true

.PHONY: run test lint format bench faults clean

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found; set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing leadcrm and its dependencies into $(VENV) (log: $(VENV)/install.log)..."
	@# phonenumberslite (before phonenumbers) ships the same module: out first, or removing it
	@# later deletes the full package's files
	@$(PY) -m pip install --upgrade pip > $(VENV)/install.log 2>&1 \
	  && $(PY) -m pip uninstall -y phonenumberslite >> $(VENV)/install.log 2>&1 \
	  && $(PY) -m pip install -e ".[dev]" >> $(VENV)/install.log 2>&1 \
	  || { tail -n 30 $(VENV)/install.log; echo "pip install failed: see $(VENV)/install.log"; exit 1; }
	touch $@

run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	PORT=$(PORT) $(PY) manage.py serve

test: $(VENV)/.installed
	DEBUG=false $(PY) -m pytest

# The fault and abuse suite in full (make test runs a short form of it): on the database of
# DATABASE_URL (SQLite by default), then all of it again on a throwaway database of
# FAULTS_PG_URL's server when one answers: its PostgreSQL-only tests (the same person at once)
# are not left skipped, and what only PostgreSQL refuses (a NUL byte in a text) is fuzzed too.
FAULTS_PG_URL ?= postgres://postgres@127.0.0.1:5432
faults: $(VENV)/.installed
	DEBUG=false FAULTS_FULL=1 $(PY) -m pytest tests/faults -m faults
	@case "$$DATABASE_URL" in postgres*) exit 0;; esac; \
	db=leadcrm_faults_$$$$; \
	if ! psql "$(FAULTS_PG_URL)/postgres" -qc "DROP DATABASE IF EXISTS $$db" -c "CREATE DATABASE $$db" >/dev/null 2>&1; then \
	  echo "No PostgreSQL at $(FAULTS_PG_URL): the fault suite ran on SQLite only (its tests marked postgres were skipped); set FAULTS_PG_URL."; exit 0; fi; \
	echo "== the fault suite again on PostgreSQL, $(FAULTS_PG_URL)/$$db"; \
	DATABASE_URL="$(FAULTS_PG_URL)/$$db" DEBUG=false FAULTS_FULL=1 $(PY) -m pytest tests/faults -m faults; rc=$$?; \
	psql "$(FAULTS_PG_URL)/postgres" -qc "DROP DATABASE IF EXISTS $$db" >/dev/null 2>&1; exit $$rc

# ruff's lint rules (pyproject.toml), as CI runs them. The code keeps STYLE.md's compact
# hanging indents rather than ruff format's layout, so the formatter is not run.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* db.sqlite3.writer-lock .pytest_cache .ruff_cache staticfiles

bench: $(VENV)/.installed
	@command -v wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null 2>&1 || { echo "make bench needs wrk (apt-get install -y wrk)"; exit 1; }
	$(PY) bench/run.py
