# One test command for the whole appliance: `make test`.
# It installs what the tests need (Debian packages when running as root, a local virtualenv
# for Python) and runs every suite that exists.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
APT_PACKAGES := tshark cmake gcc make libcmocka-dev pkg-config iproute2 debootstrap systemd-container

.PHONY: test bench deps venv test-pfcpd lint-pfcpd test-core bench-core test-ansible

test: deps venv lint-pfcpd test-core test-pfcpd test-ansible

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "not root: cannot install Debian packages:$$missing (tests that need them skip)"; fi; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pfcpd/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e 'pfcpd[test]'
	touch $@

lint-pfcpd: venv
	$(VENV)/bin/ruff check pfcpd bench
	$(VENV)/bin/ruff format --check pfcpd bench

test-pfcpd: venv
	$(VPY) -m pytest -q pfcpd/tests

bench: deps venv bench-core
	$(VPY) bench/pfcp_codec.py
	$(VPY) bench/pfcp_node.py

# upf_plugin/core: C rule engine. build/core = normal build (libupfcore.so for pfcpd's local
# datapath tests, core_bench); build/core-asan = the C tests under ASan+UBSan.
test-core: deps
	cmake -S upf_plugin -B build/core -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUPF_BUILD_BENCH=ON
	cmake --build build/core -j2
	cd build/core && ctest --output-on-failure
	cmake -S upf_plugin -B build/core-asan -DCMAKE_BUILD_TYPE=Debug -DUPF_SANITIZE=ON -DUPF_BUILD_BENCH=OFF
	cmake --build build/core-asan -j2
	cd build/core-asan && ctest --output-on-failure

bench-core: deps
	cmake -S upf_plugin -B build/core -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUPF_BUILD_BENCH=ON
	cmake --build build/core -j2 --target core_bench
	build/core/core_bench

# The installer (roles/, playbooks/, site.yml): ansible-lint (production profile), syntax checks
# with both inventories, and every molecule scenario (systemd-nspawn containers; docs/installer.md).
$(VENV)/.installed-ansible: molecule/requirements.txt | venv
	$(VPY) -m pip install -q -r molecule/requirements.txt
	touch $@

test-ansible: deps venv $(VENV)/.installed-ansible
	export PATH="$(CURDIR)/$(VENV)/bin:$$PATH"; \
	ansible-lint && \
	ansible-playbook --syntax-check -i inventory/example-edge site.yml && \
	ansible-playbook --syntax-check -i inventory/lab site.yml && \
	molecule/run.sh
