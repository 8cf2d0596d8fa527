#!/usr/bin/env bash
# Configures and builds everything into ./build (incremental on re-runs).
# RAMPART_WERROR=ON turns warnings into errors, as CI does.
# RAMPART_SANITIZE=ON builds with AddressSanitizer and UBSan into
# ./build-asan instead (CI runs the test suite there).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
[ "${RAMPART_SANITIZE:-OFF}" = ON ] && dir=build-asan
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRAMPART_WERROR="${RAMPART_WERROR:-OFF}" \
  -DRAMPART_SANITIZE="${RAMPART_SANITIZE:-OFF}" >/dev/null
cmake --build "$dir" -j "$(nproc)"
