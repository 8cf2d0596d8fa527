# Shared by the packaging tests (sourced). Kernel-tier tests call
# need_kernel: without root or BPF they print why and exit 77 (ctest:
# skipped), or fail when RAMPART_REQUIRE_KERNEL=1, as in CI.
# check/fail print one line per assertion; finish exits non-zero on failures.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
failures=0
checks=0

skip_or_fail() {
  if [ "${RAMPART_REQUIRE_KERNEL:-}" = 1 ]; then
    echo "FAILED (RAMPART_REQUIRE_KERNEL=1): $*"
    exit 1
  fi
  echo "SKIPPED: $*"
  exit 77
}

need_kernel() {
  [ "$(id -u)" -eq 0 ] || skip_or_fail "not root: BPF programs need root"
  [ -r /sys/kernel/btf/vmlinux ] || skip_or_fail "no kernel BTF at /sys/kernel/btf/vmlinux"
}

need_tool() {
  command -v "$1" >/dev/null || { echo "FAILED: $1 is missing (scripts/install-deps.sh installs it)"; exit 1; }
}

check() {  # check "what" command...
  local what=$1
  shift
  checks=$((checks + 1))
  if "$@"; then
    echo "ok   $what"
  else
    echo "FAIL $what"
    failures=$((failures + 1))
  fi
}

finish() {
  echo "$((checks - failures)) passed, $failures failed"
  [ "$failures" -eq 0 ]
}

# wait_for FILE PATTERN SECONDS: until FILE contains PATTERN (grep -E).
wait_for() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
