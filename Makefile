# The two set-up commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
ROOT := $(CURDIR)
export PATH := $(ROOT)/.tools/bin:$(PATH)
export HELM_BIN := $(ROOT)/.tools/bin/helm
export CARGO_TERM_COLOR := never

.PHONY: setup build test lint unit e2e bench demo fuzz fmt clean parity-wide

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

## parity-wide: every chart under CHARTS=DIR through helm and ours, default values and each
## ci/*.yaml, counted identical / equal / differ / fails (see scripts/parity-wide.py); not in `test`
parity-wide: setup
	@[ -n "$(CHARTS)" ] || { echo "usage: make parity-wide CHARTS=DIR"; exit 2; }
	[ -x target/release/fleet-bundle ] || cargo build -p fleet-bundle --bin fleet-bundle
	python3 scripts/parity-wide.py "$(CHARTS)"

fmt:
	cargo fmt --all

clean:
	cargo clean
