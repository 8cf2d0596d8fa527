#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, coverage for the
# fuzzer in every library they use, nothing else: no tests) into
# ./build-fuzz, and runs each for SECONDS (default 60) on a copy of its seed
# corpus in tests/fuzz/corpus/<target>. A crash fails the run and leaves the
# input in build-fuzz/findings/<target>/: fix it, then add the input to the
# corpus as a regression case. Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#        scripts/fuzz.sh --build-only   build the targets, run nothing
#        scripts/fuzz.sh --seeds   regenerate the decoder seeds after an ABI change
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--seeds" ]; then
  mkdir -p build-fuzz
  g++ -std=c++20 -Ibpf tests/fuzz/gen_decoder_seeds.cpp -o build-fuzz/gen_decoder_seeds
  build-fuzz/gen_decoder_seeds tests/fuzz/corpus/decoder
  exit 0
fi
BUILD_ONLY=0
if [ "${1:-}" = "--build-only" ]; then BUILD_ONLY=1; shift; fi
SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(decoder policy config pods api profile)
flags="-O2 -gline-tables-only -DNDEBUG"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="$flags" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$flags" \
  -DRAMPART_FUZZ=ON -DRAMPART_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target $(printf 'rampart_fuzz_%s ' "${TARGETS[@]}")
[ $BUILD_ONLY = 0 ] || exit 0
out=build-fuzz
# One target per CPU at a time: the wall time is SECONDS x targets / CPUs.
fuzz_one() {
  local t=$1 work=$out/corpus/$1 findings=$out/findings/$1
  rm -rf "$work" && mkdir -p "$work" "$findings"
  cp tests/fuzz/corpus/$t/* "$work"/
  if ! $out/rampart_fuzz_$t -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$findings/" -print_final_stats=1 "$work" 2> $out/$t.log; then
    echo "fuzz: $t FOUND A CRASH; input in $findings/, log in $out/$t.log:"
    tail -40 $out/$t.log
    return 1
  fi
  grep -E '^stat::(number_of_executed_units|new_units_added)' $out/$t.log | sed "s/^/fuzz: $t /"
}
status=0
pids=()
for t in "${TARGETS[@]}"; do
  echo "fuzz: $t for ${SECONDS_EACH}s"
  fuzz_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$(nproc)" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
