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

# tailscaled's BackendState (ipn/backend.go): NoState while it starts,
# NeedsLogin without a usable login, Starting/Running once logged in.
backend_state() {
  tailscale status --json 2>/dev/null |
    sed -n 's/^  "BackendState": "\([A-Za-z]*\)",*$/\1/p' | head -n 1
}
bstate=$(backend_state)
i=0
while { [ -z "$bstate" ] || [ "$bstate" = NoState ]; } && [ $i -lt 120 ]; do
  sleep 1
  i=$((i + 1))
  bstate=$(backend_state)
done

case "$bstate" in
  Starting | Running | Stopped | NeedsMachineAuth)
    # A re-flash that kept the data disk: tailscaled's state is logged in.
    # Sending the key again would make control log the node out when the key
    # is used up, expired or revoked (controlclient/direct.go attaches it to
    # every RegisterRequest; tailscale#16987), and `up` with a changed flag
    # wants a new login (cli/up.go). Keep the login; re-apply only what
    # `tailscale set` changes locally (cli/set.go: hostname, DNS, SSH). Tags
    # and the login server stay as they were at first login.
    say "$STEP" ok "logged in from its saved state ($bstate): the auth key is not used again"
    set_args=
    for a in "$@"; do
      case "$a" in --hostname=* | --accept-dns=* | --ssh | --ssh=*) set_args="$set_args $a" ;; esac
    done
    # shellcheck disable=SC2086 # each word is one whole --flag=value from haimg
    tailscale set $set_args || say "$STEP" warning "tailscale set$set_args failed; the node keeps its earlier settings"
    ;;
  *)
    [ -s "$key" ] || fail "not logged in to the tailnet and no auth key at $key"
    delay=5
    log=/run/haimg-tailscale-up.log
    # The key is passed as a file reference, never on the command line. A
    # bounded wait, so a refused key is seen: the CLI ends with "backend
    # error" for errors control words for users (Tailscale's "invalid key"),
    # while other refusals (headscale answers HTTP 401) show only in
    # tailscaled's log as "Received error: register request: …"
    # (ipn/ipnlocal/local.go), and a key that needs approval as an auth URL.
    until tailscale up --timeout=180s --auth-key="file:$key" "$@" >"$log" 2>&1; do
      cat "$log"
      why=$(sed -n 's/.*backend error: //p; s/.*\(To authenticate, visit\).*/the control server wants an interactive login: the key is not pre-approved/p' "$log" | head -n 1)
      [ -n "$why" ] || why=$(journalctl -b -u tailscaled -o cat -n 400 2>/dev/null |
        sed -n 's/.*Received error: \(register request: http 4[0-9][0-9]: .*\)/\1/p' | tail -n 1)
      if [ -n "$why" ]; then
        fail "the control server refused the auth key ($why): put a reusable, pre-approved, non-ephemeral key at $key and reboot"
      fi
      say "$STEP" waiting "tailscale up did not finish (an unreachable control plane, or a slow one: its message above says which); retrying in ${delay}s"
      sleep "$delay"
      [ $delay -ge 60 ] || delay=$((delay * 2))
    done
    rm -f "$log"
    ;;
esac
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
