#!/usr/bin/env bash
# e2e: /metrics scraped with curl while a load overflows a small ring
# buffer; counters move and drops agree with the load's own count (see
# metrics_load.py).
#   metrics_test.sh RAMPARTD
. "$(dirname "$0")/lib.sh"
need_kernel
need_tool curl
work=$(mktemp -d /tmp/rampart-metrics-XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 "$SRC/tests/packaging/metrics_load.py" "$(realpath "$1")" "$work"
