# SPDX-License-Identifier: MIT
# A thin front over scripts/ and Meson. Every target installs what is missing first.
#   make run    build and serve on http://127.0.0.1:8080 with a demo tenant (./var)
#   make test   every test suite, on SQLite and on a PostgreSQL the harness starts itself,
#               under ASan + UBSan; ends with "N passed, N failed"
#   make bench  benchmarks, each figure beside a reference measured in the same run
#   make fuzz   libFuzzer on the request parser + router + JSON reader (FUZZ_SECONDS=600)
#   make clean  remove build directories (./var, the demo data, is kept)

SHELL := /bin/bash
FUZZ_SECONDS ?= 600
LISTEN ?= 127.0.0.1:8080

.PHONY: all deps build build-asan build-fuzz run test bench fuzz clean format

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@[ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
	@ninja -C build

build-asan: deps
	@[ -f build-asan/build.ninja ] || meson setup build-asan --buildtype=debug \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	@ninja -C build-asan

build-fuzz: deps
	@[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz --buildtype=debugoptimized \
		-Dfuzz=true -Dtests=disabled -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	@ninja -C build-fuzz fuzz-request

run: build
	./build/marqueed serve --demo --data-dir ./var --listen $(LISTEN)

test: build-asan
	@bash scripts/test.sh build-asan

bench: build
	@bash bench/run.sh build

fuzz: build-fuzz
	@bash tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz
