#!/usr/bin/env bash
# make bench, P1: a node image from a cached 2.5 GB base image (the layout of
# Raspberry Pi OS Lite, 1.8 GB of data in root; tests/tools/mkvendor.py) —
# haimg build (copy, edit in place, sha256 and .bmap of the image) against
# `cp --sparse=always` of the same base, both from a warm page cache. Ratios
# in one run; not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
haimg=${HAIMG:-$here/target/release/haimg}
work=${BENCH_DIR:-/var/tmp/haimg-bench}/imagebase
mkdir -p "$work" && cd "$work"

if [ ! -s base.img ]; then
  echo "bench: making a 2.5 GB vendor-like base image (once)..." >&2
  python3 "$here/tests/tools/mkvendor.py" base.img --root-mib 2000 --fill-mib 1800 2>/dev/null
fi
printf 'name = "bench"\ntailnet = "bench.ts.net"\nnodes = ["n.toml"]\n[[server]]\nname = "n"\nbootstrap = true\n[tailscale]\ntags = ["tag:k3s"]\n' > cluster.toml
printf 'cluster = "cluster.toml"\nhostname = "n"\nprofile = "rpi4"\n[base]\nkind = "image"\nurl = "base.img"\n' > n.toml
export HAIMG_K3S_TOKEN=benchbenchbenchbench HAIMG_TAILSCALE_AUTHKEY=benchbenchbenchbench SOURCE_DATE_EPOCH=1704067200
export HAIMG_CACHE=$work/cache
rm -rf out cp.img
cat base.img > /dev/null
# The first build hashes the local base once (its cache key); time the second.
"$haimg" build n.toml --out out -q --insecure > /dev/null && rm -rf out
# haimg syncs its outputs before it renames them; the peer syncs too, or
# it would be timing the page cache.
sync
/usr/bin/time -f '%e %M' -o haimg.time "$haimg" build n.toml --out out -q --insecure > /dev/null
sync
/usr/bin/time -f '%e %M' -o cp.time sh -c 'cp --sparse=always base.img cp.img && sync cp.img'
read -r h_sec h_kb < haimg.time
read -r c_sec _ < cp.time
data_mb=$(( $(du -B1 base.img | cut -f1) / 1000000 ))
printf '\nP1: node image from a cached %s GB base image (%s MB of data), 2 cores\n' \
  "$(awk -v b="$(stat -c %s base.img)" 'BEGIN { printf "%.1f", b / 1e9 }')" "$data_mb"
printf '%-40s %8.2f s  peak RSS %4d MB\n' "haimg build (image base)" "$h_sec" $((h_kb / 1024))
printf '%-40s %8.2f s\n' "cp --sparse=always + sync" "$c_sec"
awk -v h="$h_sec" -v c="$c_sec" 'BEGIN { printf "%-40s %8.2fx (target <= 1.5)\n", "haimg time / cp time", h / c }'
rm -rf out cp.img
