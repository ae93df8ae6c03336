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

# Debian packages the suite needs: PostgreSQL's server binaries (the suite starts its own server),
# Chromium (the dashboard's browser tests drive it with Playwright), and a Docker engine with a
# static busybox (the container tests start their own dockerd and import a busybox image from it).
system-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
	  (echo "installing PostgreSQL server binaries (Debian package postgresql)" && \
	   apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql)
	@command -v chromium >/dev/null 2>&1 || \
	  (echo "installing Chromium for the browser tests (Debian package chromium)" && \
	   apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium)
	@(test -x /usr/sbin/dockerd && test -x /bin/busybox) || \
	  (echo "installing a Docker engine and a static busybox (Debian packages docker.io, busybox-static)" && \
	   apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io busybox-static)

test: system-deps $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) heaven.db* .pytest_cache
