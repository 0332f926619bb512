#!/bin/sh
# haimg step 5: choose how K3s starts. The bootstrap server creates the cluster
# only if no peer answers; otherwise it joins, so re-flashing the first node
# never makes a second cluster. Other nodes wait for a peer, with backoff.
#
# Peers are found by their tailnet name in tailscaled's own peer list
# (`tailscale ip -4 NAME` matches peers by name before it tries DNS:
# cmd/tailscale/cli/ping.go, tailscaleIPFromArg), so joining needs neither
# MagicDNS nor any resolver; K3s is then pointed at the peer's 100.x address.
STEP=k3s-role
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh

token=/etc/rancher/k3s/token
boot_token=$(secret_path k3s-token)
if [ ! -s "$token" ]; then
  [ -s "$boot_token" ] || fail "no K3s token at $boot_token"
  (umask 077 && mkdir -p /etc/rancher/k3s && cp "$boot_token" "$token.new" && mv "$token.new" "$token")
fi
# Copied: off the boot partition at once, not after K3s is ready (a server
# waiting for its peers may wait for hours).
wipe "$boot_token" || fail "could not remove the K3s token from the boot partition"

if is_done k3s-role; then
  say "$STEP" skipped "role chosen on an earlier boot"
  exit 0
fi

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

# Point K3s at a peer: a drop-in in K3s's config.yaml.d (merged over
# config.yaml). Written whole, then renamed.
use_peer() {
  dir=/etc/rancher/k3s/config.yaml.d
  mkdir -p "$dir"
  {
    echo "# Written by haimg's k3s-role step: joined through $1."
    if [ "$HAIMG_ROLE" = bootstrap ]; then echo "cluster-init: false"; fi
    echo "server: https://$2:6443"
  } >"$dir/50-haimg-join.yaml.new"
  mv "$dir/50-haimg-join.yaml.new" "$dir/50-haimg-join.yaml"
}

if [ "$HAIMG_ROLE" = bootstrap ]; then
  if found=$(answering_peer); then
    # shellcheck disable=SC2086
    use_peer $found
    say "$STEP" ok "bootstrap server: ${found% *} answers, joining the existing cluster"
  else
    say "$STEP" ok "bootstrap server: no peer answers, creating the cluster"
  fi
  mark_done k3s-role
  exit 0
fi

delay=5
until found=$(answering_peer); do
  say "$STEP" waiting "no peer answers yet ($HAIMG_PEERS); retrying in ${delay}s"
  sleep "$delay"
  [ $delay -ge 60 ] || delay=$((delay * 2))
done
# shellcheck disable=SC2086
use_peer $found
mark_done k3s-role
say "$STEP" ok "$HAIMG_K3S_EXEC joining through ${found% *} (${found#* })"
