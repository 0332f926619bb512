# haimg — see README.md.
CARGO ?= cargo
NEXTEST = $(CARGO) nextest run --locked --no-fail-fast

.PHONY: all build deps test lint shellcheck unit e2e example example-render bench clean \
	phase-build phase-lint phase-unit phase-tailnet phase-bases phase-boots

all: build

build:
	$(CARGO) build --release --locked

# Installs the Debian packages the tests, the example and the bench call when
# any is missing (through .ci/install-deps, with sudo when not root); names
# cargo-nextest or the Rust version when those are missing.
deps:
	@bash .ci/ensure-deps

# fmt + clippy + shellcheck + every test (unit, integration, golden, QEMU
# boots), in timed phases; the phase times are printed at the end.
test: deps
	@bash .ci/phases build lint tailnet unit bases boots

phase-build:
	$(CARGO) nextest run --locked --no-run

phase-lint: lint shellcheck

# Everything but the QEMU boot tests.
phase-unit:
	$(NEXTEST) -E 'not binary(boot) & not binary(boot_image) & not binary(boot_userdata) & not binary(cluster)'

# Boot tests run in parallel (--no-capture would run them one by one); their
# timings are printed at the end.
SHOW = --success-output final --failure-output final

# The real tailscale and tailscaled (amd64, arm64) the boot tests put in
# their images, and headscale, their control server: built from the Go
# module proxy once per version (tests/tools/tailnet-build.sh), cached.
phase-tailnet:
	sh tests/tools/tailnet-build.sh

# The Debian bases the boot tests share (mmdebstrap; arm64 under qemu-user),
# cached in the haimg cache, and checked for haimg's required packages.
phase-bases:
	$(NEXTEST) -E 'binary(boot) & test(bases_)' $(SHOW)

# Images built from those bases, booted in QEMU: one node at a time
# (boot; boot_image: a vendor-like image base; boot_userdata: a stock cloud
# VM from user-data), and three together as a cluster (cluster).
phase-boots:
	$(NEXTEST) -E '(binary(boot) & not test(bases_)) | binary(boot_image) | binary(boot_userdata) | binary(cluster)' $(SHOW)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

shellcheck:
	shellcheck -x -P SCRIPTDIR overlays/usr/lib/haimg/*.sh
	shellcheck .ci/run .ci/install-deps .ci/install-nextest .ci/ensure-deps .ci/phases .ci/fresh-machine bench/*.sh examples/build.sh
	shellcheck -s sh tests/tools/tailnet-build.sh

unit:
	$(NEXTEST)

# Only the boot tests: images built by haimg booted in QEMU.
e2e: deps
	$(NEXTEST) --test boot --test boot_image --test boot_userdata --test cluster $(SHOW)

# Plan, render and build the example cluster from Debian's archive (creates
# its secrets on first use; until you paste a Tailscale auth key in, the
# images carry a placeholder key). `make deps` brings mmdebstrap and
# qemu-user for the arm64 Pis. Slow the first time (README, "Quick start"),
# cached after.
example: deps build
	bash examples/build.sh

# Only plan and render (no mmdebstrap, no images).
example-render: build
	bash examples/build.sh render

# Performance against the named peers, as ratios in one run (not a test).
bench: deps build
	bench/image.sh
	bench/stream.sh
	bench/flash.sh
	bench/imagebase.sh
	bench/cluster.sh

clean:
	$(CARGO) clean
	rm -rf out
