#!/usr/bin/env bash
# make bench, P5: writing a sparse 4 GiB image (600 MiB of data) to a loop
# device — haimg flash (block map, read-back verify) vs `dd bs=4M
# conv=fsync` followed by a read-back `cmp`, and vs `bmaptool copy` (which
# checks every range's sha256) — plus `haimg build --compress xz` against
# `xz -T0` of the same image. Ratios in one run; not a test. Needs root.
#
# A loop device is a noisy disk: one copy can take twice another's time when
# the host flushes the backing file. So each tool runs RUNS times (7 by
# default), interleaved so that drift hits all alike, and the medians are
# compared. The loop device uses direct I/O (no host page cache behind it,
# as with a real SSD or card).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
haimg=${HAIMG:-$here/target/release/haimg}
work=${BENCH_DIR:-/var/tmp/haimg-bench}/flash
mkdir -p "$work" && cd "$work"

if [ ! -s bench.img.bmap ]; then
  rm -f bench.img && truncate -s 4G bench.img
  printf 'label: dos\nstart=16384, size=1048576, type=c\nstart=1064960, type=83\n' | sfdisk -q bench.img
  # Data where a real image has it: boot files, then root's files spread out.
  for at in 8 600 1100 1700 2300 2900; do
    head -c 100M /dev/urandom | dd of=bench.img bs=1M seek="$at" conv=notrunc,sparse status=none
  done
  bmaptool -q create -o bench.img.bmap bench.img
fi
rm -f disk.raw && truncate -s 4G disk.raw
dev=$(losetup -f --show --direct-io=on disk.raw)
trap 'losetup -d "$dev"; rm -f disk.raw' EXIT

secs() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -n 1; }
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; }

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
# One untimed copy first: the loop file's first writes allocate its blocks,
# which would slow whichever tool runs first.
bmaptool -q copy --bmap bench.img.bmap bench.img "$dev"
hs=() ds=() bs=()
for _ in $(seq "${RUNS:-7}"); do
  cold; hs+=("$(secs "$haimg" flash bench.img "$dev" --yes --force -q)")
  cold; ds+=("$(secs sh -c "dd if=bench.img of=$dev bs=4M conv=fsync status=none && echo 3 > /proc/sys/vm/drop_caches && cmp -n 4294967296 bench.img $dev")")
  cold; bs+=("$(secs bmaptool -q copy --bmap bench.img.bmap bench.img "$dev")")
done
h=$(median "${hs[@]}") d=$(median "${ds[@]}") b=$(median "${bs[@]}")

# Compression: haimg's xz stage (build with minus without --compress xz)
# against xz -T0 -6 of the image it wrote, writing its output to a file and
# syncing it as haimg does.
[ -n "${FLASH_ONLY:-}" ] && { echo "haimg $(printf "%s " "${hs[@]}") bmaptool ${bs[*]}"; exit 0; }
node=$work/node && rm -rf "$node" && mkdir -p "$node" && cd "$node"
python3 "$here/tests/tools/mkrootfs.py" rootfs.tar --kind uefi --big 300 > /dev/null
printf 'name = "b"\ntailnet = "b.ts.net"\nnodes = ["n.toml"]\n[[server]]\nname = "n"\nbootstrap = true\n[tailscale]\ntags = ["tag:k3s"]\n' > cluster.toml
printf 'cluster = "cluster.toml"\nhostname = "n"\nprofile = "x86_64-uefi"\n[base]\nkind = "rootfs"\nurl = "%s"\n' "$node/rootfs.tar" > n.toml
export HAIMG_K3S_TOKEN=benchbenchbenchbench HAIMG_TAILSCALE_AUTHKEY=benchbenchbenchbench
# Medians of RUNS_XZ interleaved runs (3 by default: each takes minutes).
ps=() ws=() xs=()
for _ in $(seq "${RUNS_XZ:-3}"); do
  rm -rf o1 o2
  ps+=("$(secs "$haimg" build n.toml --out o1 -q)")
  ws+=("$(secs "$haimg" build n.toml --out o2 -q --compress xz)")
  xs+=("$(secs sh -c 'xz -T0 -6 -c o1/n.img > peer.xz && sync peer.xz')")
done
plain=$(median "${ps[@]}") withxz=$(median "${ws[@]}") px=$(median "${xs[@]}")
cd "$work"

echo
echo "P5: a sparse 4 GiB image, 600 MiB of data, to a loop device ($(nproc) cores, median of ${RUNS:-7})"
echo "  runs: haimg ${hs[*]} | dd+cmp ${ds[*]} | bmaptool ${bs[*]}"
printf '%-44s %8s s\n' "haimg flash (bmap, read-back verify)" "$h" "dd bs=4M conv=fsync + cmp read-back" "$d" "bmaptool copy (sha256 checked)" "$b"
awk -v h="$h" -v d="$d" -v b="$b" 'BEGIN{
  printf "%-44s %8.2fx (target >= 3)\n", "dd+cmp time / haimg time", d/h
  printf "%-44s %8.2fx (target <= 1.1)\n", "haimg time / bmaptool time", h/b }'
echo
echo "  runs: build ${ps[*]} | build --compress xz ${ws[*]} | xz -T0 ${xs[*]}"
printf '%-44s %8s s\n' "haimg build" "$plain" "haimg build --compress xz" "$withxz" "xz -T0 -6 of that image" "$px"
awk -v a="$plain" -v b="$withxz" -v x="$px" 'BEGIN{
  printf "%-44s %8.2fx (target <= 1.0)\n", "haimg xz stage / xz -T0", (b-a)/x }'
