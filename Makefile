# ngx_http_opay_module: build, run and test.
#
#   make            nginx 1.22.1 with the module built in, and the opay tool
#   make run        start conf-examples/quickstart.conf on 127.0.0.1:8080
#   make stop       stop it
#   make dynamic    the dynamic module for Debian's packaged nginx
#   make test       unit tests, then the black-box tests: nginx 1.22.1 static
#                   and dynamic (Debian's nginx), nginx 1.26.3 static; a
#                   short run of every fuzzer; then the SANITIZE=1 suite
#   make test SANITIZE=1
#                   only the sanitizer suite: nginx, the module, the unit
#                   tests and the opay tool built by clang with ASan+UBSan
#                   into build/sanitize, unit tests and black-box tests
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (default 60) each
#   make valgrind   the black-box tests with nginx under valgrind's memcheck
#   make bench      benchmarks of the core
#   make bench-http wrk against nginx alone and with the module (bench/http.sh)
#   make bench-instructions
#                   callgrind instructions per request, module and proxy_pass
#                   (bench/instructions.sh)
#   make bench-profile
#                   perf: CPU per request by part, kernel included, module
#                   and proxy_pass (bench/profile.sh)
#   make deb        libnginx-mod-http-opay_<version>_<arch>.deb for Debian's nginx
#   make bench-keys known-kid latency while the key server hangs
#
# NGINX_VERSION=1.26.3 builds (make, run, dynamic) and tests (make test)
# against that version of Debian's nginx source package instead; each
# version has its own tree, build/<version>/. NGINX_SRC=/path/to/nginx-source
# builds against that source tree instead (build/src-<its version>/).

SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(ROOT)/build

# Debian's nginx source package of each supported version, and its suite.
# The default is Debian 12's, so that the dynamic module loads into the
# machine's packaged nginx.
DEFAULT_NGINX_VERSION := 1.22.1
NGINX_SUITE_1.22.1 := bookworm
NGINX_SUITE_1.26.3 := trixie

ifeq ($(NGINX_SRC),)
NGINX_VERSION ?= $(DEFAULT_NGINX_VERSION)
NGINX_SUITE := $(NGINX_SUITE_$(NGINX_VERSION))
ifeq ($(NGINX_SUITE),)
$(error nginx $(NGINX_VERSION) is not one of Debian's we build (1.22.1, 1.26.3): use NGINX_SRC=/path/to/nginx-$(NGINX_VERSION))
endif
VERSION_DIR := $(BUILD)/$(NGINX_VERSION)
NGINX_SRC_DIR := $(VERSION_DIR)/debsrc/nginx-$(NGINX_VERSION)
else
NGINX_SRC_DIR := $(abspath $(NGINX_SRC))
override NGINX_VERSION := $(shell sed -n 's/^\#define NGINX_VERSION *"\(.*\)"/\1/p' \
    $(NGINX_SRC_DIR)/src/core/nginx.h 2>/dev/null)
ifeq ($(NGINX_VERSION),)
$(error NGINX_SRC=$(NGINX_SRC) is not an nginx source tree (no src/core/nginx.h))
endif
VERSION_DIR := $(BUILD)/src-$(NGINX_VERSION)
endif

# -Werror is nginx's default with gcc; said again so the shim stays
# warning-free even when CFLAGS is set. HTTP/3 exists from 1.25 on.
NGINX_CONFIGURE := --with-compat --with-http_ssl_module --with-threads --with-debug \
                   --with-cc-opt=-Werror --prefix=$(VERSION_DIR)/nginx \
                   $(shell printf '%s\n' 1.25.0 $(NGINX_VERSION) | sort -V -C \
                       && echo --with-http_v3_module)
STATIC_DIR := $(VERSION_DIR)/nginx-static
DYNAMIC_DIR := $(VERSION_DIR)/nginx-dynamic
# the benchmarks' limit as a target: bench/limit, a dynamic module
LIMIT_DIR := $(VERSION_DIR)/nginx-limit
LIMIT_SO := $(LIMIT_DIR)/ngx_http_bench_verify_module.so
SYSTEM_NGINX := /usr/sbin/nginx
SYSTEM_NGINX_VERSION := $(shell $(SYSTEM_NGINX) -v 2>&1 | sed -n 's|.*nginx/||p')
CMAKE_DIR := $(BUILD)/cmake

# SANITIZE=1: a separate build tree (build/sanitize; the nginx sources are
# shared), everything compiled by clang with ASan+UBSan; a report stops the
# process (-fno-sanitize-recover). scripts/ubsan.ignore holds the known
# reports in code we do not own.
SANITIZE ?=
SAN_CFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer \
              -fsanitize-ignorelist=$(ROOT)/scripts/ubsan.ignore
ifeq ($(SANITIZE),1)
STATIC_DIR := $(BUILD)/sanitize/$(NGINX_VERSION)/nginx-static
CMAKE_DIR := $(BUILD)/sanitize/cmake
# nginx links with the C driver: the C++ parts of the sanitizer runtimes
# (new/delete, vptr checks of the core) must be asked for
SAN_CONFIGURE := --with-cc=clang --with-cc-opt='-Werror -O1 -g $(SAN_CFLAGS)' \
    --with-ld-opt='-fsanitize=address,undefined -fsanitize-link-c++-runtime -lstdc++'
SAN_ENV := OPAY_CXX=clang++ OPAY_CXXFLAGS='$(SAN_CFLAGS)'
SAN_CMAKE := -DCMAKE_CXX_COMPILER=clang++ -DOPAY_SANITIZE=ON
SAN_DEPS := scripts/ubsan.ignore
# nginx's pools are freed at exit by design: leaks are checked in the unit
# tests and the fuzzers, where LeakSanitizer stays on
SAN_NGINX_ENV := ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
                 UBSAN_OPTIONS=print_stacktrace=1
export UBSAN_OPTIONS := print_stacktrace=1
endif

NGINX := $(STATIC_DIR)/nginx
MODULE_SO := $(DYNAMIC_DIR)/ngx_http_opay_module.so
OPAY := $(CMAKE_DIR)/opay
# Prometheus' checker for 75-status.t (scripts/promtool.sh; empty: skipped)
PROMTOOL_ENV = PROMTOOL="$$(bash $(ROOT)/scripts/promtool.sh)"
# the version is defined once, in the C API (nginx, opay and the package)
OPAY_VERSION := $(shell sed -n 's/^.define OPAY_VERSION *"\(.*\)"$$/\1/p' \
    $(ROOT)/include/opay.h)
DEB_VERSION := $(OPAY_VERSION)-1
DEB_DIR := $(BUILD)/deb
DEB := $(DEB_DIR)/libnginx-mod-http-opay_$(DEB_VERSION)_$(shell dpkg --print-architecture).deb

# make test without NGINX_VERSION or NGINX_SRC tests every supported version
ifeq ($(NGINX_SRC)$(filter command line environment,$(origin NGINX_VERSION)),)
TEST_VERSIONS := 1.22.1 1.26.3
else
TEST_VERSIONS := $(NGINX_VERSION)
endif

RUN_AS_ROOT := $(if $(filter 0,$(shell id -u)),-g 'user root;')
RUN_NGINX := $(NGINX) -p $(ROOT)/ -c conf-examples/quickstart.conf \
             -e build/run/error.log $(RUN_AS_ROOT)
DEMO_MERCHANT := 3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10
STOP_STRIPE_MOCK := if [ -f $(BUILD)/run/stripe-mock.pid ]; then \
    kill $$(cat $(BUILD)/run/stripe-mock.pid) 2>/dev/null; \
    rm -f $(BUILD)/run/stripe-mock.pid; fi; true

.PHONY: all deps nginx dynamic cli unit nginx-tests package-test test run stop \
        bench bench-http bench-instructions bench-profile bench-keys deb clean fuzzers fuzz \
        fuzz-smoke valgrind card-preview card-test

all: nginx cli

deps:
	@bash $(ROOT)/scripts/deps.sh

$(VERSION_DIR)/debsrc/nginx-$(NGINX_VERSION)/configure: | deps
	bash $(ROOT)/scripts/nginx-source.sh $(NGINX_SUITE) $(NGINX_VERSION) \
	    $(VERSION_DIR)/debsrc $(BUILD)/apt

# reconfigure when the list of core sources changes
$(STATIC_DIR)/Makefile: config config.make src/core/sources.txt $(SAN_DEPS) \
                        | $(NGINX_SRC_DIR)/configure
	cd $(NGINX_SRC_DIR) && $(SAN_ENV) ./configure $(NGINX_CONFIGURE) \
	    $(SAN_CONFIGURE) --builddir=$(STATIC_DIR) --add-module=$(ROOT)

$(DYNAMIC_DIR)/Makefile: config config.make src/core/sources.txt \
                         | $(NGINX_SRC_DIR)/configure
	cd $(NGINX_SRC_DIR) && ./configure $(NGINX_CONFIGURE) \
	    --builddir=$(DYNAMIC_DIR) --add-dynamic-module=$(ROOT)

$(LIMIT_DIR)/Makefile: bench/limit/config | $(NGINX_SRC_DIR)/configure
	cd $(NGINX_SRC_DIR) && ./configure $(NGINX_CONFIGURE) \
	    --builddir=$(LIMIT_DIR) --add-dynamic-module=$(ROOT)/bench/limit

# nginx's own objects are not needed for a module: only its .so
$(LIMIT_SO): $(LIMIT_DIR)/Makefile bench/limit/ngx_http_bench_verify_module.c
	$(MAKE) -C $(NGINX_SRC_DIR) -f $(LIMIT_DIR)/Makefile modules

nginx: $(STATIC_DIR)/Makefile | deps
	$(MAKE) -C $(NGINX_SRC_DIR) -f $(STATIC_DIR)/Makefile binary

dynamic: $(DYNAMIC_DIR)/Makefile | deps
	$(MAKE) -C $(NGINX_SRC_DIR) -f $(DYNAMIC_DIR)/Makefile modules
	@echo "dynamic module: $(MODULE_SO)"
	@echo "load it with: load_module $(MODULE_SO);"

$(CMAKE_DIR)/Makefile: CMakeLists.txt | deps
	cmake -S $(ROOT) -B $(CMAKE_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(SAN_CMAKE)

cli: $(CMAKE_DIR)/Makefile
	cmake --build $(CMAKE_DIR) -j2

unit: cli
	cd $(CMAKE_DIR) && ctest --output-on-failure

# The payment card as Microsoft's adaptivecards SDK renders it in headless
# Chromium (tools/card-preview; scripts/card-tools.sh installs what it needs)
CARD_PREVIEW := $(ROOT)/tools/card-preview
CARD_ARGS := --merchant-id $(DEMO_MERCHANT) \
    --display-id 5d1c2b3a-4e5f-4a6b-9c8d-7e6f5a4b3c2d \
    --originator 8a0f2c1e-6b3d-4f5a-9e7c-1d2b3a4c5e6f \
    --invoice $(ROOT)/conf-examples/invoices/12345.json

# tools/card-preview/card-400.png and card-600.png: the demo invoice's card
card-preview: cli
	@bash $(ROOT)/scripts/card-tools.sh
	mkdir -p $(BUILD)/card-preview
	$(OPAY) card $(CARD_ARGS) --format adaptive-card \
	    --out $(BUILD)/card-preview/card.html
	$(OPAY) card --view $(BUILD)/card-preview/card.html \
	    > $(BUILD)/card-preview/card.json
	node $(CARD_PREVIEW)/render.js $(BUILD)/card-preview/card.json \
	    $(CARD_PREVIEW) 400 600

# every format rendered and read back; skipped, saying why, where Node or
# Chromium cannot be installed
card-test: cli
	@echo "== the card in Microsoft's renderer (adaptivecards, Chromium)"
	@if bash $(ROOT)/scripts/card-tools.sh; then \
	    node $(CARD_PREVIEW)/test.js $(OPAY) $(ROOT); \
	else echo "card-test: SKIPPED (see the line above)"; fi

ifeq ($(SANITIZE),1)
# Debian's nginx cannot load a module built with ASan: the sanitizer suite
# runs the black-box tests against the static build of the default version.
nginx-tests: all
	@echo "== black-box tests: nginx $(NGINX_VERSION) and the module built with ASan+UBSan"
	$(SAN_NGINX_ENV) $(PROMTOOL_ENV) TEST_NGINX_BINARY=$(NGINX) OPAY=$(OPAY) \
	    prove -I nginx-tests/lib nginx-tests/

test: unit nginx-tests
else
# the dynamic module is tested in Debian's nginx when that is the version
# built; every version's dynamic module is built, so it compiles
nginx-tests: all dynamic
	@echo "== black-box tests: nginx $(NGINX_VERSION) with the module built in"
	$(PROMTOOL_ENV) TEST_NGINX_BINARY=$(NGINX) OPAY=$(OPAY) \
	    prove -I nginx-tests/lib nginx-tests/
ifeq ($(NGINX_VERSION),$(SYSTEM_NGINX_VERSION))
	@echo "== black-box tests: Debian's nginx $(NGINX_VERSION) with the dynamic module"
	$(PROMTOOL_ENV) TEST_NGINX_BINARY=$(SYSTEM_NGINX) \
	    TEST_NGINX_MODULE=$(MODULE_SO) OPAY=$(OPAY) prove -I nginx-tests/lib nginx-tests/
endif

test: unit card-test
	set -e; for v in $(TEST_VERSIONS); do \
	    $(MAKE) --no-print-directory nginx-tests NGINX_VERSION=$$v; done
	$(MAKE) --no-print-directory package-test
	$(MAKE) --no-print-directory fuzz-smoke
	@echo "== the same suite built with ASan+UBSan"
	$(MAKE) --no-print-directory test SANITIZE=1
endif

# make deb's package installed into the system nginx, proved and removed
# (root only; the test says it skipped otherwise)
package-test:
ifeq ($(NGINX_VERSION),$(SYSTEM_NGINX_VERSION))
	$(MAKE) --no-print-directory deb
	TEST_OPAY_DEB=$(DEB) prove -I nginx-tests/lib nginx-tests/90-package.t
else
	@echo "== package test skipped: nginx $(NGINX_VERSION) is not the system's ($(SYSTEM_NGINX_VERSION))"
endif

# the package is built against the system's nginx, whose ABI it depends on
deb: dynamic cli
	@if [ "$(NGINX_VERSION)" != "$(SYSTEM_NGINX_VERSION)" ]; then \
	    echo "make deb: the system's nginx is $(SYSTEM_NGINX_VERSION), not $(NGINX_VERSION)" >&2; \
	    exit 1; fi
	@bash $(ROOT)/scripts/deb.sh $(DEB_VERSION) $(MODULE_SO) $(OPAY) $(DEB_DIR)

# libFuzzer targets (fuzz/*_fuzz.cpp), built by clang with ASan+UBSan,
# seeds in testdata/fuzz/TARGET/, dictionaries in testdata/fuzz/TARGET.dict;
# corpora grow in build/fuzz/corpus/, crashes land in build/fuzz/crashes/.
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_SECONDS ?= 60

$(FUZZ_DIR)/Makefile: CMakeLists.txt | deps
	cmake -S $(ROOT) -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DCMAKE_CXX_COMPILER=clang++ -DOPAY_FUZZ=ON

fuzzers: $(FUZZ_DIR)/Makefile
	cmake --build $(FUZZ_DIR) -j2 --target fuzzers

fuzz: fuzzers
	bash scripts/fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

fuzz-smoke: fuzzers
	@echo "== fuzz smoke: every fuzzer for a few seconds"
	bash scripts/fuzz.sh $(FUZZ_DIR) 5

# The black-box tests with nginx (master and worker) under memcheck; see
# TEST_NGINX_VALGRIND in nginx-tests/lib/OpayTest.pm.
valgrind: all
	TEST_NGINX_BINARY=$(NGINX) OPAY=$(OPAY) TEST_NGINX_VALGRIND=1 \
	    prove -I nginx-tests/lib nginx-tests/

run: all
	@mkdir -p $(BUILD)/run/tmp
	@if [ -f $(BUILD)/run/nginx.pid ]; then $(RUN_NGINX) -s stop 2>/dev/null; sleep 1; fi; true
	@$(STOP_STRIPE_MOCK)
	$(RUN_NGINX) -t -q
	@perl nginx-tests/stripe-mock.pl 127.0.0.1:8099 $(BUILD)/run/stripe \
	    >/dev/null 2>&1 & echo $$! > $(BUILD)/run/stripe-mock.pid
	@for i in $$(seq 100); do (: </dev/tcp/127.0.0.1/8099) 2>/dev/null \
	    && break; sleep 0.1; done
	$(RUN_NGINX)
	@echo
	@echo "nginx with ngx_http_opay_module is listening on 127.0.0.1:8080"
	@echo "(error log: build/run/error.log). opay simulate plays the payment"
	@echo "service: the reference's conversation for invoice 12345 (10.00 USD),"
	@echo "paid with tok_visa through the TEST Stripe-compatible server on"
	@echo "127.0.0.1:8099 (no money moves; paying again replays the outcome):"
	@echo
	$(OPAY) simulate --url http://127.0.0.1:8080 \
	    --key conf-examples/demo-only-key.pem --kid demo-only \
	    --merchant-id $(DEMO_MERCHANT) --invoice 12345 --card tok_visa
	@token=$$($(OPAY) mint-token --key conf-examples/demo-only-key.pem \
	    --kid demo-only --claim aud=$(DEMO_MERCHANT) \
	    --claim sub=payer@example.com --claim sender=billing@contoso.com); \
	echo; \
	echo "The same by hand (conf-examples/requests/ holds all four bodies):"; \
	echo; \
	echo "TOKEN=$$token"; \
	echo "curl -s http://127.0.0.1:8080/opay/payment-request \\"; \
	echo "  -H 'Content-Type: application/json' -H \"Authorization: Bearer \$$TOKEN\" \\"; \
	echo "  -d @conf-examples/requests/loadentity.json"; \
	echo; \
	echo "The token is signed with the DEMO-ONLY key and expires in one hour."; \
	echo "Stop the server with: make stop"

stop:
	@$(STOP_STRIPE_MOCK)
	@if [ -f $(BUILD)/run/nginx.pid ]; then $(RUN_NGINX) -s stop; \
	    echo "stopped"; else echo "not running"; fi

bench: cli
	$(CMAKE_DIR)/opay_bench --benchmark_repetitions=3 \
	    --benchmark_display_aggregates_only=true

bench-http: all dynamic $(LIMIT_SO)
	BENCH_NGINX=$(NGINX) BENCH_MODULE_SO=$(MODULE_SO) BENCH_OPAY=$(OPAY) \
	    BENCH_LIMIT_SO=$(LIMIT_SO) \
	    BENCH_NGINX_VERSION=$(NGINX_VERSION) bash $(ROOT)/bench/http.sh

bench-instructions: nginx cli
	BENCH_NGINX=$(NGINX) BENCH_OPAY=$(OPAY) \
	    BENCH_NGINX_VERSION=$(NGINX_VERSION) bash $(ROOT)/bench/instructions.sh

bench-profile: nginx cli $(LIMIT_SO)
	BENCH_NGINX=$(NGINX) BENCH_OPAY=$(OPAY) BENCH_LIMIT_SO=$(LIMIT_SO) \
	    BENCH_NGINX_VERSION=$(NGINX_VERSION) bash $(ROOT)/bench/profile.sh

# known-kid request latency while a 10 s key server holds a fetch
bench-keys: nginx cli
	@TEST_NGINX_BINARY=$(NGINX) OPAY=$(OPAY) prove -v -I nginx-tests/lib \
	    nginx-tests/84-keys.t 2>&1 | grep -E 'slow issuer|^Result'

clean:
	rm -rf $(STATIC_DIR) $(DYNAMIC_DIR) $(LIMIT_DIR) $(CMAKE_DIR) $(BUILD)/run \
	    $(BUILD)/sanitize $(FUZZ_DIR) $(DEB_DIR)
