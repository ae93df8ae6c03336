# Two commands: `make up` runs the system, `make test` runs the whole suite.
# Each creates .venv and installs what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test bench clean system-deps vm-deps

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
	@$(MAKE) --no-print-directory vm-deps

# QEMU for the VM-node tests (docs/vm-nodes.md): QEMU 10 from bookworm-backports (Debian 12's own 7.2
# crashes on a vCPU re-plug under TCG), busybox-static and cpio for the guest's initramfs. The suite
# is added beside the machine's Debian sources, same mirror and keyring.
VM_KERNEL_DIR ?= /var/cache/heaven-vm
BACKPORTS := /etc/apt/sources.list.d/bookworm-backports.sources
vm-deps:
	@qemu-system-x86_64 --version 2>/dev/null | grep -qE 'version (9|[1-9][0-9])\.' || \
	  (echo "installing QEMU 10 from bookworm-backports (Debian package qemu-system-x86)" && \
	   (test -e $(BACKPORTS) || printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > $(BACKPORTS)) && \
	   apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	     -t bookworm-backports qemu-system-x86)
	@(test -x /bin/busybox && busybox 2>&1 | head -1 | grep -q static) || dpkg -s busybox-static >/dev/null 2>&1 || \
	  (echo "installing busybox-static for the VM guest's initramfs" && apt-get update -qq && \
	   DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox-static)
	@command -v cpio >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cpio)
	@ls $(VM_KERNEL_DIR)/linux-image-*.deb >/dev/null 2>&1 || \
	  (echo "downloading the guest kernel (not installed on this machine) into $(VM_KERNEL_DIR)" && \
	   mkdir -p $(VM_KERNEL_DIR) && cd $(VM_KERNEL_DIR) && \
	   apt-get download $$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -1))

test: system-deps $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) heaven.db* .pytest_cache
