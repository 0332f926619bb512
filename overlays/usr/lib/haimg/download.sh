#!/bin/sh
# haimg step 0 on a cloud VM made from user-data (`build --format user-data`):
# the payload is not on a boot partition, so fetch it from the pinned URLs in
# /etc/haimg/payload.urls, each checked against its sha256 before use, and
# put it where the payload step takes it from. Lines:
#   SHA256 URL NAME [MEMBER]
# MEMBER: the file to take out of a .tgz (Tailscale's release archive).
# Safe to re-run: a download whose sha256 matches is kept, a file in place is
# replaced only whole (.part, then mv). Images never run it.
STEP=download
# shellcheck source=common.sh
. "${HAIMG_LIB:-/usr/lib/haimg}/common.sh"

urls=${HAIMG_PAYLOAD_URLS:-/etc/haimg/payload.urls}
dir=$HAIMG_STATE/downloads
dest=$HAIMG_BOOT_DIR/haimg/payload
[ -f "$urls" ] || fail "no download list at $urls"
mkdir -p "$dir" "$dest"

sum_of() { sha256sum "$1" | cut -d' ' -f1; }

got=0
while read -r sum url name member; do
  case "$sum" in '' | '#'*) continue ;; esac
  file=$dir/$sum
  if [ ! -f "$file" ] || [ "$(sum_of "$file")" != "$sum" ]; then
    rm -f "$file.part"
    curl -fsSL --retry 5 --retry-delay 3 --retry-connrefused --connect-timeout 20 \
      -o "$file.part" "$url" || fail "cannot download $url"
    actual=$(sum_of "$file.part")
    if [ "$actual" != "$sum" ]; then
      rm -f "$file.part"
      fail "$url has sha256 $actual, expected $sum"
    fi
    mv -f "$file.part" "$file"
    got=$((got + 1))
  fi
  mkdir -p "$(dirname "$dest/$name")"
  if [ -n "$member" ]; then
    tar -xzOf "$file" "$member" >"$dest/$name.part" || fail "$url has no $member"
  else
    cp "$file" "$dest/$name.part"
  fi
  mv -f "$dest/$name.part" "$dest/$name"
done <"$urls"

# The payload step checks each file against its manifest and installs it.
rm -rf "$dir"
say "$STEP" ok "$got download(s), payload ready in $dest"
