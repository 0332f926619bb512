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

fail() {
  say "$STEP" failed "$1"
  exit 1
}

is_done() { [ -e "$HAIMG_STATE/done/$1" ]; }
mark_done() { : >"$HAIMG_STATE/done/$1"; }

# Boot partition file paths.
secret_path() { printf '%s/haimg/secrets/%s' "$HAIMG_BOOT_DIR" "$1"; }
