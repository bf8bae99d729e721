# One test command for the whole appliance: `make test`.
# It installs what the tests need (Debian packages when running as root, a local virtualenv
# for Python) and runs every suite that exists.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
# python3-ply: vppapigen (vpp-dev) parses upf.api with it when the VPP plugin is built.
# dpkg-dev: dpkg-scanpackages, for the local apt repository of containers without network
# (molecule/shared/apt_repo.sh: vpp_real, the lab with the VPP datapath).
# valgrind: bench/engine_instructions.py counts instructions with callgrind (make bench).
# clang-format-14: make lint-c checks every C source against .clang-format (VPP's style).
APT_PACKAGES := tshark cmake gcc python3-dev make libcmocka-dev pkg-config iproute2 debootstrap systemd-container python3-ply dpkg-dev valgrind clang-format-14

.PHONY: test bench deps venv test-pfcpd test-pfcpd-asan lint-pfcpd lint-c typecheck-pfcpd test-core config-schema \
	bench-core test-ansible test-collection lab lab-down test-lab test-lab-vpp

test: deps venv lint-pfcpd lint-c typecheck-pfcpd test-core test-pfcpd test-pfcpd-asan test-ansible test-lab test-lab-vpp

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "not root: cannot install Debian packages:$$missing (tests that need them skip)"; fi; \
	fi

venv: $(VENV)/.installed

# pfcpd's compiled parts (the codec's IE walk, the rules' deflate encoder, libupfcore.so of the
# local datapath) are rebuilt when their sources change.
$(VENV)/.installed: pfcpd/pyproject.toml pfcpd/setup.py pfcpd/src/pfcpd/pfcp/_walk.c \
  pfcpd/src/pfcpd/session/_deflate.c pfcpd/src/pfcpd/session/_record.c \
  pfcpd/src/pfcpd/daemon/_udp.c $(wildcard upf_plugin/core/*.[ch])
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e 'pfcpd[test]'
	touch $@

lint-pfcpd: venv
	$(VENV)/bin/ruff check pfcpd bench lab
	$(VENV)/bin/ruff format --check pfcpd bench lab

# Every C source and header in git in VPP's style (.clang-format at the top).
lint-c: deps
	git ls-files -z '*.c' '*.h' | xargs -0 clang-format-14 --style=file --dry-run -Werror

# mypy, strict, on pfcpd's sources (settings in pfcpd/pyproject.toml).
typecheck-pfcpd: venv
	cd pfcpd && ../$(VENV)/bin/mypy

# docs/pfcpd-config.schema.json: the configuration's JSON Schema, generated from pfcpd's models
# (pfcpd/tests/test_config_schema.py fails while the committed file is not what this writes).
config-schema: venv
	$(VENV)/bin/pfcpd check-config --schema > docs/pfcpd-config.schema.json

test-pfcpd: venv
	$(VPY) -m pytest -q pfcpd/tests

# pfcpd's C extensions under ASan+UBSan: a copy of the package whose _walk (the codec's IE walk)
# _deflate (the rules' deflate encoder), _record (the usual session's record) and _udp (the PFCP
# sockets' batches) are sanitized builds, and the codec tests (captures, random corpus, mutations,
# hypothesis; the shape keys it makes), the encoder's, the record writer's and the batches' tests
# run against it.
PFCPD_ASAN := build/pfcpd-asan
PY_INCLUDE = $$($(VPY) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
PY_EXT_SUFFIX = $$($(VPY) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
ASAN_RUN = PYTHONPATH=$(PFCPD_ASAN) ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc \
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)"

test-pfcpd-asan: venv
	rm -rf $(PFCPD_ASAN) && mkdir -p $(PFCPD_ASAN)
	cp -r pfcpd/src/pfcpd $(PFCPD_ASAN)/ && rm -f $(PFCPD_ASAN)/pfcpd/pfcp/*.so
	gcc -shared -fPIC -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -fno-omit-frame-pointer -Wall -Wextra -Werror -I"$(PY_INCLUDE)" \
	  pfcpd/src/pfcpd/pfcp/_walk.c -o $(PFCPD_ASAN)/pfcpd/pfcp/_walk$(PY_EXT_SUFFIX)
	$(ASAN_RUN) $(VPY) -c 'import pfcpd.pfcp._walk as w; assert "pfcpd-asan" in w.__file__, w.__file__'
	rm -f $(PFCPD_ASAN)/pfcpd/session/*.so
	gcc -shared -fPIC -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -fno-omit-frame-pointer -Wall -Wextra -Werror -I"$(PY_INCLUDE)" \
	  pfcpd/src/pfcpd/session/_deflate.c -o $(PFCPD_ASAN)/pfcpd/session/_deflate$(PY_EXT_SUFFIX)
	gcc -shared -fPIC -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -fno-omit-frame-pointer -Wall -Wextra -Werror -I"$(PY_INCLUDE)" \
	  pfcpd/src/pfcpd/session/_record.c -o $(PFCPD_ASAN)/pfcpd/session/_record$(PY_EXT_SUFFIX)
	$(ASAN_RUN) $(VPY) -c 'import pfcpd.session._deflate as d, pfcpd.session._record as r; \
	  assert all("pfcpd-asan" in m.__file__ for m in (d, r)), (d.__file__, r.__file__)'
	rm -f $(PFCPD_ASAN)/pfcpd/daemon/*.so
	gcc -shared -fPIC -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -fno-omit-frame-pointer -Wall -Wextra -Werror -I"$(PY_INCLUDE)" \
	  pfcpd/src/pfcpd/daemon/_udp.c -o $(PFCPD_ASAN)/pfcpd/daemon/_udp$(PY_EXT_SUFFIX)
	$(ASAN_RUN) $(VPY) -c 'import pfcpd.daemon._udp as u; assert "pfcpd-asan" in u.__file__, u.__file__'
	$(ASAN_RUN) $(VPY) -m pytest -q -p no:cacheprovider pfcpd/tests/pfcp \
	  pfcpd/tests/session/test_establishment_key.py pfcpd/tests/session/test_deflate.py \
	  pfcpd/tests/session/test_record_writer.py pfcpd/tests/node/test_udp_batches.py \
	  pfcpd/tests/node/test_pfcp_socket.py pfcpd/tests/node/test_server_send.py

bench: deps venv bench-core
	$(VPY) bench/pfcp_codec.py
	$(VPY) bench/pfcp_node.py
	$(VPY) bench/session_rate.py
	$(VPY) bench/engine_instructions.py
	$(VPY) bench/vpp_datapath.py
	$(VPY) bench/rules_packing.py

# upf_plugin/core: C rule engine. build/core = normal build (libupfcore.so for pfcpd's local
# datapath tests, core_bench); build/core-release = Release (-O3, -Werror: what the optimizer
# warns about) with its tests; build/core-asan = the C tests under ASan+UBSan.
test-core: deps
	cmake -S upf_plugin -B build/core -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUPF_BUILD_BENCH=ON
	cmake --build build/core -j2
	cd build/core && ctest --output-on-failure
	cmake -S upf_plugin -B build/core-release -DCMAKE_BUILD_TYPE=Release -DUPF_BUILD_BENCH=ON
	cmake --build build/core-release -j2
	cd build/core-release && ctest --output-on-failure
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

test-ansible: deps venv $(VENV)/.installed-ansible test-collection
	export PATH="$(CURDIR)/$(VENV)/bin:$$PATH"; \
	ansible-lint && \
	ansible-playbook --syntax-check -i inventory/example-edge site.yml && \
	ansible-playbook --syntax-check -i inventory/lab site.yml && \
	molecule/run.sh

# The installer as the collection upf.appliance (galaxy.yml): built, installed into an empty
# collections path outside this tree (the only one searched: a copy installed elsewhere, e.g.
# in ~/.ansible/collections, plays no part), and its site playbook checked by its collection name
# against the example inventory (syntax, then the task list: the roles come from the
# installed collection, as upf.appliance.<role>); then ansible-test sanity on the installed
# collection (ignores: tests/sanity/). The sanity tests that run in a venv of their own are
# left out: ansible-test bootstraps pip into it with a script it downloads from Ansible's CI
# file server, which an offline machine cannot reach.
SANITY_NEEDS_VENV := pep8 pylint validate-modules yamllint runtime-metadata
test-collection: venv $(VENV)/.installed-ansible
	export PATH="$(CURDIR)/$(VENV)/bin:$$PATH"; set -euo pipefail; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	ansible-galaxy collection build --output-path "$$tmp/dist" . ; \
	tar -tzf "$$tmp"/dist/upf-appliance-*.tar.gz > "$$tmp/files"; \
	for f in galaxy.yml meta/runtime.yml playbooks/site.yml roles/pfcpd/tasks/main.yml \
	  pfcpd/pyproject.toml pfcpd/src/pfcpd/metrics.py upf_plugin/core/upf_pipeline.h; do \
	  grep -qx "$$f" "$$tmp/files" || [ "$$f" = galaxy.yml ] || { echo "collection lacks $$f"; exit 1; }; done; \
	if grep -E '^(\.venv|build|molecule|pfcpd/tests)/' "$$tmp/files"; then echo "collection carries the above"; exit 1; fi; \
	export ANSIBLE_COLLECTIONS_PATH="$$tmp/collections"; \
	ansible-galaxy collection install --force --no-deps -p "$$tmp/collections" "$$tmp"/dist/upf-appliance-*.tar.gz; \
	cd "$$tmp"; \
	ansible-playbook upf.appliance.site -i "$(CURDIR)/inventory/example-edge" --syntax-check; \
	ansible-playbook upf.appliance.site -i "$(CURDIR)/inventory/example-edge" --list-tasks > "$$tmp/tasks"; \
	grep -q 'upf.appliance.vpp_build : Build VPP' "$$tmp/tasks" || \
	  { cat "$$tmp/tasks"; echo "the collection's vpp_build role is not in the task list"; exit 1; }; \
	cd "$$tmp/collections/ansible_collections/upf/appliance"; \
	ansible-test sanity --python "$$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
	  $(addprefix --skip-test ,$(SANITY_NEEDS_VENV)); \
	echo "test-collection: upf.appliance built, installed, its site playbook checked, ansible-test sanity passed"

# The lab (docs/lab.md): a lab edge host (systemd-nspawn, the molecule scenarios' cached rootfs)
# with gNB, DN and SMF namespaces, converged with `ansible-playbook -i inventory/lab site.yml`,
# then smoke-tested with the SMF and gNB simulators. Needs root. `make lab` again keeps the
# host, converges again and smoke-tests again; `make lab-down` removes everything it made.
# UPF_DATAPATH=vpp UPF_ARTIFACTS=DIR: VPP and the UPF plugin from DIR's .debs (docs/lab.md).
lab: deps venv $(VENV)/.installed-ansible
	$(VPY) lab/lab.py up --datapath $(or $(UPF_DATAPATH),local) $(if $(UPF_ARTIFACTS),--artifacts $(UPF_ARTIFACTS))

lab-down: venv
	$(VPY) lab/lab.py down

# make test: a fresh lab, the smoke, a second converge that must change nothing and its smoke,
# then the lab removed. Skipped (with the reason) without root, systemd-nspawn or TUN.
test-lab: deps venv $(VENV)/.installed-ansible
	@if ! reason=$$($(VPY) lab/lab.py check); then echo "SKIPPED test-lab: $$reason"; exit 0; fi; \
	start=$$(date +%s); \
	$(VPY) lab/lab.py down >/dev/null && $(VPY) lab/lab.py up && \
	$(VPY) lab/lab.py up --expect-unchanged; rc=$$?; \
	$(VPY) lab/lab.py down; echo "test-lab: $$( [ $$rc = 0 ] && echo passed || echo FAILED ) in $$(( $$(date +%s) - start )) s"; \
	exit $$rc

# The same with the VPP datapath, where VPP's .debs are: UPF_TEST_VPP_DEBS, else this machine's
# cache of them (as molecule vpp_real); the plugin .deb is built from this tree unless that
# directory holds one (molecule/vpp_real/debs.sh). As test-lab: a fresh lab, the smoke, a second
# converge that must change nothing and its smoke. Skipped, with the reason, elsewhere.
VPP_DEBS_CACHE := /var/cache/upf-test/vpp-debs
test-lab-vpp: deps venv $(VENV)/.installed-ansible
	@if ! reason=$$($(VPY) lab/lab.py check --datapath vpp); then echo "SKIPPED test-lab-vpp: $$reason"; exit 0; fi; \
	debs=$${UPF_TEST_VPP_DEBS:-}; \
	if [ -z "$$debs" ] && compgen -G "$(VPP_DEBS_CACHE)/vpp_*.deb" >/dev/null; then debs=$(VPP_DEBS_CACHE); fi; \
	if [ -z "$$debs" ]; then echo "SKIPPED test-lab-vpp: it runs the lab on VPP from built .debs; set UPF_TEST_VPP_DEBS to their directory (or keep them in $(VPP_DEBS_CACHE))"; exit 0; fi; \
	mkdir -p build/lab; \
	if ! debs=$$(molecule/vpp_real/debs.sh "$$debs" 2>build/lab/debs.log); then \
	  echo "test-lab-vpp: FAILED preparing the .debs; last lines of build/lab/debs.log:"; tail -n 40 build/lab/debs.log; exit 1; fi; \
	start=$$(date +%s); \
	$(VPY) lab/lab.py down >/dev/null && $(VPY) lab/lab.py up --datapath vpp --artifacts "$$debs" && \
	$(VPY) lab/lab.py up --datapath vpp --artifacts "$$debs" --expect-unchanged; rc=$$?; \
	$(VPY) lab/lab.py down; echo "test-lab-vpp: $$( [ $$rc = 0 ] && echo passed || echo FAILED ) in $$(( $$(date +%s) - start )) s"; \
	exit $$rc
