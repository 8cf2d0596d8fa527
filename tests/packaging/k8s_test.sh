#!/usr/bin/env bash
# The Kubernetes manifests: offline schema validation (kubernetes-models'
# OpenAPI schemas, npm, installed by scripts/install-deps.sh), a broken copy
# rejected by the same validator, and the security-relevant fields
# (k8s_test.py).
#   k8s_test.sh RAMPARTD
. "$(dirname "$0")/lib.sh"
need_tool node
need_tool python3
val=$SRC/tests/packaging/k8s-validate
[ -d "$val/node_modules/kubernetes-models" ] ||
  { echo "FAILED: $val/node_modules is missing: run scripts/install-deps.sh"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check "every manifest matches its Kubernetes schema" node "$val/validate.mjs" "$SRC"/packaging/kubernetes/*.yaml
check "the opt-in kubelet lookup RBAC matches its schema" node "$val/validate.mjs" \
  "$SRC"/packaging/kubernetes/optional/kubelet-lookup.yaml
check "the opt-in RBAC grants only get on nodes/proxy" python3 -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
rules = [r for d in docs if d["kind"] == "ClusterRole" for r in d["rules"]]
assert rules == [{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}], rules
' "$SRC"/packaging/kubernetes/optional/kubelet-lookup.yaml
sed 's/^      hostPID: true/      hostPID: "yes"/' "$SRC/packaging/kubernetes/daemonset.yaml" >"$tmp/broken.yaml"
check "the validator rejects a wrong type (hostPID: \"yes\")" bash -c "! node '$val/validate.mjs' '$tmp/broken.yaml'"
check "the security-relevant fields" python3 "$SRC/tests/packaging/k8s_test.py" "$SRC" "$1"
finish
