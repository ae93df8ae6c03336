# Two commands: `make up` runs the system, `make test` runs the whole suite.
# Each creates .venv and installs what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test bench clean system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/heaven up

# Debian packages the suite needs: PostgreSQL's server binaries (the suite starts its own server)
# Chromium (the dashboard's browser tests drive it with Playwright), and iproute2 (the partition
# tests put agents in network namespaces of their own).
system-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
	  (echo "installing PostgreSQL server binaries (Debian package postgresql)" && \
	   apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql)
	@command -v chromium >/dev/null 2>&1 || \
	  (echo "installing Chromium for the browser tests (Debian package chromium)" && \
	   apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium)
	@command -v ip >/dev/null 2>&1 || \
	  (echo "installing ip for the partition tests (Debian package iproute2)" && \
	   apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2)

test: system-deps $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) heaven.db* .pytest_cache
