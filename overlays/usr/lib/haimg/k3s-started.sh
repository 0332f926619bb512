#!/bin/sh
# After every start of K3s (ExecStartPost, once K3s told systemd it is ready):
# once this server has an etcd member's data, remember it, and make sure
# cluster-init is never acted on again: if the data is lost later, k3s-wait.sh
# rejoins through a peer rather than founding a second cluster.
STEP=k3s-started
# shellcheck source=common.sh
. /usr/lib/haimg/common.sh
# shellcheck source=join.sh
. /usr/lib/haimg/join.sh

[ "$HAIMG_K3S_EXEC" = server ] || exit 0
has_etcd_data || exit 0
if ! is_done k3s-member; then
  mark_done k3s-member
  say "$STEP" ok "this node is an etcd member ($(etcd_dir))"
fi
if [ ! -e "$JOIN_DROPIN" ]; then
  write_dropin "founded the cluster; never again" "cluster-init: false"
fi
exit 0
