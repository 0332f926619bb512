#!/bin/sh
# haimg step 5: choose how K3s starts, once per image. A server joins through
# any peer whose K3s API answers; only the bootstrap server may create the
# cluster, and only when nothing says a cluster already exists (README,
# "Re-flashing a node"):
#
#   1. this node's etcd data is on its data disk  -> K3s restarts its member
#      (any server, not only the bootstrap one)
#   2. a peer's K3s answers /ping                  -> join through it
#   3. the image was built with --new-cluster      -> create the cluster
#   4. a peer server was seen in the tailnet and   -> never create; wait for a
#      is offline (it has run, it will hold data)    peer to answer
#   5. otherwise, no answer for HAIMG_FOUND_WAIT s -> create the cluster
#
# Peers are found by their tailnet name in tailscaled's own peer list
# (`tailscale ip -4 NAME` matches peers by name before it tries DNS:
# cmd/tailscale/cli/ping.go, tailscaleIPFromArg), so joining needs neither
# MagicDNS nor any resolver; K3s is then pointed at the peer's 100.x address.
STEP=k3s-role
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh
# shellcheck source=join.sh
. /usr/lib/haimg/join.sh

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

new_cluster=$HAIMG_BOOT_DIR/haimg/new-cluster

if [ "$HAIMG_K3S_EXEC" = server ] && has_etcd_data; then
  # K3s runs embedded etcd from an existing WAL whatever its flags
  # (pkg/etcd/etcd.go, IsInitialized): the member restarts in place.
  write_dropin "restarts its etcd member from $(etcd_dir)" "cluster-init: false"
  mark_done k3s-role
  rm -f "$new_cluster"
  say "$STEP" ok "this node's etcd data is on its data disk: restarting its member in place"
  exit 0
fi

if [ "$HAIMG_ROLE" = bootstrap ] && [ -z "$HAIMG_PEERS" ]; then
  mark_done k3s-role
  say "$STEP" ok "bootstrap server: creating the cluster (it is its only server)"
  exit 0
fi

if [ "$HAIMG_ROLE" = bootstrap ]; then
  waited=0
  delay=5
  until found=$(answering_peer); do
    if [ -e "$new_cluster" ]; then
      break
    fi
    gone=$(offline_peers)
    if [ -n "$gone" ]; then
      say "$STEP" waiting "no peer answers, and $gone ran in this tailnet before (offline now): not creating a second cluster; waiting for a peer (for a brand-new cluster, build this image with --new-cluster)"
    elif [ "$waited" -ge "$HAIMG_FOUND_WAIT" ]; then
      break
    else
      say "$STEP" waiting "no peer answers yet ($HAIMG_PEERS); creating the cluster in $((HAIMG_FOUND_WAIT - waited))s unless one does"
    fi
    sleep "$delay"
    waited=$((waited + delay))
    [ $delay -ge 30 ] || delay=$((delay * 2))
  done
  if [ -n "${found:-}" ]; then
    # shellcheck disable=SC2086
    use_peer $found
    say "$STEP" ok "bootstrap server: ${found% *} answers, joining the existing cluster"
  else
    why="no peer answered for ${waited}s and none was seen before"
    [ -e "$new_cluster" ] && why="built with --new-cluster"
    say "$STEP" ok "bootstrap server: creating the cluster ($why)"
  fi
  mark_done k3s-role
  # One-shot: a later re-flash of the same image decides again.
  wipe "$new_cluster" || true
  exit 0
fi

await_peer say "no peer answers yet"
# shellcheck disable=SC2086
use_peer $found
mark_done k3s-role
say "$STEP" ok "$HAIMG_K3S_EXEC joining through ${found% *} (${found#* })"
