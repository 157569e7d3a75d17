# Thin wrapper around CMake for people. `make demo` and `make test` each
# install what is missing (deploy/install-deps.sh), build, and run.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 1800
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
ifdef CI
CMAKE_FLAGS += -DTESSERA_WERROR=ON
endif

PREFIX ?= /usr/local

.PHONY: all deps configure build test test-asan fuzz demo demo-national bench soak install deb clean

all: build

deps:
	@bash deploy/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	@ctest --test-dir $(BUILD) -L 'unit|integration' --output-on-failure -j$(JOBS)

# The privacy adversary (thousands of CLI queries, 3 minutes) runs in `make
# test` only: under the sanitizers it would double CI's time for the same
# code paths the other integration tests take.
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DTESSERA_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	@ctest --test-dir $(ASAN_BUILD) -L 'unit|integration' -LE privacy --output-on-failure -j$(JOBS)

# libFuzzer harnesses (tests/fuzz/README.md), clang with ASan and UBSan,
# each run for FUZZ_SECONDS; a finding fails.
fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DTESSERA_FUZZ=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) --target fuzzers -j$(JOBS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh $(FUZZ_BUILD)

demo: build
	@bash deploy/demo/run.sh $(BUILD)

# three regional collectors relaying to a national one (docs/FEDERATION.md)
demo-national: build
	@bash deploy/demo/national.sh $(BUILD)

# cmake --install with GNUInstallDirs: make install PREFIX=/usr DESTDIR=/tmp/stage
# (DESTDIR is read from the environment by cmake --install)
install:
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@cmake --install $(BUILD)

# Debian packages (debian/, dpkg-buildpackage -b -us -uc) from a copy of the
# tree, into build-deb/: tessera-collector, tessera-agent and tessera
deb: deps
	@bash deploy/build-deb.sh build-deb

bench: build
	@ctest --test-dir $(BUILD) -L bench --verbose

# The soak test (docs/RELIABILITY.md): 8 agents, a hostile peer, a query
# flooder and kill -9 for SOAK_SECONDS; the report lands in $(BUILD)/soak/.
soak: build
	@SOAK_SECONDS=$(SOAK_SECONDS) ctest --test-dir $(BUILD) -L soak --verbose --timeout $$(($(SOAK_SECONDS) + 1800))

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-deb demo-run
