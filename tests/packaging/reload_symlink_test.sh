#!/usr/bin/env bash
# e2e: a Kubernetes ConfigMap update, replayed. The kubelet mounts a
# ConfigMap as a directory of symlinks (name.yaml -> ..data/name.yaml,
# ..data -> ..<timestamp>/) and updates it by writing a new ..<timestamp>
# directory, pointing a ..data_tmp symlink at it and renaming ..data_tmp
# over ..data: one atomic rename. rampartd's inotify watch must turn that
# into a policy reload: the new policies in force (rampartctl policy list),
# the generation and the reload counters moved (/metrics), and an invalid
# update rejected with the previous set kept.
#   reload_symlink_test.sh RAMPARTD RAMPARTCTL
. "$(dirname "$0")/lib.sh"
need_kernel
need_tool curl
rampartd=$1
ctl=$2
work=$(mktemp -d /tmp/rampart-reload-XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
p=$work/policies
mkdir -p "$p"

policy() {  # policy NAME: an audit-mode policy for an executable that does not exist
  printf 'apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: %s\nspec:\n  selector:\n    executables: ["%s/none"]\n  mode: audit\n' "$1" "$work"
}
# What the kubelet does on an update: new timestamped dir, then one rename.
kubelet_update() {  # kubelet_update STAMP CONTENT
  local old
  old=$(readlink "$p/..data" 2>/dev/null || true)
  mkdir "$p/..$1"
  printf '%s\n' "$2" >"$p/..$1/workload.yaml"
  ln -s "..$1" "$p/..data_tmp"
  mv -T "$p/..data_tmp" "$p/..data"
  [ -e "$p/workload.yaml" ] || ln -s ..data/workload.yaml "$p/workload.yaml"
  [ -n "$old" ] && rm -rf "${p:?}/$old"
  return 0
}
kubelet_update 2026_01_01_00_00_00.1 "$(policy k8s-generation-one)"

cat >"$work/rampart.yaml" <<YAML
enforcement:
  exec_mounts: []
  sensitive_paths: []
api:
  socket: $work/api.sock
metrics:
  address: "127.0.0.1:0"
YAML
"$rampartd" --config "$work/rampart.yaml" --policy-dir "$p" --output "$work/events.jsonl" 2>"$work/stderr.txt" &
pid=$!
check "rampartd starts on the ConfigMap-style directory" wait_for "$work/stderr.txt" "metrics on " 30 ||
  { cat "$work/stderr.txt"; finish; exit 1; }
url=$(grep -o 'http://[0-9.:]*/metrics' "$work/stderr.txt" | head -1)
metric() { curl -sf "$url" | awk -v m="$1" '$1 == m {print $2}'; }
policies() { "$ctl" --socket "$work/api.sock" policy list 2>&1; }
wait_metric() {  # wait_metric NAME VALUE SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    [ "$(metric "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
check "generation 1 in force: k8s-generation-one" grep -q k8s-generation-one <<<"$(policies)"
check "policy generation is 1" test "$(metric rampart_policy_generation)" = 1

kubelet_update 2026_01_01_00_01_00.2 "$(policy k8s-generation-two)"
check "the ..data symlink swap triggers a reload (generation 2)" wait_metric rampart_policy_generation 2 10
list=$(policies)
check "the new policy is in force and the old one gone" \
  bash -c "grep -q k8s-generation-two <<<'$list' && ! grep -q k8s-generation-one <<<'$list'"
check "reloads ok: 1" test "$(metric 'rampart_policy_reloads_total{result="ok"}')" = 1

kubelet_update 2026_01_01_00_02_00.3 "apiVersion: rampart.dev/v1
kind: Policy
metadata: {name: broken
spec: ["
check "an invalid update is counted as a failed reload" wait_metric 'rampart_policy_reloads_total{result="failed"}' 1 10
check "and the previous set stays in force (generation 2, k8s-generation-two)" bash -c \
  "[ '$(metric rampart_policy_generation)' = 2 ] && grep -q k8s-generation-two <<<'$(policies)'"

kill -TERM "$pid"
wait "$pid" && rc=0 || rc=$?
pid=
check "clean exit (status $rc)" test "$rc" -eq 0
finish
