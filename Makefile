# Roost: `make run` serves it, `make test` checks everything. Both create .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run lint test test-sqlite test-postgres format clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Roost needs Python >= 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## Serve Roost on SQLite (./roost.db); with no ROOST_SMTP_URL, mail is captured in the database.
run: install
	$(BIN)/roost serve --host $(HOST) --port $(PORT)

## Static checks: formatting, lint, types, import contracts.
lint: install
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src tests bench
	$(BIN)/lint-imports

test-sqlite: install
	$(BIN)/pytest

## The same suite on PostgreSQL: a throwaway database is created on PG_TEST_URL's server.
test-postgres: install
	ROOST_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest

## Everything CI runs.
test: lint test-sqlite test-postgres

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
