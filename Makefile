# ngx_http_opay_module: build, run and test.
#
#   make            nginx 1.22.1 with the module built in, and the opay tool
#   make run        start conf-examples/quickstart.conf on 127.0.0.1:8080
#   make stop       stop it
#   make dynamic    the dynamic module for Debian's packaged nginx
#   make test       unit tests, then the black-box tests (static + dynamic)
#   make bench      benchmarks of the core
#
# NGINX_SRC=/path/to/nginx-source builds against that source tree instead
# of Debian's nginx source package.

SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(ROOT)/build
NGINX_VERSION := 1.22.1

ifeq ($(NGINX_SRC),)
NGINX_SRC_DIR := $(BUILD)/debsrc/nginx-$(NGINX_VERSION)
else
NGINX_SRC_DIR := $(abspath $(NGINX_SRC))
endif

NGINX_CONFIGURE := --with-compat --with-http_ssl_module --with-threads --with-debug \
                   --prefix=$(BUILD)/nginx
STATIC_DIR := $(BUILD)/nginx-static
DYNAMIC_DIR := $(BUILD)/nginx-dynamic
NGINX := $(STATIC_DIR)/nginx
MODULE_SO := $(DYNAMIC_DIR)/ngx_http_opay_module.so
SYSTEM_NGINX := /usr/sbin/nginx
CMAKE_DIR := $(BUILD)/cmake
OPAY := $(CMAKE_DIR)/opay

RUN_AS_ROOT := $(if $(filter 0,$(shell id -u)),-g 'user root;')
RUN_NGINX := $(NGINX) -p $(ROOT)/ -c conf-examples/quickstart.conf \
             -e build/run/error.log $(RUN_AS_ROOT)
DEMO_MERCHANT := 3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10
STOP_STRIPE_MOCK := if [ -f $(BUILD)/run/stripe-mock.pid ]; then \
    kill $$(cat $(BUILD)/run/stripe-mock.pid) 2>/dev/null; \
    rm -f $(BUILD)/run/stripe-mock.pid; fi; true

.PHONY: all deps nginx dynamic cli unit nginx-tests test run stop bench clean

all: nginx cli

deps:
	@bash $(ROOT)/scripts/deps.sh

$(BUILD)/debsrc/nginx-$(NGINX_VERSION)/configure: | deps
	rm -rf $(BUILD)/debsrc && mkdir -p $(BUILD)/debsrc
	cd $(BUILD)/debsrc && apt-get source -q nginx
	test -x $@

# reconfigure when the set of core sources (the src/core directory) changes
$(STATIC_DIR)/Makefile: config config.make src/core | $(NGINX_SRC_DIR)/configure
	cd $(NGINX_SRC_DIR) && ./configure $(NGINX_CONFIGURE) \
	    --builddir=$(STATIC_DIR) --add-module=$(ROOT)

$(DYNAMIC_DIR)/Makefile: config config.make src/core | $(NGINX_SRC_DIR)/configure
	cd $(NGINX_SRC_DIR) && ./configure $(NGINX_CONFIGURE) \
	    --builddir=$(DYNAMIC_DIR) --add-dynamic-module=$(ROOT)

nginx: $(STATIC_DIR)/Makefile | deps
	$(MAKE) -C $(NGINX_SRC_DIR) -f $(STATIC_DIR)/Makefile binary

dynamic: $(DYNAMIC_DIR)/Makefile | deps
	$(MAKE) -C $(NGINX_SRC_DIR) -f $(DYNAMIC_DIR)/Makefile modules
	@echo "dynamic module: $(MODULE_SO)"
	@echo "load it with: load_module $(MODULE_SO);"

$(CMAKE_DIR)/Makefile: CMakeLists.txt | deps
	cmake -S $(ROOT) -B $(CMAKE_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo

cli: $(CMAKE_DIR)/Makefile
	cmake --build $(CMAKE_DIR) -j2

unit: cli
	cd $(CMAKE_DIR) && ctest --output-on-failure

nginx-tests: all dynamic
	@echo "== black-box tests: nginx with the module built in"
	TEST_NGINX_BINARY=$(NGINX) OPAY=$(OPAY) prove -I nginx-tests/lib nginx-tests/
	@echo "== black-box tests: Debian's nginx with the dynamic module"
	TEST_NGINX_BINARY=$(SYSTEM_NGINX) TEST_NGINX_MODULE=$(MODULE_SO) \
	    OPAY=$(OPAY) prove -I nginx-tests/lib nginx-tests/

test: unit nginx-tests

run: all
	@mkdir -p $(BUILD)/run/tmp
	@if [ -f $(BUILD)/run/nginx.pid ]; then $(RUN_NGINX) -s stop 2>/dev/null; sleep 1; fi; true
	@$(STOP_STRIPE_MOCK)
	$(RUN_NGINX) -t -q
	@perl nginx-tests/stripe-mock.pl 127.0.0.1:8099 $(BUILD)/run/stripe \
	    >/dev/null 2>&1 & echo $$! > $(BUILD)/run/stripe-mock.pid
	$(RUN_NGINX)
	@token=$$($(OPAY) mint-token --key conf-examples/demo-only-key.pem \
	    --kid demo-only --claim aud=$(DEMO_MERCHANT) \
	    --claim sub=payer@example.com --claim sender=billing@contoso.com); \
	echo; \
	echo "nginx with ngx_http_opay_module is listening on 127.0.0.1:8080"; \
	echo "(error log: build/run/error.log). The PaymentRequest conversation of"; \
	echo "the webhook reference, for invoice 12345 (10.00 USD):"; \
	echo; \
	echo "TOKEN=$$token"; \
	echo; \
	for event in loadentity shippingaddresschange shippingoptionchange; do \
	echo "curl -s http://127.0.0.1:8080/opay/payment-request \\"; \
	echo "  -H 'Content-Type: application/json' -H \"Authorization: Bearer \$$TOKEN\" \\"; \
	echo "  -d @conf-examples/requests/$$event.json"; \
	echo; \
	done; \
	echo "and pay it (13.00 with tok_visa, charged by the TEST Stripe-compatible"; \
	echo "server on 127.0.0.1:8099; no money moves):"; \
	echo; \
	echo "curl -s http://127.0.0.1:8080/opay/payment-complete \\"; \
	echo "  -H 'Content-Type: application/json' -H \"Authorization: Bearer \$$TOKEN\" \\"; \
	echo "  -d @conf-examples/requests/paymentcomplete.json"; \
	echo; \
	echo "The token is signed with the DEMO-ONLY key and expires in one hour."; \
	echo "Stop the server with: make stop"

stop:
	@$(STOP_STRIPE_MOCK)
	@if [ -f $(BUILD)/run/nginx.pid ]; then $(RUN_NGINX) -s stop; \
	    echo "stopped"; else echo "not running"; fi

bench: cli
	$(CMAKE_DIR)/opay_bench

clean:
	rm -rf $(STATIC_DIR) $(DYNAMIC_DIR) $(CMAKE_DIR) $(BUILD)/run
