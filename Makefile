# Arbor — the two commands a newcomer types: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-sqlite test-postgres bench lint setup demo pg-start pg-stop clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput -v0

## make run: set everything up, create the demo user and trees, serve Arbor with its workers
run: setup
	ARBOR_DISPATCH=none $(BIN)/python manage.py arbor_demo
	$(BIN)/python manage.py arbor_up

## make test: the whole suite on SQLite, then on a private PostgreSQL it starts and stops itself
test: $(STAMP)
	bash scripts/test.sh

test-sqlite: $(STAMP)
	bash scripts/test.sh sqlite

test-postgres: $(STAMP)
	bash scripts/test.sh postgres

bench: $(STAMP)
	bash scripts/bench.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

pg-start:
	bash scripts/pg.sh start

pg-stop:
	bash scripts/pg.sh stop

clean:
	rm -rf .tmp var staticfiles
