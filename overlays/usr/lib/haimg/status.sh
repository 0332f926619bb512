#!/bin/sh
# haimg-status: each part of the stack as the K3s API sees it, one line each:
#   pending  - K3s has not made it yet (its manifest is not applied)
#   deployed - it exists and is not ready yet (images pulling, volumes
#              attaching, a chart's install job running)
#   healthy  - all its replicas are ready / its chart installed / a backup ran
# The parts come from /etc/haimg/stack-components (NAME KIND NAMESPACE OBJECT,
# written by haimg). The table also goes to /var/lib/haimg/stack-status.
set -eu
components=${HAIMG_STACK_COMPONENTS:-/etc/haimg/stack-components}
out=${HAIMG_STATE:-/var/lib/haimg}/stack-status
[ -f "$components" ] || { echo "haimg-status: this node deploys no stack" >&2; exit 1; }

get() { k3s kubectl -n "$1" get "$2" "$3" -o "jsonpath=$4" 2>/dev/null; }

state() {
  ns=$1 kind=$2 name=$3
  k3s kubectl -n "$ns" get "$kind" "$name" >/dev/null 2>&1 || { echo pending; return; }
  case "$kind" in
    helmchart)
      job=$(get "$ns" helmchart "$name" '{.status.jobName}') || job=
      done=
      [ -z "$job" ] || done=$(get "$ns" job "$job" '{.status.succeeded}') || done=
      [ "${done:-0}" -ge 1 ] && echo healthy || echo deployed ;;
    deployment | statefulset)
      want=$(get "$ns" "$kind" "$name" '{.spec.replicas}') || want=
      ready=$(get "$ns" "$kind" "$name" '{.status.readyReplicas}') || ready=
      [ -n "$want" ] && [ "${ready:-0}" = "$want" ] && echo healthy || echo "deployed (${ready:-0}/${want:-?} ready)" ;;
    cronjob)
      last=$(get "$ns" cronjob "$name" '{.status.lastSuccessfulTime}') || last=
      [ -n "$last" ] && echo "healthy (last run $last)" || echo "deployed (no run yet)" ;;
    *) echo deployed ;;
  esac
}

tmp=$out.new
: >"$tmp"
while read -r part kind ns name; do
  case "$part" in '#'* | '') continue ;; esac
  printf '%-12s %-28s %s\n' "$part" "$kind/$name" "$(state "$ns" "$kind" "$name")" >>"$tmp"
done <"$components"
mv "$tmp" "$out"
cat "$out"
