#!/usr/bin/env bash
# Installs what Rampart needs (Debian 12 packages), builds it, and runs every
# test tier under ctest: unit, bpf (real kernel) and e2e (rampartd + child
# workloads). Run as root: without root or kernel support the kernel tiers are
# skipped with a reason, and with RAMPART_REQUIRE_KERNEL=1 (as CI sets) such a
# skip is a failure.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 300 "$@"
