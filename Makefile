# kb — two commands: `make run` serves the site with its worker; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# PostgreSQL run of the database tests, where a server answers (CI here has one).
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/kb
# The production path (README's Production section: PostgreSQL, Redis, gunicorn, the rq worker), run
# twice: archives on local files, and in an S3 bucket on moto's S3 server, which the test starts itself
# on 127.0.0.1 (python -m moto.server). The test creates and drops this database and empties this
# Redis database: give neither to anything else.
PRODUCTION_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/kb_production_test
PRODUCTION_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=

.PHONY: run test setup lint check pytest pytest-postgres pytest-production messages clean help

help:
	@echo "make run   set up and serve http://127.0.0.1:8000 with the background worker"
	@echo "make test  set up and run every check (lint, migrations, tests on SQLite and PostgreSQL, the production path)"

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "kb needs Python 3.11 (torch 2.13.0 CPU wheel); set PYTHON=/path/to/python3.11")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PIP) install -q -r requirements-dev.txt
	@touch $@

setup: $(VENV)/.installed
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0

run: setup
	$(PY) manage.py serve

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

check: $(VENV)/.installed-dev
	KB_DATA_DIR=$$(mktemp -d) $(PY) manage.py makemigrations --check --dry-run
	KB_DATA_DIR=$$(mktemp -d) $(PY) manage.py check --fail-level WARNING

pytest: $(VENV)/.installed-dev
	$(VENV)/bin/pytest -n 2 -m "not production" $(PYTEST_ARGS)

# The tests that touch the database, again on PostgreSQL (skipped, and said so, where none answers).
pytest-postgres: $(VENV)/.installed-dev
	@if $(PY) -c 'import socket; socket.create_connection(("127.0.0.1", 5432), 1)' 2>/dev/null; then \
	  echo "PostgreSQL answers on 127.0.0.1:5432: running the database tests on it"; \
	  DATABASE_URL=$(PG_TEST_URL) $(VENV)/bin/pytest -n 2 -m database $(PYTEST_ARGS); \
	else \
	  echo "No PostgreSQL on 127.0.0.1:5432: the PostgreSQL run is skipped"; \
	fi

# kb as README's Production section runs it, on PostgreSQL and Redis (both required in CI), with local
# files and with S3-compatible storage.
pytest-production: $(VENV)/.installed-dev
	@if $(PY) -c 'import socket, sys; from urllib.parse import urlsplit; [socket.create_connection((u.hostname, u.port), 1).close() for u in map(urlsplit, sys.argv[1:])]' \
	    $(PRODUCTION_TEST_DATABASE_URL) $(PRODUCTION_TEST_REDIS_URL) 2>/dev/null; then \
	  echo "PostgreSQL and Redis answer: running kb's production path (rq worker) on them, with local files and with S3 (moto's server)"; \
	  KB_PRODUCTION_TEST_DATABASE_URL=$(PRODUCTION_TEST_DATABASE_URL) KB_PRODUCTION_TEST_REDIS_URL=$(PRODUCTION_TEST_REDIS_URL) \
	    $(VENV)/bin/pytest -m production $(PYTEST_ARGS); \
	elif [ -n "$$CI" ]; then \
	  echo "CI must prove the production path: PostgreSQL or Redis does not answer"; exit 1; \
	else \
	  echo "No PostgreSQL or no Redis answers: the production path is skipped"; \
	fi

test: lint check pytest pytest-postgres pytest-production

# Refresh the translation catalogues after changing user-facing strings (needs GNU gettext).
messages: $(VENV)/.installed-dev
	$(PY) manage.py makemessages -l zh_Hans --no-obsolete --no-location --ignore=.venv --ignore=data --ignore=bench --ignore=tests
	$(PY) manage.py makemessages -d djangojs -l zh_Hans --no-obsolete --no-location --ignore=.venv --ignore=data --ignore=staticfiles
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
