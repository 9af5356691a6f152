# reelgate — two commands matter: `make run` and `make test`. Each installs what is missing first.
SHELL := /bin/bash
SWIFT ?= swift
CONFIG ?= config/reelgate.json
# System libraries the build links (SPEC §1) plus what the tests and benchmarks drive.
BUILD_PACKAGES := libcurl4-openssl-dev libsqlite3-dev libssl-dev libpq-dev pkg-config
# PostgreSQL's server, for a throwaway cluster per run (Tests/support/with-postgres.sh); Chromium
# and its WebDriver, for the console's browser tests (Tests/conformance/test_console.py).
TEST_PACKAGES := python3 python3-venv ffmpeg postgresql chromium chromium-driver gdb
BENCH_PACKAGES := wrk nginx-light sqlite3 time gcc postgresql curl python3 python3-venv

.PHONY: all deps test-deps bench-deps build build-debug run test bench bench-http bench-submit bench-websocket bench-postgres bench-abuse fuzz clean help

all: build

help:
	@echo "make run    build and start the gateway on $(CONFIG) (loopback, SQLite, simulator)"
	@echo "make test   build and run every test"
	@echo "make bench  run the benchmarks in bench/ (installs wrk and nginx)"

# Installs missing Debian packages when root; otherwise prints the exact command and stops.
define ensure_packages
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing packages:$$missing"; echo "run:  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
endef

deps:
	@command -v $(SWIFT) >/dev/null || { echo "the Swift toolchain (6.x) is required: https://www.swift.org/install/linux/"; exit 1; }
	$(call ensure_packages,$(BUILD_PACKAGES))

test-deps: deps
	$(call ensure_packages,$(TEST_PACKAGES))

bench-deps: deps
	$(call ensure_packages,$(BENCH_PACKAGES))

build: deps
	$(SWIFT) build -c release --product reelgate

build-debug: deps
	$(SWIFT) build --product reelgate

run: build
	.build/release/reelgate serve --config $(CONFIG)

# At most this many tests at once: all of them at once on two cores made every test wait on
# every other (seconds-long stalls of the shared cooperative pool; timeouts far from their cause).
TEST_WIDTH ?= --experimental-maximum-parallelization-width 12

test: test-deps
	$(SWIFT) build --build-tests
	Tests/support/with-postgres.sh Tests/support/with-moto.sh Tests/conformance/run.sh
	Tests/support/with-postgres.sh Tests/support/with-moto.sh $(SWIFT) test --skip-build --disable-xctest $(TEST_WIDTH)

bench: bench-deps build
	bench/http/run.sh
	bench/submit/run.sh
	bench/websocket/run.sh
	bench/delivery/run.sh
	bench/delivery/transfer.sh
	bench/delivery/s3-transfer.sh
	bench/delivery/s3-ttfb.sh
	bench/scale/run.sh
	bench/postgres/run.sh
	bench/abuse/run.sh

bench-http: bench-deps build
	bench/http/run.sh

bench-submit: bench-deps build
	bench/submit/run.sh

bench-websocket: bench-deps build
	bench/websocket/run.sh

# The security review's attacks; BASELINE_BIN=<an older build> puts its figures beside these.
bench-postgres: bench-deps build
	bench/postgres/run.sh

bench-abuse: build
	bench/abuse/run.sh

# libFuzzer on the HTTP/1.1, JSON and WebSocket parsers (FUZZ_SECONDS each, default 600).
fuzz: deps
	Fuzz/build.sh
	Fuzz/run.sh $(or $(FUZZ_SECONDS),600)

clean:
	rm -rf .build
