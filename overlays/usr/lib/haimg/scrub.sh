#!/bin/sh
# haimg step 6: K3s is up, so the secrets on the boot partition have served
# their purpose: delete them (the token stays where K3s keeps it), write the
# status file and say first boot is done.
STEP=scrub
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh

rm -f "$(secret_path k3s-token)" "$(secret_path tailscale-authkey)"
for name in k3s-token tailscale-authkey; do
  [ ! -e "$(secret_path "$name")" ] || fail "could not delete $name from the boot partition"
done
sync

if is_done first-boot; then
  say "$STEP" skipped "first boot already completed"
  exit 0
fi
{
  printf 'hostname=%s\n' "$HAIMG_HOSTNAME"
  printf 'role=%s\n' "$HAIMG_ROLE"
  printf 'completed=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf 'steps='
  for f in "$HAIMG_STATE"/done/*; do printf '%s ' "${f##*/}"; done
  printf '\n'
} >"$HAIMG_STATE/status.new"
mv "$HAIMG_STATE/status.new" "$HAIMG_STATE/status"
mark_done first-boot
say "$STEP" ok "secrets removed from the boot partition"
echo "haimg: first boot done"
