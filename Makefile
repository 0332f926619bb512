# haimg — see README.md.
CARGO ?= cargo

.PHONY: all build test lint shellcheck unit e2e example example-render bench clean

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
	shellcheck -s sh tests/standins/k3s tests/standins/tailscale tests/standins/tailscaled

# Every test, the QEMU boot test (tests/boot.rs) included.
unit:
	$(CARGO) nextest run --locked --no-fail-fast

# Only the boot test: images built by haimg booted in QEMU.
e2e:
	$(CARGO) nextest run --locked --test boot --no-capture

# Plan, render and build the example cluster from Debian's archive (creates
# its secrets on first use; the auth key is yours to paste in). Needs
# mmdebstrap, and qemu-user-static + binfmt for the arm64 Pis (slow: ~30 min
# the first time, cached after).
example: build
	./target/release/haimg secrets init examples/homelab/cluster.toml
	./target/release/haimg plan examples/homelab/cluster.toml
	./target/release/haimg render examples/homelab/cluster.toml --out out/homelab-render --force
	./target/release/haimg build examples/homelab/cluster.toml --out out

# Only plan and render (no mmdebstrap, no images).
example-render: build
	./target/release/haimg secrets init examples/homelab/cluster.toml
	./target/release/haimg plan examples/homelab/cluster.toml
	./target/release/haimg render examples/homelab/cluster.toml --out out/homelab-render --force

# Performance against the named peers, as ratios in one run (not a test).
bench: build
	bench/image.sh
	bench/stream.sh

clean:
	$(CARGO) clean
	rm -rf out
