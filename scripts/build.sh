#!/usr/bin/env bash
# Configures and builds everything into ./build (incremental on re-runs).
# RAMPART_WERROR=ON turns warnings into errors, as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRAMPART_WERROR="${RAMPART_WERROR:-OFF}" >/dev/null
cmake --build build -j "$(nproc)"
