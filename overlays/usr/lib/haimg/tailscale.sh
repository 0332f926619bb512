#!/bin/sh
# haimg step 4: join the tailnet once, then on every boot wait until tailscale0
# has its 100.x address (K3s's flannel-iface needs it before K3s starts).
STEP=tailscale
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh

has_address() {
  ip -4 -o addr show dev tailscale0 2>/dev/null | grep -q ' inet 100\.'
}

key=$(secret_path tailscale-authkey)
if ! is_done tailscale-up; then
  [ -s "$key" ] || fail "not logged in to the tailnet and no auth key at $key"
  # One argument per line, so no value is split or interpreted.
  set --
  while IFS= read -r arg; do
    [ -n "$arg" ] && set -- "$@" "$arg"
  done </etc/haimg/tailscale-up.args
  tries=0
  # The key is passed as a file reference, never on the command line.
  until tailscale up --auth-key="file:$key" "$@"; do
    tries=$((tries + 1))
    [ $tries -lt 10 ] || fail "tailscale up failed $tries times"
    sleep $((tries * 3))
  done
  mark_done tailscale-up
  # Used: the key has no further purpose on this node.
  rm -f "$key"
fi

i=0
until has_address; do
  i=$((i + 1))
  [ $i -le 300 ] || fail "tailscale0 has no 100.x address after 300 s"
  sleep 1
done
# "N: tailscale0 inet ADDR/32 …": the fourth word (no awk in minimal bases).
# shellcheck disable=SC2046
set -- $(ip -4 -o addr show dev tailscale0 | head -n 1)
say "$STEP" ok "tailscale0 is ${4:-?}"
