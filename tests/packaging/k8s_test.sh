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
sed 's/^      hostPID: true/      hostPID: "yes"/' "$SRC/packaging/kubernetes/daemonset.yaml" >"$tmp/broken.yaml"
check "the validator rejects a wrong type (hostPID: \"yes\")" bash -c "! node '$val/validate.mjs' '$tmp/broken.yaml'"
check "the security-relevant fields" python3 "$SRC/tests/packaging/k8s_test.py" "$SRC" "$1"
finish
