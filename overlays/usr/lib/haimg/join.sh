# shellcheck shell=sh
# Sourced by k3s-role.sh and k3s-wait.sh (after common.sh): finding peers,
# K3s's etcd data, and the drop-in that tells K3s whom to join.

JOIN_DROPIN=/etc/rancher/k3s/config.yaml.d/50-haimg-join.yaml

# K3s's etcd directory: <data-dir>/server/db/etcd (pkg/etcd/etcd.go, dbDir).
etcd_dir() {
  printf '%s/server/db/etcd' "${HAIMG_K3S_DATA_DIR:-/var/lib/rancher/k3s}"
}

# This node has an etcd member's data: its WAL exists. K3s then runs embedded
# etcd from it whatever its flags say (pkg/etcd/etcd.go, IsInitialized).
has_etcd_data() {
  [ -d "$(etcd_dir)/member/wal" ]
}

# A peer's IPv4 tailnet address, from tailscaled's peer list.
peer_ip() {
  addr=$(tailscale ip -4 "$1" 2>/dev/null | head -n 1) || return 1
  case "$addr" in '' | *[!0-9.]*) return 1 ;; esac
  printf '%s\n' "$addr"
}

# Print "NAME ADDRESS" of the first peer whose K3s API answers /ping.
answering_peer() {
  for peer in $HAIMG_PEERS; do
    addr=$(peer_ip "$peer") || continue
    # Generous: a relayed (DERP) tailnet path or a slow board can take seconds.
    if [ "$(curl -ksS --connect-timeout 10 --max-time 20 "https://$addr:6443/ping" 2>/dev/null)" = pong ]; then
      printf '%s %s\n' "$peer" "$addr"
      return 0
    fi
  done
  return 1
}

# The peers that tailscaled lists as offline: nodes that were in the tailnet
# and are gone now. `tailscale status --json` lists every peer of the netmap,
# offline ones too, each with its HostName before its Online flag
# (ipn/ipnstate/ipnstate.go, PeerStatus).
offline_peers() {
  st=$(tailscale status --json 2>/dev/null | tr -d ' \t\n' | sed 's/"HostName":/\n/g') || return 0
  out=''
  for peer in $HAIMG_PEERS; do
    if printf '%s\n' "$st" | grep -q "^\"$peer\".*\"Online\":false"; then
      out="$out${out:+ }$peer"
    fi
  done
  printf '%s' "$out"
}

# Write K3s's join drop-in (merged over config.yaml) whole, then rename it.
# $1: why (a comment), then one YAML line per argument.
write_dropin() {
  why=$1
  shift
  mkdir -p "${JOIN_DROPIN%/*}"
  {
    echo "# Written by haimg: $why."
    for line in "$@"; do echo "$line"; done
  } >"$JOIN_DROPIN.new"
  mv "$JOIN_DROPIN.new" "$JOIN_DROPIN"
}

# Wait until a peer answers, retrying with a delay that doubles up to 60 s;
# sets `found` ("NAME ADDRESS"). $1 reports each wait (say, or k3s-wait.sh's
# tell), $2 says why this node waits.
await_peer() {
  delay=5
  # shellcheck disable=SC2034 # read by the caller
  until found=$(answering_peer); do
    "$1" "$STEP" waiting "$2 ($HAIMG_PEERS); retrying in ${delay}s"
    sleep "$delay"
    [ $delay -ge 60 ] || delay=$((delay * 2))
  done
}

# Point K3s at a peer ($1 name, $2 address). Never cluster-init again.
use_peer() {
  write_dropin "joined through $1" "cluster-init: false" "server: https://$2:6443"
}
