#!/usr/bin/env bash
# make bench, P3: the four nodes of the example's kind (two Pis, a cloud
# witness, a PC) built by one `haimg build cluster.toml` from cached bases,
# against the slowest of the four built alone. Bases: rootfs tarballs (a
# Debian arm64 and an amd64 root) given as ARM64_TAR and AMD64_TAR, by
# default the bases the boot tests leave in the haimg cache. Not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
haimg=${HAIMG:-$here/target/release/haimg}
work=${BENCH_DIR:-/var/tmp/haimg-bench}/cluster
mkdir -p "$work" && cd "$work"
cache=${HAIMG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/haimg}
pick() { # the cached base whose kernel matches $1
  local f
  for f in "$cache"/debian/*.tar; do
    # grep reads to the end (no -q): tar must not die of SIGPIPE under pipefail.
    if tar -tf "$f" | grep "^./boot/vmlinuz-.*-$1\$" > /dev/null; then echo "$f"; return; fi
  done
}
arm=${ARM64_TAR:-$(pick arm64)}
amd=${AMD64_TAR:-$(pick cloud-amd64)}
if [ -z "$arm" ] || [ -z "$amd" ]; then
  echo "bench: no cached arm64/amd64 base; run the boot tests once or set ARM64_TAR and AMD64_TAR" >&2
  exit 1
fi
printf 'name = "bench"\ntailnet = "bench.ts.net"\nnodes = ["raspi1.toml", "raspi2.toml", "witness.toml", "pc.toml"]\n[[server]]\nname = "raspi1"\nbootstrap = true\n[[server]]\nname = "raspi2"\n[[server]]\nname = "witness"\nwitness = true\n[tailscale]\ntags = ["tag:k3s"]\n' > cluster.toml
node() { printf 'cluster = "cluster.toml"\nhostname = "%s"\nprofile = "%s"\n[base]\nkind = "rootfs"\nurl = "%s"\n' "$1" "$2" "$3" > "$1.toml"; }
node raspi1 rpi4 "$arm"
node raspi2 rpi4 "$arm"
node witness cloud-x86_64 "$amd"
node pc x86_64-uefi "$amd"
export HAIMG_K3S_TOKEN=benchbenchbenchbench HAIMG_TAILSCALE_AUTHKEY=benchbenchbenchbench SOURCE_DATE_EPOCH=1704067200
cat "$arm" "$amd" > /dev/null
secs() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -n 1; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
# The machine's write-back makes single runs vary by a third: RUNS rounds (5
# by default), each the four nodes alone then the cluster, interleaved so
# that drift hits both alike; medians compared.
alls=() slows=()
for _ in $(seq "${RUNS:-5}"); do
  slowest=0 slowest_node=
  for n in raspi1 raspi2 witness pc; do
    rm -rf out; sync
    t=$(secs "$haimg" build "$n.toml" --out out -q --insecure)
    if awk -v a="$t" -v b="$slowest" 'BEGIN { exit !(a > b) }'; then slowest=$t slowest_node=$n; fi
  done
  rm -rf out; sync
  alls+=("$(secs "$haimg" build cluster.toml --out out -q --insecure)")
  slows+=("$slowest")
done
all=$(median "${alls[@]}") slowest=$(median "${slows[@]}")
printf '\nP3: four nodes from cached bases, %s cores, median of %s\n' "$(nproc)" "${RUNS:-5}"
echo "  runs: cluster ${alls[*]} | slowest alone ${slows[*]} (last: $slowest_node)"
printf '%-40s %8.2f s\n' "haimg build cluster.toml (4 nodes)" "$all"
printf '%-40s %8.2f s\n' "slowest node alone" "$slowest"
awk -v a="$all" -v s="$slowest" 'BEGIN { printf "%-40s %8.2fx (target <= 1.5)\n", "cluster / slowest node", a / s }'
rm -rf out
