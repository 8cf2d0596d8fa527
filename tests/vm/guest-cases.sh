#!/usr/bin/env bash
# Runs inside the VM (run-tier.sh starts it through run-in-vm.sh): runs the
# given Catch2 test cases of one test binary, each in its own process under a
# time limit, so a hang costs one case and not the whole VM run, and each
# case's time is measured on its own. Prints one line per case and, for a
# failing case, its full output; then a summary line.
#
# Usage: guest-cases.sh [--pin FILE]... BINARY CASE_TIMEOUT_S NAMES_FILE
#   NAMES_FILE  one exact test case name per line
#   --pin FILE  copy FILE into the guest's own overlay layer first (BINARY is
#               always pinned): a rebuild on the host while the VM runs then
#               cannot swap a binary under a running case (over virtiofs that
#               shows as ESTALE, over 9p as a torn mix of old and new files)
# Output:
#   vm-case: PASS     7.3 s  <name>
#   vm-case: FAIL    16.2 s  <name> (exit 1: file.cpp:LINE first failed assertion)
#                                                   followed by its output
#   vm-case: TIMEOUT 120.0 s <name>                 followed by its output
#   vm-cases: 5 passed, 1 failed of 6 in 51.0 s
# Exit status: 0 when every case passed, 1 otherwise.
set -uo pipefail

pins=()
while [ "${1:-}" = --pin ]; do pins+=("$2"); shift 2; done
BIN=${1:?usage: guest-cases.sh [--pin FILE]... BINARY CASE_TIMEOUT_S NAMES_FILE}
LIMIT=${2:?case timeout}
NAMES=${3:?names file}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b - a}'; }

# The root is an overlay whose upper layer is guest RAM: a copy renamed over
# the original lives there, apart from the host's file.
for f in "$BIN" "${pins[@]+"${pins[@]}"}"; do
  cp -p "$f" "$f.vm-pin" && mv -f "$f.vm-pin" "$f" || { echo "vm-cases: cannot pin $f"; exit 1; }
done

passed=0 failed=0 total=0
t_all=$(now)
log=$(mktemp /tmp/vm-case.XXXXXX)
while IFS= read -r name; do
  [ -n "$name" ] || continue
  total=$((total + 1))
  # Catch2 reads ',' as "or" and '[' as a tag even inside a name: escape them.
  spec=$(printf '%s' "$name" | sed 's/[][\\,"*~]/\\&/g')
  t0=$(now)
  timeout -k 5 "$LIMIT" "$BIN" --warn NoTests "$spec" > "$log" 2>&1 < /dev/null
  rc=$?
  t=$(secs "$t0" "$(now)")
  if [ $rc = 0 ]; then
    passed=$((passed + 1))
    printf 'vm-case: %-7s %6s s  %s\n' PASS "$t" "$name"
  else
    failed=$((failed + 1))
    if [ $rc = 124 ] || [ $rc = 137 ]; then
      printf 'vm-case: %-7s %6s s  %s (limit %s s)\n' TIMEOUT "$t" "$name" "$LIMIT"
    else
      # The first failed assertion, e.g. "daemon_test.cpp:127 REQUIRE( d.wait_ready() )".
      first=$(awk '/: FAILED:$/ { loc = $1; sub(/.*\//, "", loc); sub(/:$/, "", loc)
                                  getline; sub(/^ +/, ""); print loc " " $0; exit }' "$log")
      printf 'vm-case: %-7s %6s s  %s (exit %s%s)\n' FAIL "$t" "$name" "$rc" "${first:+: $first}"
    fi
    sed 's/^/    | /' "$log"
  fi
done < "$NAMES"
rm -f "$log"
echo "vm-cases: $passed passed, $failed failed of $total in $(secs "$t_all" "$(now)") s"
[ "$failed" = 0 ] && [ "$total" -gt 0 ]
