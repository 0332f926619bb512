#!/bin/sh
# haimg step 3: install k3s and tailscale from the boot partition after their
# sha256 matches the manifest baked into the root filesystem. Never downloads.
STEP=payload
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh

manifest=/etc/haimg/payload.sha256
src=$HAIMG_BOOT_DIR/haimg/payload

dest_of() {
  case "$1" in
    k3s) echo /usr/local/bin/k3s ;;
    tailscale) echo /usr/bin/tailscale ;;
    tailscaled) echo /usr/sbin/tailscaled ;;
    images/*) echo "/var/lib/rancher/k3s/agent/images/${1#images/}" ;;
    *) return 1 ;;
  esac
}

[ -f "$manifest" ] || fail "no payload manifest at $manifest"

installed=0
while read -r sum size name; do
  case "$sum" in '' | '#'*) continue ;; esac
  dest=$(dest_of "$name") || fail "unknown payload entry $name in $manifest"
  if [ -f "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$sum" ]; then
    continue
  fi
  [ -f "$src/$name" ] || fail "$name is neither installed nor on the boot partition"
  [ "$(wc -c <"$src/$name")" -eq "$size" ] || fail "$name on the boot partition has the wrong size (expected $size bytes)"
  actual=$(sha256sum "$src/$name" | cut -d' ' -f1)
  [ "$actual" = "$sum" ] || fail "$name on the boot partition does not match the manifest (sha256 $actual, expected $sum)"
  install -D -m 0755 "$src/$name" "$dest.haimg-new"
  mv -f "$dest.haimg-new" "$dest"
  installed=$((installed + 1))
done <"$manifest"

# The binaries now live on the root filesystem; free the boot partition.
rm -rf "$src"
if [ "$installed" -gt 0 ]; then
  say "$STEP" ok "installed $installed file(s)"
else
  say "$STEP" skipped "already installed"
fi
