#!/bin/sh
# haimg step 2: the data disk. Creates the data partition in the free space
# after the last partition of the boot disk (or uses the named device), makes
# ext4 on it ONLY if it holds no signature at all, and mounts it. A filesystem
# that is already there is mounted as it is: nothing with data is formatted.
STEP=storage
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh

if [ "$HAIMG_DATA_MODE" = none ]; then
  say "$STEP" skipped "no data disk configured"
  exit 0
fi

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
}

# Format only a device with no signature whatsoever (no filesystem, no RAID or
# LVM member, no partition table).
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
  mkfs.ext4 -q -L "$HAIMG_DATA_LABEL" "$part" || fail "mkfs.ext4 $part failed"
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
  say "$STEP" ok "$dev mounted on $HAIMG_DATA_MOUNT"
  exit 0
fi

# rest: a partition after the last one of the disk that holds /.
existing=$(blkid -o device -t LABEL="$HAIMG_DATA_LABEL" 2>/dev/null | head -n 1 || true)
if [ -n "$existing" ]; then
  mount_data "$existing"
  say "$STEP" ok "$existing ($HAIMG_DATA_LABEL) mounted on $HAIMG_DATA_MOUNT"
  exit 0
fi

rootpart=$(findmnt -n -o SOURCE /)
disk=/dev/$(lsblk -n -o PKNAME "$rootpart" | head -n 1)
[ -b "$disk" ] || fail "cannot find the disk of $rootpart"
before=$(lsblk -n -r -o NAME "$disk" | wc -l)
# Append one partition over all remaining free space (type Linux).
if ! printf ',,L\n' | sfdisk --quiet --append --no-reread "$disk" >/dev/null 2>&1; then
  fail "no free space for a data partition on $disk"
fi
partx -u "$disk" 2>/dev/null || partprobe "$disk" 2>/dev/null || true
udevadm settle 2>/dev/null || true
after=$(lsblk -n -r -o NAME "$disk" | wc -l)
[ "$after" -gt "$before" ] || fail "the kernel did not see the new partition on $disk"
part=/dev/$(lsblk -n -r -o NAME "$disk" | tail -n 1)
format_if_blank "$part"
mount_data "$part"
say "$STEP" ok "$part mounted on $HAIMG_DATA_MOUNT"
