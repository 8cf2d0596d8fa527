#!/usr/bin/env bash
# systemd-analyze verify accepts packaging/systemd/rampart.service: no error
# and no warning (an unknown key or a bad value is only a warning, exit 0,
# so any output fails the test). It works without systemd as PID 1. The
# unit's ExecStart names the installed /usr/sbin/rampartd, which verify
# requires to exist, so a copy pointing at the built binary is verified.
#   unit_verify_test.sh RAMPARTD
. "$(dirname "$0")/lib.sh"
need_tool systemd-analyze
unit=$SRC/packaging/systemd/rampart.service
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/sbin/rampartd|$(realpath "$1")|" "$unit" >"$tmp/rampart.service"
out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$tmp/rampart.service" 2>&1) && rc=0 || rc=$?
[ -n "$out" ] && echo "$out"
check "systemd-analyze verify exits 0" test "$rc" -eq 0
check "and prints no warning" test -z "$out"
# It does catch mistakes: the same check on a broken copy fails.
sed 's/^ProtectHome=.*/ProtectHome=sometimes/' "$tmp/rampart.service" >"$tmp/broken.service"
check "a bad value is reported" bash -c "[ -n \"\$(systemd-analyze verify '$tmp/broken.service' 2>&1)\" ]"
for d in Type=notify Restart=on-failure NoNewPrivileges=yes ProtectSystem=strict ProtectHome=read-only \
  WatchdogSec= StateDirectory=rampart RuntimeDirectory=rampart; do
  check "the unit sets $d" grep -q "^$d" "$unit"
done
check "the capability set is the issue's eight" test \
  "$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr ' ' '\n' | sort | tr '\n' ' ')" = \
  "CAP_BPF CAP_DAC_READ_SEARCH CAP_KILL CAP_NET_ADMIN CAP_PERFMON CAP_SYS_ADMIN CAP_SYS_PTRACE CAP_SYS_RESOURCE "
# Every directive has its reason: a comment line right above it, or above
# the group it belongs to (no blank line in between).
undocumented=$(awk '/^\[/ {c=0; next} /^#/ {c=1; next} /^$/ {c=0; next} /^[A-Za-z]+=/ {if (!c) print; next}' "$unit")
[ -n "$undocumented" ] && echo "$undocumented"
check "every directive sits under a comment that justifies it" test -z "$undocumented"
finish
