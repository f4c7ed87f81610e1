# Arbor — the two commands a newcomer types: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-sqlite test-postgres bench bench-peers bench-scale lint lock setup demo pg-start pg-stop clean

# Python packages come from requirements.lock (pinned, with hashes), generated from pyproject.toml by
# `make lock`; the project itself is then installed without resolving anything again.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
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

## make bench-peers: the same, plus Dask and Celery + Redis on the same shapes and Arbor's ratio to the best
bench-peers: $(STAMP)
	BENCH_PEERS=1 bash scripts/bench.sh

## make bench-scale: the scale checks alone (1,000,000 tasks, idle CPU, 1/2/4-worker curve, memory)
bench-scale: $(STAMP)
	bash scripts/bench-scale.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	bash scripts/js-lint.sh

## make lock: re-pin requirements.lock after a dependency changes in pyproject.toml (Python 3.11, Linux)
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --extra dev --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

pg-start:
	bash scripts/pg.sh start

pg-stop:
	bash scripts/pg.sh stop

clean:
	rm -rf .tmp var staticfiles
