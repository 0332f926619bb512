#!/bin/sh
# Before every start of K3s (ExecStartPre): wait, without a deadline, until
# the first boot chose the node's role and tailscale0 has its 100.x address
# (flannel-iface and node-ip need it). After a power cut the internet, and so
# the Tailscale control plane, may come back long after the node: K3s then
# starts as soon as the address appears, with no reboot.
STEP=k3s-wait
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh

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
tell "$STEP" ok "tailscale0 is $(tailnet_address); starting K3s"
