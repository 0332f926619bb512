#!/usr/bin/env bash
# make bench: decompress + sha256 throughput of a 1 GiB image, haimg's stream
# vs `xz -dc | sha256sum` and `zstd -dc | sha256sum`, in one run. Not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-/var/tmp/haimg-bench}
mkdir -p "$work" && cd "$work"
cargo build -q --release --example stream --manifest-path "$here/Cargo.toml"
stream=$here/target/release/examples/stream

# 1 GiB of disk-image-like data: a real rootfs tarball repeated (text,
# binaries, zeros), compressed multi-block as publishers do.
if [ ! -s image.raw ]; then
  # The largest cached Debian base.
  src=$(find "${HAIMG_CACHE:-$HOME/.cache/haimg}/debian" -name '*.tar' -printf '%s %p\n' 2>/dev/null |
    sort -rn | head -n 1 | cut -d' ' -f2- || true)
  [ -n "$src" ] || { tar -C /usr -cf usr.tar lib bin 2>/dev/null || true; src=$work/usr.tar; }
  while [ "$(stat -c %s image.raw 2>/dev/null || echo 0)" -lt 1073741824 ]; do cat "$src" >> image.raw; done
  truncate -s 1G image.raw
fi
[ -s image.raw.xz ] || xz -T2 -3 -k -c image.raw > image.raw.xz
[ -s image.raw.zst ] || zstd -q -6 -T2 -c image.raw > image.raw.zst

row() { printf '%-32s %8.2f s %8.0f MB/s\n' "$1" "$2" "$(awk -v s="$2" 'BEGIN{print 1073.741824/s}')"; }
secs() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -n 1; }
echo
echo "decompress + sha256 of a 1 GiB image, $(nproc) cores"
for fmt in xz zst; do
  tool=$([ $fmt = xz ] && echo xz || echo zstd)
  h=$("$stream" image.raw.$fmt | awk '{print $2}')
  p=$(secs sh -c "$tool -dc image.raw.$fmt | sha256sum")
  row "haimg stream ($fmt)" "$h"
  row "$tool -dc | sha256sum" "$p"
  awk -v h="$h" -v p="$p" -v f="$fmt" 'BEGIN{printf "%-32s %8.2fx (>= 1 is the target)\n", "haimg speed / pipeline (" f ")", p/h}'
done
