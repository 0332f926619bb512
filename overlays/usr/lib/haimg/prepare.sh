#!/bin/sh
# haimg step 1: swap off and kept off, kernel modules, sysctls, memory cgroup
# check, local users. Runs on every boot; every action is idempotent.
STEP=prepare
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh

# Kubernetes wants no swap. Masking swap.target keeps every swap unit (zram,
# dphys-swapfile, rpi-swap, fstab entries) from starting again.
swapoff -a 2>/dev/null || true
for unit in dphys-swapfile.service rpi-swap.service systemd-zram-setup@zram0.service; do
  systemctl disable --now "$unit" >/dev/null 2>&1 || true
done
systemctl mask swap.target >/dev/null 2>&1 || true
if [ -n "$(swapon --noheadings 2>/dev/null || true)" ]; then
  fail "swap is still active"
fi

# Modules listed by haimg; modules-load.d loads them too, but only at boot and
# silently: here a missing module is reported.
while IFS= read -r mod; do
  case "$mod" in '' | '#'*) continue ;; esac
  modprobe "$mod" 2>/dev/null || fail "kernel module $mod is missing"
done </etc/modules-load.d/haimg.conf

# systemd-sysctl may run before br_netfilter exists; apply again now.
# Through systemd-sysctl, not sysctl(8): minimal bases lack procps.
for tool in /usr/lib/systemd/systemd-sysctl /lib/systemd/systemd-sysctl; do
  if [ -x "$tool" ]; then
    "$tool" /etc/sysctl.d/90-haimg.conf || fail "the kernel refused a setting of /etc/sysctl.d/90-haimg.conf"
    break
  fi
done

if [ "$HAIMG_CHECK_MEMCG" = 1 ] && ! grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
  fail "the memory cgroup is off: add cgroup_enable=memory to cmdline.txt (K3s needs it)"
fi

# The image carries no SSH host keys (each node needs its own): make any that
# are missing. Debian's sshd does not start without them.
if command -v ssh-keygen >/dev/null 2>&1 && [ -d /etc/ssh ]; then
  ssh-keygen -A >/dev/null || fail "cannot create SSH host keys"
fi

# Users: /etc/haimg/users/NAME/{authorized_keys,groups}.
for dir in /etc/haimg/users/*/; do
  [ -d "$dir" ] || continue
  name=$(basename "$dir")
  if ! id "$name" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$name" 2>/dev/null ||
      useradd -m "$name" || fail "cannot create user $name"
  fi
  while IFS= read -r group; do
    [ -n "$group" ] || continue
    if getent group "$group" >/dev/null; then
      usermod -a -G "$group" "$name"
    fi
  done <"$dir/groups"
  home=$(getent passwd "$name" | cut -d: -f6)
  install -d -m 0700 -o "$name" "$home/.ssh"
  install -m 0600 -o "$name" "$dir/authorized_keys" "$home/.ssh/authorized_keys"
done

say "$STEP" ok "swap off, modules and sysctls applied"
