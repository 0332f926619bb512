#!/bin/sh
# Before every start of K3s (ExecStartPre): wait, without a deadline, until
# the first boot chose the node's role and tailscale0 has its 100.x address
# (flannel-iface and node-ip need it). After a power cut the internet, and so
# the Tailscale control plane, may come back long after the node: K3s then
# starts as soon as the address appears, with no reboot.
STEP=k3s-wait
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh
# shellcheck source=join.sh
. /usr/lib/haimg/join.sh

# K3s's own output stays off the console; these lines belong on it, like
# every other step's.
tell() {
  say "$@"
  say "$@" >/dev/console 2>/dev/null || true
}

i=0
until is_done k3s-role && has_address; do
  if [ $((i % 60)) -eq 0 ]; then
    if is_done k3s-role; then
      tell "$STEP" waiting "tailscale0 has no 100.x address (is the Tailscale control plane reachable?); K3s starts when it has one"
    else
      tell "$STEP" waiting "the first boot has not chosen this node's role yet"
    fi
  fi
  sleep 1
  i=$((i + 1))
done
addr=$(tailnet_address)
addr=${addr%/*}

# This node was an etcd member (k3s-started.sh saw its WAL) and the WAL is
# gone (a replaced or wiped data disk): K3s would found a new cluster from
# cluster-init, or fall back to SQLite with neither flag (pkg/cluster,
# managed.go) — a second cluster either way. Join through a peer instead.
if [ "$HAIMG_K3S_EXEC" = server ] && is_done k3s-member && ! has_etcd_data; then
  if [ -z "$HAIMG_PEERS" ]; then
    tell "$STEP" warning "this single server lost its etcd data: K3s starts a new, empty cluster"
  else
    await_peer tell "this node's etcd data is gone: it rejoins through a peer, and none answers yet"
    # shellcheck disable=SC2086
    use_peer $found
    tell "$STEP" ok "this node's etcd data is gone: rejoining through ${found% *}"
  fi
fi

# K3s's node-ip: the tailnet address, explicitly (flannel-iface alone leaves
# the choice to K3s). Rewritten on every start; the address is the node's own
# for as long as its tailscaled state lives.
dropin=/etc/rancher/k3s/config.yaml.d/60-haimg-node-ip.yaml
mkdir -p "${dropin%/*}"
printf '# Written by haimg: the tailnet address of this node.\nnode-ip: %s\n' "$addr" >"$dropin.new"
mv "$dropin.new" "$dropin"
tell "$STEP" ok "tailscale0 is $addr; starting K3s"
