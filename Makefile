# The two set-up commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
ROOT := $(CURDIR)
export PATH := $(ROOT)/.tools/bin:$(PATH)
export HELM_BIN := $(ROOT)/.tools/bin/helm
export CARGO_TERM_COLOR := never

.PHONY: setup build test lint unit e2e bench demo fuzz fmt clean

setup:
	./scripts/setup.sh

build: setup
	cargo build --workspace --all-targets

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## test: lint, then every test of every crate (unit, parity, e2e)
test: setup lint
	cargo build --workspace --bins
	cargo test --workspace --no-fail-fast

bench: setup
	./scripts/bench.sh

demo: setup
	./scripts/demo.sh

## fuzz: every cargo-fuzz target for FUZZ_SECONDS each (default 60); fails on a crash,
## a hang or an OOM, naming the input (see scripts/fuzz.sh)
fuzz: setup
	./scripts/fuzz.sh

fmt:
	cargo fmt --all

clean:
	cargo clean
