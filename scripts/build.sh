#!/usr/bin/env bash
# Configures and builds everything into ./build (incremental on re-runs).
# RAMPART_WERROR=ON turns warnings into errors, as CI does.
# RAMPART_SANITIZE=ON builds with clang, AddressSanitizer and UBSan into
# ./build-asan instead (CI runs the test suite there). -O1 with line tables
# only: a sanitizer build is for finding bugs, and this halves its build time.
# (The fuzz targets have a tree of their own, scripts/fuzz.sh: libFuzzer's
# coverage instrumentation slows every branch, and the suite's timing with it.)
# Extra arguments go to `cmake --build` (e.g. --target NAME).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${RAMPART_SANITIZE:-OFF}" = ON ]; then
  dir=build-asan
  # A tree configured with another compiler cannot switch in place.
  if [ -f $dir/CMakeCache.txt ] && ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++' $dir/CMakeCache.txt; then
    rm -rf $dir
  fi
  flags="-O1 -gline-tables-only -DNDEBUG"
  cmake -S . -B $dir -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="$flags" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$flags" \
    -DRAMPART_WERROR="${RAMPART_WERROR:-OFF}" -DRAMPART_SANITIZE=ON >/dev/null
else
  dir=build
  # -g1: line tables and function names (backtraces name file:line) at a
  # third less compile time than full debug info.
  flags="-O2 -g1 -DNDEBUG"
  cmake -S . -B $dir -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="$flags" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$flags" -DRAMPART_WERROR="${RAMPART_WERROR:-OFF}" -DRAMPART_SANITIZE=OFF >/dev/null
fi
# RAMPART_BUILD_TARGETS="T1 T2 ...": build only these when no arguments say
# otherwise (CI sets it for the release tree, which serves only the benches
# and the VM and TSan tiers; ctest lists the tests of binaries left out as
# *_NOT_BUILT, so a run there filters them out with -R or -E).
if [ $# = 0 ] && [ -n "${RAMPART_BUILD_TARGETS:-}" ]; then
  # shellcheck disable=SC2086
  set -- --target $RAMPART_BUILD_TARGETS
fi
cmake --build $dir -j "$(nproc)" "$@"
