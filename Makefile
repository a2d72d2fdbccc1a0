# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_DATABASE_URL := $(or $(PEMS_TEST_DATABASE_URL),sqlite:///$(CURDIR)/var/test/test-runner.sqlite3)

.PHONY: demo test lint check-migrations install lock clean

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e '.[test]'
	touch $@

install: $(STAMP)

## Run PEMS on its embedded default (SQLite, sample site, web console on :8000).
demo: $(STAMP)
	$(BIN)/pems demo

## Run every check and the whole test suite (SQLite, or PEMS_TEST_DATABASE_URL).
test: lint check-migrations
	PEMS_DATA_DIR=$(CURDIR)/var/test PEMS_DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

check-migrations: $(STAMP)
	PEMS_DATA_DIR=$(CURDIR)/var/test $(BIN)/pems makemigrations --check --dry-run

## Refresh the transitive pins after changing pyproject.toml.
lock: $(STAMP)
	{ echo "# Transitive pins for a reproducible install (pip install -c this file). Regenerate: make lock"; \
	  $(BIN)/pip freeze --exclude-editable; } > requirements/constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
