#!/bin/sh
# haimg step 6: K3s is up. The secrets left the boot partition as soon as they
# were used (tailscale, k3s-role); check that, wiping whatever a power cut may
# have left, write the status file and say first boot is done.
STEP=scrub
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh

for name in k3s-token tailscale-authkey stack-secrets.json; do
  wipe "$(secret_path "$name")" || fail "could not remove $name from the boot partition"
  [ ! -e "$(secret_path "$name")" ] || fail "could not remove $name from the boot partition"
done

# A cloud VM made from haimg's user-data: cloud-init keeps copies of it (the
# secrets among write_files) under /var/lib/cloud; wipe them on every boot,
# since cloud-init may fetch and store them again.
if [ -e /etc/haimg/from-user-data ]; then
  for f in /var/lib/cloud/instances/*/user-data.txt /var/lib/cloud/instances/*/user-data.txt.i \
    /var/lib/cloud/instances/*/cloud-config.txt /var/lib/cloud/instances/*/obj.pkl /var/lib/cloud/instance/obj.pkl; do
    wipe "$f" || fail "could not remove $f"
  done
fi

# Raspberry Pi Imager's OS customisation (and other tools) configure a system
# through these files on the boot partition: they would fight haimg over
# users, keys and the network. haimg ignores them; say so on every boot.
owned=/etc/haimg/boot-owned.sha256
for f in firstrun.sh user-data meta-data network-config; do
  p=$HAIMG_BOOT_DIR/$f
  [ -f "$p" ] || continue
  sum=$(sha256sum "$p")
  if ! grep -qx "${sum%% *}  $f" "$owned" 2>/dev/null; then
    say "$STEP" warning "$p was not written by haimg (Raspberry Pi Imager's OS customisation?): haimg ignores it; flash haimg images with customisation off"
  fi
done

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
say "$STEP" ok "no secret left on the boot partition"
echo "haimg: first boot done"
