#!/usr/bin/env bash
# Installs what Rampart needs (Debian 12 packages), builds it, and runs every
# test tier under ctest: unit, bpf (real kernel) and e2e (rampartd + child
# workloads). Run as root: without root or kernel support the kernel tiers are
# skipped with a reason, and with RAMPART_REQUIRE_KERNEL=1 (as CI sets) such a
# skip is a failure.
set -euo pipefail
cd "$(dirname "$0")"
# RAMPART_BUILD_TARGETS limits the build (see scripts/build.sh).
bash scripts/install-deps.sh
bash scripts/build.sh
# RAMPART_SANITIZE=ON: the same suite on the ASan + UBSan build (build-asan).
dir=build
if [ "${RAMPART_SANITIZE:-OFF}" = ON ]; then
  dir=build-asan
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export RAMPART_TEST_TIMEOUT_SCALE=${RAMPART_TEST_TIMEOUT_SCALE:-2}
fi
ctest --test-dir "$dir" --output-on-failure --timeout 600 "$@"
