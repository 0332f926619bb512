# shellcheck shell=sh
# Sourced by every haimg first-boot step. Values come only from the data file
# /etc/haimg/node.env (sh-quoted by haimg), never from this code.
set -eu
umask 022

HAIMG_ENV=${HAIMG_ENV:-/etc/haimg/node.env}
HAIMG_STATE=${HAIMG_STATE:-/var/lib/haimg}
# shellcheck source=/dev/null
. "$HAIMG_ENV"
mkdir -p "$HAIMG_STATE/done"

# One line per outcome, to the journal and (through the unit) the console:
#   haimg: <step>: ok|skipped|failed: <why>
say() {
  if [ -n "${3:-}" ]; then
    printf 'haimg: %s: %s: %s\n' "$1" "$2" "$3"
  else
    printf 'haimg: %s: %s\n' "$1" "$2"
  fi
}

# A failed step also shows where an admin looks: the node's status file
# (until first boot has completed) and the console's login banner (agetty
# reads /run/issue.d, util-linux >= 2.35).
fail() {
  say "$STEP" failed "$1"
  if ! is_done first-boot; then
    printf 'hostname=%s\nrole=%s\nfailed=%s: %s\n' "${HAIMG_HOSTNAME:-}" "${HAIMG_ROLE:-}" "$STEP" "$1" \
      >"$HAIMG_STATE/status.new" && mv "$HAIMG_STATE/status.new" "$HAIMG_STATE/status"
  fi
  { mkdir -p /run/issue.d && printf 'haimg: %s failed: %s\n\n' "$STEP" "$1" >/run/issue.d/50-haimg.issue; } 2>/dev/null || true
  exit 1
}

is_done() { [ -e "$HAIMG_STATE/done/$1" ]; }
mark_done() { : >"$HAIMG_STATE/done/$1"; }

# Boot partition file paths.
secret_path() { printf '%s/haimg/secrets/%s' "$HAIMG_BOOT_DIR" "$1"; }

# tailscale0 has its tailnet (100.x) address: real tailscaled assigns it only
# once the control plane has answered (tailscale#7310), on every boot.
has_address() {
  ip -4 -o addr show dev tailscale0 2>/dev/null | grep -q ' inet 100\.'
}

# The tailnet address, for messages.
tailnet_address() {
  # "N: tailscale0 inet ADDR/32 …": the fourth word (no awk in minimal bases).
  # shellcheck disable=SC2046
  set -- $(ip -4 -o addr show dev tailscale0 2>/dev/null | head -n 1)
  printf '%s' "${4:-?}"
}

# Remove a secret from the boot partition. FAT frees the clusters of an
# unlinked file but keeps their bytes, so overwrite it in place first (same
# length, flushed), then unlink. Safe to repeat after a power cut.
wipe() {
  [ -e "$1" ] || return 0
  n=$(wc -c <"$1")
  if [ "$n" -gt 0 ]; then
    dd if=/dev/zero of="$1" bs=1 count="$n" conv=notrunc,fsync 2>/dev/null ||
      return 1
  fi
  rm -f "$1" || return 1
  sync
}
