#!/usr/bin/env bash
# make bench: tarball -> full disk image, haimg vs the shell pipeline a user
# would otherwise write (tar -x to a folder, mke2fs -d folder, mkfs.fat, mcopy),
# on the same rootfs tarball in the same run. Prints a table; not a test.
#
#   bench/image.sh [TARBALL]     (default: a Debian amd64 rootfs made by
#                                 mmdebstrap, cached in $BENCH_DIR)
# Needs root for the peer's `tar -x` (owners, device nodes).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
haimg=${HAIMG:-$here/target/release/haimg}
work=${BENCH_DIR:-/var/tmp/haimg-bench}
mkdir -p "$work"
cd "$work"

tarball=${1:-}
if [ -z "$tarball" ]; then
  tarball=$work/debian-amd64.tar
  if [ ! -s "$tarball" ]; then
    echo "bench: making a Debian bookworm amd64 rootfs with mmdebstrap (once)..." >&2
    mmdebstrap --quiet --variant=standard --architectures=amd64 \
      --include=linux-image-amd64,systemd-boot,initramfs-tools,openssh-server,curl,iproute2 \
      bookworm "$tarball.tmp" && mv "$tarball.tmp" "$tarball"
  fi
fi
size_mb=$(( $(stat -c %s "$tarball") / 1000000 ))

# haimg: a one-node cluster whose node builds from that tarball.
rm -rf haimg-cfg && mkdir -p haimg-cfg && cd haimg-cfg
printf 'name = "bench"\ntailnet = "bench.ts.net"\nnodes = ["n.toml"]\n[[server]]\nname = "n"\nbootstrap = true\n[tailscale]\ntags = ["tag:k3s"]\n' > cluster.toml
printf 'cluster = "cluster.toml"\nhostname = "n"\nprofile = "x86_64-uefi"\n[base]\nkind = "rootfs"\nurl = "%s"\n' "$tarball" > n.toml
export HAIMG_K3S_TOKEN=benchbenchbenchbench HAIMG_TAILSCALE_AUTHKEY=benchbenchbenchbench SOURCE_DATE_EPOCH=1704067200
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
cat "$tarball" > /dev/null   # both sides start from a warm page cache
/usr/bin/time -v -o ../haimg.time "$haimg" build n.toml --out ../haimg-out -q > /dev/null
cd "$work"
h_sec=$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' haimg.time)
h_rss=$(awk -F': ' '/Maximum resident set size/{print $2}' haimg.time)

# The peer: the same layout (GPT, 512 MiB ESP at 1 MiB, 8 GiB root) by hand.
peer() {
  set -e
  rm -rf stage peer.img && mkdir stage
  truncate -s $(( (1 + 512 + 8192 + 1) * 1048576 )) peer.img
  printf 'label: gpt\nstart=2048, size=1048576, type=U\nsize=16777216, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709\n' | sfdisk -q peer.img
  tar -x --numeric-owner --xattrs --xattrs-include='*' -C stage -f "$tarball"
  mke2fs -q -F -t ext4 -d stage -E offset=$(( 513 * 1048576 )) peer.img 8192M
  rm -f esp.img
  mkfs.fat -C -F 32 -n ESP esp.img 524288 > /dev/null
  mmd -i esp.img ::EFI ::EFI/BOOT ::loader ::loader/entries ::haimg
  mcopy -i esp.img stage/usr/lib/systemd/boot/efi/systemd-bootx64.efi ::EFI/BOOT/BOOTX64.EFI
  mcopy -i esp.img "$(find stage/boot -name "vmlinuz-*" | sort -V | tail -n 1)" ::haimg/vmlinuz
  mcopy -i esp.img "$(find stage/boot -name "initrd.img-*" | sort -V | tail -n 1)" ::haimg/initrd.img
  dd if=esp.img of=peer.img bs=1M seek=1 conv=notrunc,sparse status=none
  rm -f esp.img
  rm -rf stage
}
export -f peer; export tarball
/usr/bin/time -v -o peer.time bash -c peer
p_sec=$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' peer.time)
p_rss=$(awk -F': ' '/Maximum resident set size/{print $2}' peer.time)

secs() { awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }' <<<"$1"; }
hs=$(secs "$h_sec"); ps=$(secs "$p_sec")
echo
echo "tarball -> disk image, ${size_mb} MB rootfs tarball, $(nproc) cores"
printf '%-44s %9s %12s\n' "" "seconds" "peak RSS MB"
printf '%-44s %9.1f %12d\n' "haimg build (incl. sha256 of the image)" "$hs" $(( h_rss / 1024 ))
printf '%-44s %9.1f %12d\n' "tar -x + mke2fs -d + mkfs.fat + mcopy" "$ps" $(( p_rss / 1024 ))
awk -v h="$hs" -v p="$ps" 'BEGIN { printf "%-44s %9.2fx\n", "haimg / pipeline", h / p }'
rm -rf haimg-out peer.img
