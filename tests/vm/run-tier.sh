#!/usr/bin/env bash
# The VM tier: runs the kernel test binaries of a build inside QEMU on Debian
# kernels other than the host's (6.1 generic and 6.12 cloud), where BPF
# trampolines and BPF LSM work. This is where BPF LSM enforcement is tested for
# real, and where every BPF program meets the verifier of an older kernel.
#
# Usage: tests/vm/run-tier.sh BUILD_DIR
# For each kernel that tests/vm/fetch-kernels.sh provides, each in a fresh VM:
#   probe   /sys/kernel/security/lsm, and whether bpf is in it (a failure if
#           not: lsm/* programs would attach and never run)
#   lsm     BUILD_DIR/tests/rampart_lsm_tests, when it exists: every case on
#           the first kernel, the cases in tests/vm/lsm-other.cases on others
#   bypass_files  (first kernel) BUILD_DIR/tests/bypass/rampart_bypass_files_tests:
#           the cases in tests/vm/bypass_files.cases, with BPF LSM
#   lsm-fmod  (first kernel) the cases in tests/vm/lsm-fmod.cases, on the
#           kernel booted without bpf in lsm=: rampartd must run its LSM
#           programs as fmod_ret programs on security_*() instead
#   bpf     BUILD_DIR/tests/rampart_bpf_tests: the cases in tests/vm/bpf.cases
#   e2e     BUILD_DIR/tests/rampart_e2e_tests: the cases in tests/vm/e2e.cases
# The binaries run with RAMPART_REQUIRE_KERNEL=1, RAMPART_VM_KERNEL=<kver> and
# RAMPART_TEST_TIMEOUT_SCALE (RAMPART_VM_TIMEOUT_SCALE, default 5: the factor
# by which a test should stretch its fixed waits under emulation),
# one process per test case, each limited to RAMPART_VM_CASE_TIMEOUT seconds
# (default 120). Under TCG a case costs 8-30 s (each one loads and verifies
# all of rampartd's programs), hence the subsets; tests/vm/*.cases say which
# and why. RAMPART_VM_FULL=1 runs every case of every binary (10-20 min
# per kernel on a 2-vCPU host).
#
# Logs: BUILD_DIR/vm-logs/<kver>/<binary>.log (full output of each VM run).
# Kernels: BUILD_DIR/vm-kernels (RAMPART_VM_KERNELS_DIR), fetched once.
# Exit status: 0 all passed; 1 something failed; 77 skipped (no QEMU, no
# kernel could be fetched, not root), a failure instead with
# RAMPART_REQUIRE_KERNEL=1.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:?usage: run-tier.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd) || exit 2
KDIR=${RAMPART_VM_KERNELS_DIR:-$BUILD/vm-kernels}
LOGS=$BUILD/vm-logs
CASE_TIMEOUT=${RAMPART_VM_CASE_TIMEOUT:-120}
FULL=${RAMPART_VM_FULL:-0}
# Emulation is 4-10x slower than the host: the factor the kernel tiers are
# asked to stretch their fixed waits by (rampartd's start-up above all).
SCALE=${RAMPART_VM_TIMEOUT_SCALE:-5}

skip() {
  if [ "${RAMPART_REQUIRE_KERNEL:-0}" = 1 ]; then
    echo "FAILED (RAMPART_REQUIRE_KERNEL=1): $*"
    exit 1
  fi
  echo "SKIPPED: $*"
  exit 77
}

# --- prerequisites ----------------------------------------------------------------
[ "$(id -u)" = 0 ] || skip "not root: the guest shares the host's / (virtiofsd and reading root-only files need root)"
for t in qemu-system-x86_64 cpio file depmod apt-get dpkg; do
  command -v "$t" >/dev/null || skip "$t not found (scripts/install-deps.sh installs the VM tier's packages)"
done
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || skip "no static /bin/busybox (busybox-static)"
for b in rampart_bpf_tests rampart_e2e_tests; do
  [ -x "$BUILD/tests/$b" ] || { echo "FAILED: $BUILD/tests/$b is missing: build first"; exit 1; }
done

t_tier=$SECONDS
echo "== fetching kernels into $KDIR"
if ! "$HERE/fetch-kernels.sh" "$KDIR"; then
  skip "no kernel could be fetched (is the Debian apt mirror reachable?)"
fi
mapfile -t KERNELS < "$KDIR/kernels.list"
# The e2e and lsm binaries start this rampartd (its path is compiled in).
pin=()
[ ! -x "$BUILD/rampartd" ] || pin=(--pin "$BUILD/rampartd")

# --- helpers ----------------------------------------------------------------------------
rows=()
failures=0
row() {  # kernel, what, result, detail, seconds
  rows+=("$(printf '%-28s %-20s %-5s %-30s %6s s' "$1" "$2" "$3" "$4" "$5")")
  [ "$3" = pass ] || failures=$((failures + 1))
}
boot_time() { sed -n 's/^run-in-vm: .*: booted in \([0-9.]*\) s.*/\1/p' "$1" | tail -1; }

# The cases of one binary: its .cases file (checked against the binary's own
# list, so a renamed test fails loudly instead of silently running nothing),
# or all of them.
select_cases() {  # binary path, short name, output file
  local all=$3.all want=$HERE/$2.cases
  "$1" --list-test-names-only 2>/dev/null | grep -v '^$' > "$all" || true
  if [ "$FULL" != 1 ] && [ -e "$want" ]; then
    grep -v -e '^#' -e '^[[:space:]]*$' "$want" > "$3"
    local missing
    missing=$(grep -vxF -f "$all" "$3" || true)
    if [ -n "$missing" ]; then
      echo "tests/vm/$2.cases names test cases that $1 does not have:"
      echo "$missing" | sed 's/^/  /'
      rm -f "$all"
      return 1
    fi
  else
    cp "$all" "$3"
  fi
  rm -f "$all"
  [ -s "$3" ]
}

# --- per kernel ---------------------------------------------------------------------------
for line in "${KERNELS[@]}"; do
  read -r kver vmlinux _pkg <<< "$line"
  mkdir -p "$LOGS/$kver"
  rm -f "$LOGS/$kver"/*.log "$LOGS/$kver"/*.names
  echo
  echo "== $kver ($vmlinux)"

  # probe: the active LSMs
  t0=$SECONDS
  "$HERE/run-in-vm.sh" -k "$vmlinux" --timeout 180 -- bash -c '
    echo "probe: kernel $(uname -r)"
    echo "probe: lsm $(cat /sys/kernel/security/lsm)"
    case ",$(cat /sys/kernel/security/lsm)," in
      *,bpf,*) echo "probe: bpf in the active LSMs: yes";;
      *) echo "probe: bpf in the active LSMs: NO"; exit 1;;
    esac
    [ -r /sys/kernel/btf/vmlinux ] && echo "probe: kernel BTF: yes" || { echo "probe: kernel BTF: NO"; exit 1; }' \
    > "$LOGS/$kver/probe.log" 2>&1
  rc=$?
  cat "$LOGS/$kver/probe.log"
  boot=$(boot_time "$LOGS/$kver/probe.log")
  if [ $rc = 0 ]; then row "$kver" probe pass "bpf LSM active, boot ${boot:-?} s" $((SECONDS - t0))
  else row "$kver" probe FAIL "exit $rc" $((SECONDS - t0)); continue; fi

  # The first kernel runs every tier; the others (6.12 runs about twice as
  # slow as 6.1 under TCG) the lsm tier only, to keep the tier within 10
  # minutes. RAMPART_VM_FULL=1 runs every tier on every kernel.
  # lsm-fmod: the lsm cases again, on the same kernel booted without bpf in
  # lsm= (as Ubuntu, RHEL and most managed nodes run): the programs are then
  # fmod_ret programs on security_*(). Once, on the first kernel.
  # bypass_files: bypass cases whose attack the hooks answer differently
  # from fanotify (tests/vm/bypass_files.cases), on the first kernel.
  tiers="lsm lsm-fmod bpf e2e bypass_files"
  [ "$line" = "${KERNELS[0]}" ] || [ "$FULL" = 1 ] || tiers="lsm"
  for tier in $tiers; do
    short=${tier%-fmod}
    vmargs=() hooks=bpf_lsm
    if [ "$tier" = lsm-fmod ]; then
      vmargs=(--lsm lockdown,capability,landlock,yama,apparmor) hooks=bpf_fmod_ret
    fi
    bin=$BUILD/tests/rampart_${short}_tests
    [ "${short#bypass_}" = "$short" ] || bin=$BUILD/tests/bypass/rampart_${short}_tests
    [ -x "$bin" ] || { [ "$short" = lsm ] && echo "-- rampart_lsm_tests: not built (yet), not run"; continue; }
    names=$LOGS/$kver/rampart_${tier}_tests.names
    log=$LOGS/$kver/rampart_${tier}_tests.log
    casefile=$tier  # lsm: every case on the first kernel, a subset on the others
    [ "$tier" != lsm ] || [ "$line" = "${KERNELS[0]}" ] || casefile=lsm-other
    if ! select_cases "$bin" "$casefile" "$names"; then
      row "$kver" "rampart_${tier}_tests" FAIL "no cases to run" 0
      continue
    fi
    n=$(wc -l < "$names")
    echo "-- rampart_${tier}_tests: $n case(s)"
    t0=$SECONDS
    # Cases run one after another; the VM limit covers them all plus the boot.
    "$HERE/run-in-vm.sh" -k "$vmlinux" "${vmargs[@]}" --timeout $((n * (CASE_TIMEOUT + 10) + 120)) -- \
      env RAMPART_REQUIRE_KERNEL=1 RAMPART_VM_KERNEL="$kver" RAMPART_VM_HOOKS="$hooks" \
      RAMPART_TEST_TIMEOUT_SCALE="$SCALE" \
      "$HERE/guest-cases.sh" "${pin[@]}" "$bin" "$CASE_TIMEOUT" "$names" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    summary=$(sed -n 's/^vm-cases: \([0-9]*\) passed, \([0-9]*\) failed of \([0-9]*\).*/\1\/\3 cases passed/p' "$log" | tail -1)
    case $rc in
      0) row "$kver" "rampart_${tier}_tests" pass "$summary, boot $(boot_time "$log") s" $((SECONDS - t0));;
      124) row "$kver" "rampart_${tier}_tests" FAIL "VM timeout${summary:+; $summary}" $((SECONDS - t0));;
      125) row "$kver" "rampart_${tier}_tests" FAIL "VM ended (panic?)${summary:+; $summary}" $((SECONDS - t0));;
      *) row "$kver" "rampart_${tier}_tests" FAIL "${summary:-exit $rc}" $((SECONDS - t0));;
    esac
  done
done

echo
echo "== VM tier: ${#KERNELS[@]} kernel(s), $((SECONDS - t_tier)) s; logs in $LOGS"
printf '%s\n' "${rows[@]}"
if [ "$failures" -gt 0 ]; then
  for line in "${KERNELS[@]}"; do
    kver=${line%% *}
    for log in "$LOGS/$kver"/*.log; do
      [ -e "$log" ] || continue
      grep -E '^vm-case: (FAIL|TIMEOUT)' "$log" | sed "s|^vm-case: |  $kver $(basename "$log" .log): |"
    done
  done
  # A failed ready(): rampartd exited (a program the kernel refused, a bad
  # config) or outran the test's wait under emulation; the log says which.
  if grep -qsE '^vm-case: FAIL.*(wait_ready|ready\(\))' "$LOGS"/*/*.log; then
    grep -hsE 'not ready: |\| rampartd: (error|invalid)' "$LOGS"/*/*.log | sort -u | head -20 | sed 's/^/  /'
  fi
  echo "VM tier: $failures failure(s)"
  exit 1
fi
echo "VM tier: all passed"
