# The two commands a newcomer needs: `make demo` and `make test`.
# The distribution's Python when it can make a virtualenv: Debian builds it with PGO and LTO,
# and PEMS spends less CPU on it than on an unoptimised build (docs/adr/0003).
PYTHON ?= $(shell /usr/bin/python3 -c 'import ensurepip, sys; assert sys.version_info >= (3, 11)' \
	2>/dev/null && echo /usr/bin/python3 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_DATABASE_URL := $(or $(PEMS_TEST_DATABASE_URL),sqlite:///$(CURDIR)/var/test/test-runner.sqlite3)
# The browser tests drive Debian's Chromium (Playwright never downloads a browser).
CHROMIUM := /usr/bin/chromium
BROWSER_STAMP := var/.browser-stamp
SCREENSHOTS := docs/operator-guide

.PHONY: demo test lint check-migrations install lock clean screenshots

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e '.[test]'
	touch $@

install: $(STAMP)

# Debian's chromium (and CJK fonts, so zh-Hans pages render) for tests/browser, once per machine.
$(BROWSER_STAMP):
	@if [ ! -x $(CHROMIUM) ] || { command -v dpkg-query >/dev/null && \
	     ! dpkg-query -W -f='$${Status}' fonts-noto-cjk 2>/dev/null | grep -q 'ok installed'; }; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null; then sudo="sudo"; \
	  else echo "The browser tests need Debian's chromium and fonts-noto-cjk, and this user cannot" \
	    "install them: run 'apt-get install chromium fonts-noto-cjk' as root, then make test again." >&2; \
	    exit 1; fi; \
	  echo "Installing Debian's chromium and fonts-noto-cjk for the browser tests"; \
	  $$sudo apt-get update -q && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk || { \
	    echo "Could not install chromium and fonts-noto-cjk with apt-get: install them by hand." >&2; \
	    exit 1; }; \
	fi
	@mkdir -p $(@D) && touch $@

## Run PEMS on its embedded default (SQLite, sample site, web console on :8000).
demo: $(STAMP)
	$(BIN)/pems demo

## Run every check and the whole test suite, browser tests included (SQLite, or PEMS_TEST_DATABASE_URL).
test: lint check-migrations $(BROWSER_STAMP)
	PEMS_DATA_DIR=$(CURDIR)/var/test PEMS_DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest

## Retake the operator guide's screenshots (docs/operator-guide/*.png) with the browser tests.
screenshots: $(STAMP) $(BROWSER_STAMP)
	rm -f $(SCREENSHOTS)/*.png
	PEMS_SCREENSHOT_DIR=$(CURDIR)/$(SCREENSHOTS) PEMS_DATA_DIR=$(CURDIR)/var/test \
	  PEMS_DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest -m browser tests/browser

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
