#!/usr/bin/env bash
# A full disk under rampartd's event output and its profile store: the
# failed writes are logged with their reason and counted, and rampartd keeps
# running and exits cleanly.
#   full_disk_test.sh RAMPARTD
set -uo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: mounting a tmpfs and loading BPF need root"
  [ "${RAMPART_REQUIRE_KERNEL:-0}" = 1 ] && exit 1
  exit 77
fi
rampartd=$1
work=$(mktemp -d /tmp/rampart-fulldisk-XXXXXX)
disk=$work/disk
mkdir -p "$disk" "$work/policies"
mount -t tmpfs -o size=256k tmpfs "$disk" || { echo "FAILED: mount tmpfs"; exit 1; }
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  umount "$disk" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail=0
check() {
  if eval "$2"; then echo "ok   $1"; else echo "FAILED $1"; fail=1; fi
}
cat >"$work/rampart.yaml" <<YAML
api:
  socket: ""
metrics:
  address: ""
enforcement:
  pin_dir: ""
learning:
  state_dir: $disk/state
  flush_interval_s: 1
YAML
cat >"$work/policies/learn.yaml" <<YAML
apiVersion: rampart.dev/v1
kind: Policy
metadata:
  name: ls-learn
spec:
  selector:
    executables: ["/usr/bin/ls"]
  mode: learn
YAML
"$rampartd" --config "$work/rampart.yaml" --policy-dir "$work/policies" --output "$disk/events.jsonl" \
  2>"$work/stderr.txt" &
pid=$!
for _ in $(seq 300); do grep -q "attached " "$work/stderr.txt" && break; sleep 0.1; done
# Fill the disk with events, and give the learn policy something to record
# (each ls in a new directory: new profile items to save).
for i in $(seq 200); do mkdir -p "$work/d$i" && ls "$work/d$i" >/dev/null; done
dd if=/dev/zero of="$disk/filler" bs=4k 2>/dev/null
for i in $(seq 200); do ls "$work/d$i" /etc >/dev/null; done
sleep 3
check "rampartd still runs with the disk full" 'kill -0 $pid'
check "the failed output writes are logged with the reason" \
  'grep -q "warning: event output: .* writes failed (No space left on device)" "$work/stderr.txt"'
check "the failed profile save is logged" 'grep -q "saving profile .ls-learn.*" "$work/stderr.txt"'
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
check "clean exit (status $rc)" '[ $rc -eq 0 ]'
check "the log says how much of the event output was lost" \
  'grep -Eq "[1-9][0-9]* bytes of events lost so far" "$work/stderr.txt"'
[ $fail -eq 0 ] || { echo "--- stderr:"; tail -20 "$work/stderr.txt"; }
exit $fail
