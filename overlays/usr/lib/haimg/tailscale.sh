#!/bin/sh
# haimg step 4, first boot only: join the tailnet and wait for tailscale0's
# 100.x address. Never gives up: a control plane that is unreachable for a
# while only delays the node. Later boots skip this step; K3s itself waits for
# the address before it starts (k3s-wait.sh).
STEP=tailscale
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh

key=$(secret_path tailscale-authkey)
if is_done tailscale-up; then
  # Used on an earlier boot; wiped again in case a power cut interrupted it.
  wipe "$key" || fail "could not remove the auth key from the boot partition"
  say "$STEP" skipped "joined on an earlier boot; K3s waits for tailscale0 itself"
  exit 0
fi

[ -s "$key" ] || fail "not logged in to the tailnet and no auth key at $key"

# A Pi has no RTC: until timesyncd has the time, TLS to the control plane
# fails or certificates look "not yet valid" (tailscale#9652, #3713). Wait a
# bounded time, then go on and say so (tailscale up retries anyway).
if [ "${HAIMG_CLOCK_WAIT:-0}" -gt 0 ]; then
  i=0
  while [ ! -e /run/systemd/timesync/synchronized ] && [ $i -lt "$HAIMG_CLOCK_WAIT" ]; do
    [ $((i % 30)) -eq 0 ] && say "$STEP" waiting "for the clock to be synchronized (up to ${HAIMG_CLOCK_WAIT}s)"
    sleep 1
    i=$((i + 1))
  done
  if [ -e /run/systemd/timesync/synchronized ]; then
    say "$STEP" clock "synchronized: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  else
    say "$STEP" clock "not synchronized after ${HAIMG_CLOCK_WAIT}s, going on with $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  fi
fi

# One argument per line, so no value is split or interpreted.
set --
while IFS= read -r arg; do
  [ -n "$arg" ] && set -- "$@" "$arg"
done </etc/haimg/tailscale-up.args
delay=5
# The key is passed as a file reference, never on the command line.
until tailscale up --auth-key="file:$key" "$@"; do
  say "$STEP" waiting "tailscale up failed (its message above says why: an unreachable control plane, or an expired or revoked auth key); retrying in ${delay}s"
  sleep "$delay"
  [ $delay -ge 60 ] || delay=$((delay * 2))
done
mark_done tailscale-up
# Used: the key has no further purpose on this node.
wipe "$key" || fail "could not remove the auth key from the boot partition"

i=0
until has_address; do
  [ $((i % 60)) -eq 0 ] && say "$STEP" waiting "tailscale0 has no 100.x address yet"
  sleep 1
  i=$((i + 1))
done
say "$STEP" ok "tailscale0 is $(tailnet_address)"
