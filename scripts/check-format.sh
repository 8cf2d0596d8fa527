#!/usr/bin/env bash
# Checks that the tracked C and C++ sources are formatted as .clang-format
# (and bpf/.clang-format) say, without changing them: every unformatted file
# is named and the exit status is 1. With --changed BASE only the files
# changed since the commit BASE are checked (what a branch touched).
# Vendored npm packages and generated files are not ours to format.
set -euo pipefail
cd "$(dirname "$0")/.."

clang_format=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$clang_format" ]; then
  echo "check-format: clang-format not found (scripts/install-deps.sh installs it)" >&2
  exit 2
fi

base=
case "${1:-}" in
  --changed)
    [ $# -eq 2 ] || { echo "usage: $0 [--changed BASE]" >&2; exit 2; }
    base=$2
    ;;
  "") ;;
  *) echo "usage: $0 [--changed BASE]" >&2; exit 2 ;;
esac

patterns=('*.cpp' '*.h' '*.c')
if [ -n "$base" ]; then
  # Added, copied, modified or renamed since BASE, plus uncommitted changes.
  mapfile -t files < <(git diff --name-only --diff-filter=ACMR "$base" -- "${patterns[@]}")
else
  mapfile -t files < <(git ls-files -- "${patterns[@]}")
fi

# BPF programs outside bpf/ (the bench's hook floor) take bpf/'s kernel
# style, as the programs in bpf/ do: the folder's .clang-format would not.
checked=()
bpf_outside=()
for f in "${files[@]}"; do
  case "$f" in
    tests/packaging/k8s-validate/*) continue ;;
    *.pb.h | *.pb.cc | *.grpc.pb.h | *vmlinux.h | *.skel.h) continue ;;
  esac
  [ -f "$f" ] || continue
  case "$f" in
    bpf/*) checked+=("$f") ;;
    *.bpf.c | *.bpf.h) bpf_outside+=("$f") ;;
    *) checked+=("$f") ;;
  esac
done

[ ${#checked[@]} -gt 0 ] || { echo "check-format: no C or C++ files to check"; exit 0; }
# One clang-format run over all of them (one per file takes ten times as
# long); it names each unformatted file in its diagnostics.
status=0
out=$("$clang_format" --dry-run --Werror "${checked[@]}" 2>&1) || status=$?
if [ ${#bpf_outside[@]} -gt 0 ]; then
  more=$("$clang_format" --style=file:bpf/.clang-format --dry-run --Werror "${bpf_outside[@]}" 2>&1) || status=$?
  out+=$'\n'"$more"
  checked+=("${bpf_outside[@]}")
fi
mapfile -t bad < <(grep -oP '^[^:]+(?=:[0-9]+:[0-9]+: error: code should be clang-formatted)' <<< "$out" | sort -u)
if [ $status -ne 0 ] && [ ${#bad[@]} -eq 0 ]; then
  echo "$out" >&2
  echo "check-format: clang-format failed (exit $status)" >&2
  exit 2
fi

if [ ${#bad[@]} -gt 0 ]; then
  for f in "${bad[@]}"; do echo "check-format: not formatted: $f"; done
  echo "check-format: ${#bad[@]} of ${#checked[@]} files need clang-format (run: $clang_format -i FILE; for a *.bpf.c outside bpf/, add --style=file:bpf/.clang-format)" >&2
  exit 1
fi
echo "check-format: ${#checked[@]} files formatted"
