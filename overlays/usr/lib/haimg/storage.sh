#!/bin/sh
# haimg step 2, every boot: the data disk, and the node's identity on it.
#
# data = "rest": the data partition starts at the profile's fixed offset
# (HAIMG_DATA_OFFSET_MIB), whatever the image holds, so a re-flash finds the
# node's data where it left it. A re-flashed disk has lost the table entry, not
# the data: the old filesystem is looked for (by its ext4 superblock and
# label) at that offset and at every MiB between root's end and it, and the
# entry is re-created exactly over it. mkfs runs only over a range whose first
# MiB holds no signature at all, and never discards.
#
# The node's identity (tailscaled's state: its node key, name and 100.x; K3s's
# node password) is kept on the data filesystem and bind-mounted into place, so
# a re-flashed node comes back as itself.
#
# Images carry root sized to its content; root is grown here to the profile's
# size (HAIMG_ROOT_END_MIB), never into the partition that follows it, and
# only after an earlier data partition has been looked for and re-created.
STEP=storage
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh

MIB=1048576

# On a GPT disk larger than the image, move the backup header to the disk's
# end first, or the space after the image is not usable. False on MBR.
gpt_to_end() {
  sfdisk -d "$1" 2>/dev/null | grep -q '^label: gpt' || return 1
  sfdisk --relocate gpt-bak-std "$1" >/dev/null 2>&1 || true
}

# Grow root (partition, then filesystem, online) up to the profile's end, the
# next partition or the disk's end, whichever comes first. Safe to repeat:
# each part does nothing once done.
grow_root() {
  rootpart=$(findmnt -n -o SOURCE /)
  name=${rootpart##*/}
  disk=/dev/$(lsblk -n -o PKNAME "$rootpart" | head -n 1)
  [ -b "$disk" ] || fail "cannot find the disk of $rootpart"
  nr=$(cat "/sys/class/block/$name/partition")
  start=$(cat "/sys/class/block/$name/start")
  size=$(cat "/sys/class/block/$name/size")
  if gpt_to_end "$disk"; then
    last=$(($(blockdev --getsz "$disk") - 34))
  else
    last=$(blockdev --getsz "$disk")
  fi
  limit=$((HAIMG_ROOT_END_MIB * 2048))
  [ "$last" -ge "$limit" ] || limit=$last
  # The start of the first partition after root bounds it.
  for s in $(partx -g -o START "$disk" 2>/dev/null); do
    if [ "$s" -gt "$start" ] && [ "$s" -lt "$limit" ]; then limit=$s; fi
  done
  want=$(((limit - start) / 2048 * 2048))
  if [ "$want" -gt "$size" ]; then
    printf ',%s\n' "$want" | sfdisk --quiet --no-reread --no-tell-kernel -N "$nr" "$disk" >/dev/null 2>&1 ||
      fail "cannot grow $rootpart to $((want / 2048)) MiB"
    resizepart "$disk" "$nr" "$want" 2>/dev/null || partx -u -n "$nr" "$disk" 2>/dev/null ||
      fail "the kernel did not take $rootpart's new size"
  fi
  if ! resize2fs "$rootpart" >/dev/null 2>&1; then
    fail "resize2fs $rootpart failed"
  fi
  say "$STEP" ok "root is $(($(cat "/sys/class/block/$name/size") / 2048)) MiB"
}

if [ "$HAIMG_DATA_MODE" = none ]; then
  grow_root
  say "$STEP" skipped "no data disk configured (identity stays on the root filesystem: a re-flash makes a new node)"
  exit 0
fi

# The ext4 superblock's magic (0xEF53, little-endian) at byte 1080 of a
# filesystem that starts at byte offset $2 of device $1.
ext4_at() {
  m=$(od -A n -t x1 -j $(($2 + 1080)) -N 2 "$1" 2>/dev/null | tr -d ' \n')
  [ "$m" = 53ef ]
}

# The filesystem label at byte offset $2 of device $1.
label_at() {
  blkid -p -O "$2" -o value -s LABEL "$1" 2>/dev/null || true
}

# Any ext4 superblock magic in the first MiB after byte offset $2 (a
# filesystem starting at any 512-byte sector there): such a range is never
# formatted.
ext4_magic_in_first_mib() {
  od -A d -t x1 -v -w512 -j "$2" -N "$MIB" "$1" 2>/dev/null |
    cut -d ' ' -f 58,59 | grep -qx '53 ef'
}

# The device node of partition number $2 of disk $1 (sda3, nvme0n1p3, …).
part_dev() {
  for f in /sys/class/block/"${1##*/}"/*/partition; do
    [ -r "$f" ] || continue
    if [ "$(cat "$f")" = "$2" ]; then
      d=${f%/partition}
      printf '/dev/%s\n' "${d##*/}"
      return 0
    fi
  done
  return 1
}

# The number of the partition of disk $1 that starts at sector $2, if any.
part_at() {
  partx -g -o START,NR "$1" 2>/dev/null | while read -r s n; do
    if [ "$s" = "$2" ]; then
      echo "$n"
      break
    fi
  done
}

mount_data() {
  part=$1
  uuid=$(blkid -p -o value -s UUID "$part" 2>/dev/null || true)
  [ -n "$uuid" ] || fail "$part has no filesystem UUID"
  mkdir -p "$HAIMG_DATA_MOUNT"
  if ! grep -q "^UUID=$uuid " /etc/fstab 2>/dev/null; then
    printf 'UUID=%s %s ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2\n' \
      "$uuid" "$HAIMG_DATA_MOUNT" >>/etc/fstab
    systemctl daemon-reload
  fi
  if ! mountpoint -q "$HAIMG_DATA_MOUNT"; then
    mount "$HAIMG_DATA_MOUNT" || fail "cannot mount $part on $HAIMG_DATA_MOUNT"
  fi
  if [ -n "$HAIMG_K3S_DATA_DIR" ]; then
    mkdir -p "$HAIMG_K3S_DATA_DIR"
  fi
  bind_identity tailscale /var/lib/tailscale
  bind_identity rancher-node /etc/rancher/node
}

# Keep directory $2 on the data filesystem (as haimg/identity/$1) and
# bind-mount it into place, now and (through fstab) on every later boot.
bind_identity() {
  src=$HAIMG_DATA_MOUNT/haimg/identity/$1
  dst=$2
  (umask 077 && mkdir -p "$src")
  mkdir -p "$dst"
  if ! mountpoint -q "$dst"; then
    # A node that ran before identities moved here: carry its state over once.
    if [ -z "$(ls -A "$src")" ] && [ -n "$(ls -A "$dst")" ]; then
      cp -a "$dst/." "$src/" || fail "cannot copy $dst to $src"
    fi
    mount --bind "$src" "$dst" || fail "cannot bind $src on $dst"
  fi
  if ! grep -q "^$src $dst " /etc/fstab 2>/dev/null; then
    printf '%s %s none bind,nofail,x-systemd.requires-mounts-for=%s 0 0\n' \
      "$src" "$dst" "$HAIMG_DATA_MOUNT" >>/etc/fstab
    systemctl daemon-reload
  fi
}

# Format only a device with no signature whatsoever (no filesystem, no RAID or
# LVM member, no partition table, no ext4 superblock anywhere in its first MiB).
format_if_blank() {
  part=$1
  if [ -n "$(wipefs --noheadings "$part" 2>/dev/null)" ]; then
    type=$(blkid -p -o value -s TYPE "$part" 2>/dev/null || true)
    if [ "$type" = ext4 ]; then
      say "$STEP" ok "$part already holds ext4: mounting it as it is"
      return 0
    fi
    fail "$part holds ${type:-a signature} (not ext4): refusing to format it; wipe it by hand if it is really unused"
  fi
  if ext4_magic_in_first_mib "$part" 0; then
    fail "$part holds an ext4 superblock in its first MiB: refusing to format it; wipe it by hand if it is really unused"
  fi
  # nodiscard: never TRIM a range that might still hold something.
  mkfs.ext4 -q -E nodiscard -L "$HAIMG_DATA_LABEL" "$part" || fail "mkfs.ext4 $part failed"
  say "$STEP" ok "formatted blank $part as ext4 ($HAIMG_DATA_LABEL)"
}

udevadm settle 2>/dev/null || true

if [ "$HAIMG_DATA_MODE" = device ]; then
  dev=$HAIMG_DATA_DEVICE
  i=0
  while [ ! -b "$dev" ] && [ $i -lt 30 ]; do
    sleep 1
    i=$((i + 1))
  done
  [ -b "$dev" ] || fail "data device $dev not found"
  format_if_blank "$dev"
  mount_data "$dev"
  grow_root
  say "$STEP" ok "$dev mounted on $HAIMG_DATA_MOUNT"
  exit 0
fi

# rest: a partition of the disk that holds /, from the fixed offset on.
existing=$(blkid -o device -t LABEL="$HAIMG_DATA_LABEL" 2>/dev/null | head -n 1 || true)
if [ -n "$existing" ]; then
  mount_data "$existing"
  grow_root
  say "$STEP" ok "$existing ($HAIMG_DATA_LABEL) mounted on $HAIMG_DATA_MOUNT"
  exit 0
fi

rootpart=$(findmnt -n -o SOURCE /)
disk=/dev/$(lsblk -n -o PKNAME "$rootpart" | head -n 1)
[ -b "$disk" ] || fail "cannot find the disk of $rootpart"
disk_bytes=$(blockdev --getsize64 "$disk")
want=$((HAIMG_DATA_OFFSET_MIB * MIB))
[ "$disk_bytes" -gt $((want + 64 * MIB)) ] ||
  fail "$disk ($((disk_bytes / MIB)) MiB) has no room for a data partition at ${HAIMG_DATA_OFFSET_MIB} MiB"

# Where an earlier life of this node left its data filesystem: the fixed
# offset first, then every MiB from root's end up to it (images made before
# the offset was fixed appended the partition right after root).
found=''
if ext4_at "$disk" "$want" && [ "$(label_at "$disk" "$want")" = "$HAIMG_DATA_LABEL" ]; then
  found=$want
else
  rootstart=$(cat "/sys/class/block/${rootpart##*/}/start")
  rootsize=$(cat "/sys/class/block/${rootpart##*/}/size")
  mib=$(((rootstart + rootsize) * 512 / MIB))
  while [ "$mib" -lt "$HAIMG_DATA_OFFSET_MIB" ]; do
    at=$((mib * MIB))
    if ext4_at "$disk" "$at" && [ "$(label_at "$disk" "$at")" = "$HAIMG_DATA_LABEL" ]; then
      found=$at
      break
    fi
    mib=$((mib + 1))
  done
fi
start=${found:-$want}
sector=$((start / 512))

# A power cut after the table was written and before mkfs leaves the entry:
# use it rather than adding a second one.
nr=$(part_at "$disk" "$sector")
if [ -z "$nr" ]; then
  gpt_to_end "$disk" || true
  # One partition from $start over all remaining space (type Linux).
  if ! printf 'start=%s,type=L\n' "$sector" | sfdisk --quiet --append --no-reread "$disk" >/dev/null 2>&1; then
    fail "cannot add a data partition at $((start / MIB)) MiB on $disk (another partition in the way?)"
  fi
  partx -u "$disk" 2>/dev/null || partprobe "$disk" 2>/dev/null || true
  udevadm settle 2>/dev/null || true
  nr=$(part_at "$disk" "$sector")
  [ -n "$nr" ] || fail "the data partition at sector $sector was not written on $disk"
fi
i=0
until part=$(part_dev "$disk" "$nr"); do
  [ $i -lt 10 ] || fail "the kernel did not see partition $nr of $disk"
  partx -a "$disk" 2>/dev/null || true
  sleep 1
  i=$((i + 1))
done
if [ -n "$found" ]; then
  say "$STEP" ok "found this node's data filesystem at $((start / MIB)) MiB: table entry $part re-created over it"
else
  format_if_blank "$part"
fi
mount_data "$part"
grow_root
say "$STEP" ok "$part mounted on $HAIMG_DATA_MOUNT"
