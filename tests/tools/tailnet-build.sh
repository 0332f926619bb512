#!/bin/sh
# Builds the real tailnet programs the boot tests run, from the Go module
# proxy, once per version and architecture, and prints the folder that holds
# them:
#   DIR/tailscale-VERSION-ARCH/{tailscale,tailscaled}   (amd64 and arm64)
#   DIR/headscale-VERSION-amd64/headscale                (the host's control server)
# tailscale with `go install MODULE@VERSION`, which builds the module exactly
# as its own go.mod pins it (go.sum checked against the checksum database);
# headscale from tests/tools/headscale (below).
#
#   tests/tools/tailnet-build.sh        (DIR: $HAIMG_TAILNET_DIR, or
#                                        ~/.cache/haimg-test/tailnet)
#
# A build goes to a temporary name renamed into place when whole, under a
# lock, so test binaries started together build once and never see half a
# binary.
set -eu

TS_VERSION=1.102.5
HS_VERSION=0.29.2
here=$(cd "$(dirname "$0")" && pwd)
dir=${HAIMG_TAILNET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/haimg-test/tailnet}

# Features of tailscaled that haimg's nodes never use, left out to cut the
# cold build (feature/featuretags lists them; omitting one removes its code
# and dependencies, as `tailscale.com/cmd/featuretags` documents). Kept: the
# kernel router and netfilter, systemd-resolved DNS, sd_notify, serve and
# ssh (haimg's [tailscale] ssh), logtail.
TS_TAGS=ts_omit_aws,ts_omit_bird,ts_omit_kube,ts_omit_synology,ts_omit_systray,ts_omit_tap,ts_omit_tpm,ts_omit_webclient,ts_omit_drive,ts_omit_taildrop,ts_omit_capture,ts_omit_wakeonlan,ts_omit_appconnectors,ts_omit_clientupdate,ts_omit_completion,ts_omit_relayserver

command -v go >/dev/null 2>&1 || {
  echo "error: go is not installed; the boot tests build tailscale and headscale with it (Go >= 1.26.6)" >&2
  exit 1
}
mkdir -p "$dir"
gomodcache=$(go env GOMODCACHE)
gocache=$(go env GOCACHE)

# build NAME MODULE/CMD VERSION ARCH TAGS LDFLAGS DEST
build() {
  name=$1 pkg=$2 version=$3 arch=$4 tags=$5 ldflags=$6 dest=$7
  [ -x "$dest/$name" ] && return 0
  mkdir -p "$dest"
  tmp=$(mktemp -d "$dir/.build.XXXXXX")
  start=$(date +%s)
  echo "tailnet-build: $name $version for $arch (go install, from the module proxy)" >&2
  # A GOPATH of its own so the binary lands in a known place (GOBIN cannot
  # be set for a cross build); the module and build caches stay shared.
  if ! env -u GOBIN GOPATH="$tmp/gopath" GOMODCACHE="$gomodcache" GOCACHE="$gocache" \
    GOOS=linux GOARCH="$arch" CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
    go install -trimpath -tags "$tags" -ldflags "$ldflags" "$pkg@v$version"; then
    rm -rf "$tmp"
    echo "error: could not build $pkg@v$version for $arch" >&2
    return 1
  fi
  bin=$tmp/gopath/bin/$name
  [ -x "$bin" ] || bin=$tmp/gopath/bin/linux_$arch/$name
  chmod u+w -R "$tmp/gopath" 2>/dev/null || true
  mv "$bin" "$dest/.$name.tmp"
  mv "$dest/.$name.tmp" "$dest/$name"
  rm -rf "$tmp"
  echo "tailnet-build: $name $version for $arch built in $(($(date +%s) - start))s" >&2
}

# flock(1) from util-linux: one builder at a time.
exec 9>"$dir/.lock"
flock 9
ts_ld="-s -w -X tailscale.com/version.longStamp=$TS_VERSION-haimg-test -X tailscale.com/version.shortStamp=$TS_VERSION"
for arch in amd64 arm64; do
  for cmd in tailscaled tailscale; do
    build "$cmd" "tailscale.com/cmd/$cmd" "$TS_VERSION" "$arch" "$TS_TAGS" "$ts_ld" \
      "$dir/tailscale-$TS_VERSION-$arch"
  done
done
# headscale from a module of the project's own (tests/tools/headscale, whose
# go.mod requires headscale at HS_VERSION and whose go.sum pins every
# dependency): `go install headscale@v…` stops on the proxy's 403 for its
# version list (read for the deprecation check). Its version shows as "dev".
hs=$dir/headscale-$HS_VERSION-amd64
if [ ! -x "$hs/headscale" ]; then
  mkdir -p "$hs"
  start=$(date +%s)
  echo "tailnet-build: headscale $HS_VERSION for amd64 (go build, from the module proxy)" >&2
  grep -Eq "github.com/juanfont/headscale v$HS_VERSION( |\$)" "$here/headscale/go.mod" || {
    echo "error: tests/tools/headscale/go.mod does not require headscale v$HS_VERSION" >&2
    exit 1
  }
  (cd "$here/headscale" && env -u GOBIN GOOS=linux GOARCH=amd64 CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
    go build -trimpath -ldflags "-s -w" -o "$hs/.headscale.tmp" github.com/juanfont/headscale/cmd/headscale)
  mv "$hs/.headscale.tmp" "$hs/headscale"
  echo "tailnet-build: headscale $HS_VERSION built in $(($(date +%s) - start))s" >&2
fi
echo "$dir"
