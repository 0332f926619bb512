# haimg — see README.md.
CARGO ?= cargo

.PHONY: all build test lint shellcheck unit example clean

all: build

build:
	$(CARGO) build --release

# fmt + clippy + shellcheck + every test (unit, integration, golden).
test: lint shellcheck unit

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

shellcheck:
	shellcheck -x -P SCRIPTDIR overlays/usr/lib/haimg/*.sh

unit:
	$(CARGO) nextest run --locked --no-fail-fast

# Plan and render the example cluster (creates its secrets on first use).
example: build
	./target/release/haimg secrets init examples/homelab/cluster.toml
	./target/release/haimg plan examples/homelab/cluster.toml
	./target/release/haimg render examples/homelab/cluster.toml --out out/homelab-render --force

clean:
	$(CARGO) clean
	rm -rf out
