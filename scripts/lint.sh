#!/usr/bin/env bash
# Runs clang-tidy (the checks in .clang-tidy) over the daemon's and the
# CLI's sources, with the flags of build/compile_commands.json, and prints
# what it finds. It reports; it does not fail on findings (exit 1 only when it
# cannot run). Files named as arguments narrow it to those files.
# Needs a configured ./build (scripts/build.sh); -j N runs N at once (1 by
# default: about 8 s a file, on a machine whose cores the build wants).
set -euo pipefail
cd "$(dirname "$0")/.."

clang_tidy=$(command -v clang-tidy-14 || command -v clang-tidy || true)
if [ -z "$clang_tidy" ]; then
  echo "lint: clang-tidy not found (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
if [ ! -f build/compile_commands.json ]; then
  echo "lint: build/compile_commands.json is missing: run scripts/build.sh first" >&2
  exit 1
fi

jobs=1
if [ "${1:-}" = -j ]; then
  jobs=$2
  shift 2
fi
if [ $# -gt 0 ]; then
  files=("$@")
else
  # Only files the build compiles (a source without flags cannot be checked).
  mapfile -t files < <(git ls-files 'daemon/*.cpp' 'cli/*.cpp' | while read -r f; do
    grep -q "\"file\": \"$PWD/$f\"" build/compile_commands.json && echo "$f"; done)
fi
[ ${#files[@]} -gt 0 ] || { echo "lint: nothing to check"; exit 0; }

log=$(mktemp)
trap 'rm -f "$log" "$log.findings"' EXIT
# stderr carries "N warnings generated" (suppressed ones, from headers not
# ours) and a file's compile errors, which are findings too.
printf '%s\n' "${files[@]}" | xargs -P "$jobs" -n 1 "$clang_tidy" -p build --quiet > "$log" 2>&1 || true
grep -E '^[^ ].*: (warning|error): |^Error while processing' "$log" | sort -u > "$log.findings" || true
cat "$log.findings"
echo "lint: $(wc -l < "$log.findings") findings in ${#files[@]} files"
echo "by check:"
grep -oE '\[[a-z0-9.,-]+\]$' "$log.findings" | sort | uniq -c | sort -rn || true
