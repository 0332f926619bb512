#!/bin/sh
# haimg step 7 (servers that deploy [stack.*]): hand the stack to K3s.
#   1. check the node prerequisites the stack needs (/etc/haimg/stack-checks);
#   2. move the stack's Secrets off the boot partition into root (0600);
#   3. copy the manifests into K3s's auto-deploy folder, which is under the
#      data mount (K3s applies them, and retries failures every 15 s:
#      pkg/deploy/controller.go); dotfiles are ignored there, so each copy
#      is written as .NAME.new and renamed;
#   4. apply the Secrets through the API (server-side apply), then wipe them:
#      nothing secret stays on disk;
#   5. scale K3s's own workloads the stack needs more of (/etc/haimg/stack-scale).
# Every part is safe to repeat after a power cut; a failed apply is retried
# on the next boot from the root copy.
STEP=stack
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh

checks=/etc/haimg/stack-checks
if [ -f "$checks" ]; then
  while read -r kind name why; do
    case "$kind" in
      command) command -v "$name" >/dev/null 2>&1 || fail "$name is missing: $why" ;;
      unit) systemctl is-active --quiet "$name" || systemctl start "$name" ||
        fail "$name does not run: $why" ;;
      module) modprobe "$name" 2>/dev/null || grep -q "^$name " /proc/modules ||
        fail "kernel module $name cannot be loaded: $why" ;;
      *) continue ;;
    esac
  done <"$checks"
fi

boot=$(secret_path stack-secrets.json)
kept=$HAIMG_STATE/stack-secrets.json
if [ -s "$boot" ] && ! grep -q '^\[redacted' "$boot" && [ ! -s "$kept" ]; then
  (umask 077 && cp "$boot" "$kept.new" && sync && mv "$kept.new" "$kept")
fi
wipe "$boot" || fail "could not remove the stack's secrets from the boot partition"

dest=${HAIMG_K3S_DATA_DIR:-/var/lib/rancher/k3s}/server/manifests
mkdir -p "$dest"
copied=0
for f in /usr/lib/haimg/manifests/*.yaml; do
  [ -f "$f" ] || continue
  n=${f##*/}
  if ! cmp -s "$f" "$dest/$n"; then
    cp "$f" "$dest/.$n.new"
    mv "$dest/.$n.new" "$dest/$n"
    copied=$((copied + 1))
  fi
done

if [ -s "$kept" ]; then
  tries=0
  until k3s kubectl apply --server-side --force-conflicts --field-manager=haimg -f "$kept" >/dev/null; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || fail "the K3s API did not take the stack's secrets; retrying on the next boot"
    say "$STEP" waiting "the K3s API does not take the stack's secrets yet"
    sleep 10
  done
  wipe "$kept" || fail "could not remove $kept"
  say "$STEP" ok "the stack's secrets are in the cluster; no copy is left on disk"
fi
# K3s's own workloads the stack needs more of; they exist once K3s has
# applied its packaged manifests, so this waits for them. Once: a scale
# stays (K3s's manifests set no replicas).
scale=/etc/haimg/stack-scale
if [ -f "$scale" ] && ! is_done stack-scale; then
  while read -r ns what replicas; do
    case "$ns" in '#'* | '') continue ;; esac
    tries=0
    until k3s kubectl -n "$ns" scale "$what" --replicas="$replicas" >/dev/null; do
      tries=$((tries + 1))
      [ "$tries" -lt 60 ] || fail "could not scale $ns/$what to $replicas; retrying on the next boot"
      sleep 10
    done
    say "$STEP" ok "$ns/$what: $replicas replicas"
  done <"$scale"
  mark_done stack-scale
fi

say "$STEP" ok "$copied manifest(s) handed to K3s in $dest; \`haimg-status\` shows the stack's progress"
if ! is_done stack; then
  # A first look, on the first boot only (images still pulling): the
  # table haimg-status prints.
  /usr/lib/haimg/status.sh 2>/dev/null | while read -r line; do say "$STEP" status "$line"; done || true
fi
mark_done stack
