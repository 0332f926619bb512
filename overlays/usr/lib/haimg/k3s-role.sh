#!/bin/sh
# haimg step 5: choose how K3s starts. The bootstrap server creates the cluster
# only if no peer answers; otherwise it joins, so re-flashing the first node
# never makes a second cluster. Other nodes wait for a peer, with backoff.
STEP=k3s-role
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh

if is_done k3s-role; then
  say "$STEP" skipped "role chosen on an earlier boot"
  exit 0
fi

token=/etc/rancher/k3s/token
if [ ! -s "$token" ]; then
  boot_token=$(secret_path k3s-token)
  [ -s "$boot_token" ] || fail "no K3s token at $boot_token"
  (umask 077 && mkdir -p /etc/rancher/k3s && cp "$boot_token" "$token.new" && mv "$token.new" "$token")
fi

# Print the first peer whose K3s API answers /ping.
answering_peer() {
  for peer in $HAIMG_PEERS; do
    if [ "$(curl -ksS --max-time 5 "https://$peer:6443/ping" 2>/dev/null)" = pong ]; then
      echo "$peer"
      return 0
    fi
  done
  return 1
}

use_peer() {
  for f in /etc/haimg/k3s-join/*-"$1".yaml; do
    [ -f "$f" ] || fail "no join file for $1"
    mkdir -p /etc/rancher/k3s/config.yaml.d
    cp "$f" /etc/rancher/k3s/config.yaml.d/50-haimg-join.yaml
  done
}

if [ "$HAIMG_ROLE" = bootstrap ]; then
  if peer=$(answering_peer); then
    use_peer "$peer"
    say "$STEP" ok "bootstrap server: $peer answers, joining the existing cluster"
  else
    say "$STEP" ok "bootstrap server: no peer answers, creating the cluster"
  fi
  mark_done k3s-role
  exit 0
fi

delay=5
until peer=$(answering_peer); do
  say "$STEP" waiting "no peer answers yet ($HAIMG_PEERS); retrying in ${delay}s"
  sleep "$delay"
  [ $delay -ge 60 ] || delay=$((delay * 2))
done
use_peer "$peer"
mark_done k3s-role
say "$STEP" ok "$HAIMG_K3S_EXEC joining through $peer"
