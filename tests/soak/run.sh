#!/usr/bin/env bash
# Soak test: rampartd in enforce mode under load, for any duration.
#
#   tests/soak/run.sh DURATION_SECONDS [BUILD_DIR]     (as root; default 600 s, ./build)
#
# For DURATION seconds it runs, at once:
#  - rampartd with two enforce-mode policies: one selects a copy of bash (the
#    probe) and lets it connect to one 127.0.0.1 port only; one selects the
#    soak's scratch cgroup, where the load runs;
#  - the load, in that cgroup: stress-ng exec, fork, vfork, open and sock
#    workers (as nobody, niced): about 1500 short-lived processes a second
#    on our 2-CPU machine, and thousands of opens and connects;
#  - a policy reload every 30 s (rampartctl policy reload, the load policy's
#    description changed each time so that every reload is a real one);
#  - two streaming clients (rampartctl events --follow, one of them --json);
#  - a probe every second: the probe bash's connect to a denied port must fail
#    with EPERM, and to its allowed port must succeed;
#  - a sampler every 10 s: rampartd's RSS and open fds, and that it is alive.
# Then it stops the load, lets the pipeline settle, reads rampartd's counters
# from /metrics and checks:
#  - RSS and fd growth from the sample at 20% of the run (minute 2 of a
#    10-minute run) to the end is under 5%;
#  - rampartd never died, and exits cleanly on SIGTERM;
#  - every event the kernel tried to emit is accounted for:
#      attempted (emitted + dropped + rate_limited, kernel stats_map)
#        = delivered from the ring buffer + decode errors + dropped + rate_limited + in flight
#    where received = delivered - synthesized + decode errors holds exactly
#    and "in flight" (emitted, not yet read) is small at quiescence;
#  - every probe was correct.
# Exit status 0 when every check passes, 1 otherwise, 77 when a prerequisite
# is missing. The report is printed and kept in $RAMPART_SOAK_DIR (default: a
# new /tmp/rampart-soak-* directory, removed unless RAMPART_SOAK_KEEP=1).
set -uo pipefail

DURATION=${1:-600}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${2:-$ROOT/build}
RAMPARTD=$BUILD/rampartd
CTL=$BUILD/rampartctl

skip() { echo "soak: SKIP: $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (it loads BPF programs)"
[ -x "$RAMPARTD" ] && [ -x "$CTL" ] || skip "build rampartd and rampartctl first ($BUILD)"
command -v stress-ng >/dev/null || skip "stress-ng is not installed (scripts/install-deps.sh installs it)"
command -v python3 >/dev/null || skip "python3 is not installed"
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG2" ] || skip "cgroup v2 is not mounted"
[[ "$DURATION" =~ ^[0-9]+$ ]] && [ "$DURATION" -ge 30 ] || { echo "soak: DURATION must be >= 30 seconds" >&2; exit 2; }

WORK=${RAMPART_SOAK_DIR:-$(mktemp -d /tmp/rampart-soak-XXXXXX)}
mkdir -p "$WORK/policies" "$WORK/load"
chmod 0755 "$WORK"
chmod 0777 "$WORK/load"
CGNAME=rampart-soak-$$
CG=$CG2/$CGNAME
mkdir "$CG"
PIDS=()  # everything this script started, stopped by pid at the end

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "${STRESS_PID:-}" ] && kill -- "-$STRESS_PID" 2>/dev/null
  [ -n "${DAEMON_PID:-}" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
  for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
  [ "${RAMPART_SOAK_KEEP:-0}" = 1 ] || [ -n "${RAMPART_SOAK_DIR:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The probe's allowed destination: a listener that accepts and closes.
ALLOWED=$(free_port)
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(128)
while True:
    c, _ = s.accept(); c.close()
' "$ALLOWED" &
PIDS+=($!)
DENIED=1  # nothing listens there: without enforcement the connect is refused (ECONNREFUSED), not EPERM
METRICS=$(free_port)

cp /bin/bash "$WORK/soak-probe"
chmod 0755 "$WORK/soak-probe"
cat > "$WORK/policies/probe.yaml" <<EOF
apiVersion: rampart.dev/v1
kind: Policy
metadata:
  name: soak-probe
spec:
  selector:
    executables: ["$WORK/soak-probe"]
  mode: enforce
  allow:
    network:
      connect: ["127.0.0.1:$ALLOWED"]
EOF
write_load_policy() {
  cat > "$WORK/policies/load.yaml" <<EOF
apiVersion: rampart.dev/v1
kind: Policy
metadata:
  name: soak-load
  description: "soak load, policy generation $1"
spec:
  selector:
    cgroupPrefixes: ["/$CGNAME"]
  mode: enforce
  deny:
    - id: soak-no-test-net
      network:
        connect: ["192.0.2.0/24"]
EOF
}
write_load_policy 0
cat > "$WORK/rampart.yaml" <<EOF
output:
  path: /dev/null
enforcement:
  exec_mounts: []
  sensitive_paths: []
  pin_dir: ""
api:
  socket: $WORK/api.sock
metrics:
  address: 127.0.0.1:$METRICS
EOF

"$RAMPARTD" --config "$WORK/rampart.yaml" --policy-dir "$WORK/policies" 2> "$WORK/rampartd.log" &
DAEMON_PID=$!
for _ in $(seq 300); do grep -q "attached " "$WORK/rampartd.log" && break; sleep 0.1; done
grep -q "attached " "$WORK/rampartd.log" || { cat "$WORK/rampartd.log"; echo "soak: rampartd did not start" >&2; exit 1; }
ctl() { "$CTL" --socket "$WORK/api.sock" "$@"; }
echo "soak: rampartd pid $DAEMON_PID, $DURATION s, work dir $WORK"

START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }

# The load, in the scratch cgroup, in its own process group (stopped as one).
setsid bash -c "echo \$\$ > '$CG/cgroup.procs'; cd '$WORK/load'; exec nice -n 10 setpriv --reuid=65534 --regid=65534 \
  --clear-groups stress-ng --exec 1 --fork 2 --vfork 2 --open 1 --sock 1 --temp-path '$WORK/load' --timeout ${DURATION}s \
  --metrics-brief" > "$WORK/stress.log" 2>&1 &
STRESS_PID=$!

# Streaming clients.
ctl events --follow > /dev/null 2> "$WORK/stream1.err" &
PIDS+=($!)
ctl --json events --follow --type exec,exit > /dev/null 2> "$WORK/stream2.err" &
PIDS+=($!)

# Reloads every 30 s.
(
  n=0
  while sleep 30; do
    n=$((n + 1))
    write_load_policy "$n"
    if ctl policy reload > /dev/null 2>&1; then echo "ok $n"; else echo "failed $n"; fi
  done
) > "$WORK/reloads.log" &
PIDS+=($!)

# The probe every second.
(
  while sleep 1; do
    t=$(elapsed)
    d=$("$WORK/soak-probe" -c "exec 3<>/dev/tcp/127.0.0.1/$DENIED" 2>&1)
    a=$("$WORK/soak-probe" -c "exec 3<>/dev/tcp/127.0.0.1/$ALLOWED && echo open" 2>&1)
    if [[ "$d" == *"Operation not permitted"* ]] && [[ "$a" == "open" ]]; then
      echo "$t ok"
    else
      echo "$t FAIL denied=[${d//$'\n'/ }] allowed=[${a//$'\n'/ }]"
    fi
  done
) > "$WORK/probes.log" &
PIDS+=($!)

# The sampler, every 10 s, in the foreground until the end.
echo "t_s,rss_kb,fds,alive" > "$WORK/samples.csv"
sample() {
  local rss fds alive=1
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status" 2>/dev/null || echo 0)
  fds=$(ls "/proc/$DAEMON_PID/fd" 2>/dev/null | wc -l)
  kill -0 "$DAEMON_PID" 2>/dev/null || alive=0
  echo "$(elapsed),${rss:-0},$fds,$alive" >> "$WORK/samples.csv"
}
sample
while [ "$(elapsed)" -lt "$DURATION" ]; do
  sleep $(( DURATION - $(elapsed) < 10 ? DURATION - $(elapsed) : 10 ))
  sample
done

# Stop the load and the clients; let the pipeline drain; read the counters.
kill -- "-$STRESS_PID" 2>/dev/null
wait "$STRESS_PID" 2>/dev/null
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
PIDS=()
sleep 3
curl -s "http://127.0.0.1:$METRICS/metrics" > "$WORK/metrics.txt"
ctl status > "$WORK/status.txt" 2>&1
ctl policy list > /dev/null 2>&1  # still answering
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_RC=$?
DAEMON_PID=

python3 - "$WORK" "$DURATION" "$DAEMON_RC" <<'EOF'
import re, sys
work, duration, rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fails = []

samples = [l.strip().split(",") for l in open(f"{work}/samples.csv").readlines()[1:]]
samples = [(int(t), int(r), int(f), int(a)) for t, r, f, a in samples]
# The window: minute 2 to the end of a 10-minute run; 20% to 100% of any run.
w0 = 120 if duration >= 600 else duration * 0.2
base = next((s for s in samples if s[0] >= w0), samples[-1])
end = samples[-1]
first = samples[0]
rss_growth = (end[1] - base[1]) / base[1] if base[1] else 1.0
fd_growth = (end[2] - base[2]) / base[2] if base[2] else 1.0
if rss_growth >= 0.05: fails.append(f"RSS grew {rss_growth:.1%} from t={base[0]}s to the end (limit 5%)")
if fd_growth >= 0.05: fails.append(f"open fds grew {fd_growth:.1%} from t={base[0]}s to the end (limit 5%)")
if any(a == 0 for *_, a in samples): fails.append("rampartd was not alive at every sample")
if rc != 0: fails.append(f"rampartd exited with status {rc} on SIGTERM")
log = open(f"{work}/rampartd.log").read()
if "detached; exiting" not in log: fails.append("rampartd did not exit in order")

metrics = {}
for line in open(f"{work}/metrics.txt"):
    m = re.match(r'^(rampart_\w+)(\{[^}]*\})? (\S+)$', line)
    if m: metrics.setdefault(m.group(1), {})[m.group(2) or ""] = float(m.group(3))
def total(name): return int(sum(metrics.get(name, {}).values()))
emitted, dropped = total("rampart_kernel_events_emitted_total"), total("rampart_kernel_events_dropped_total")
limited = total("rampart_kernel_events_rate_limited_total")
received, synthesized = total("rampart_events_received_total"), total("rampart_events_synthesized_total")
delivered_all, decode = total("rampart_events_total"), total("rampart_decode_errors_total")
delivered = delivered_all - synthesized  # from the ring buffer
in_flight = emitted - received
attempted = emitted + dropped + limited
if not metrics: fails.append("no metrics read from rampartd")
if received != delivered + decode:
    fails.append(f"received {received} != delivered from the ring {delivered} + decode errors {decode}")
if not 0 <= in_flight <= 1000:
    fails.append(f"{in_flight} events emitted but not received after the load stopped (expected 0-1000)")
if attempted != delivered + decode + dropped + limited + in_flight:
    fails.append("attempted != delivered + decode errors + dropped + rate-limited + in flight")

probes = open(f"{work}/probes.log").read().splitlines()
bad = [p for p in probes if " ok" not in p]
if not probes: fails.append("no probe ran")
if bad: fails.append(f"{len(bad)} of {len(probes)} probes wrong, first: {bad[0]}")
reloads = open(f"{work}/reloads.log").read().split()
reload_ok = reloads[0::2].count("ok")
reload_failed = reloads[0::2].count("failed")
if reload_failed: fails.append(f"{reload_failed} policy reloads failed")
stress = open(f"{work}/stress.log").read()
forks = int(metrics.get("rampart_kernel_events_emitted_total", {}).get('{type="fork"}', 0))
execs = int(metrics.get("rampart_kernel_events_emitted_total", {}).get('{type="exec"}', 0))

report = f"""soak report: {duration} s
  rampartd RSS   start {first[1]} KiB, at t={base[0]} s {base[1]} KiB, end {end[1]} KiB ({rss_growth:+.2%} over the window)
  rampartd fds   start {first[2]}, at t={base[0]} s {base[2]}, end {end[2]} ({fd_growth:+.2%})
  samples        {len(samples)}, rampartd alive at all: {all(a for *_, a in samples)}; exit status {rc}
  events         attempted {attempted} = delivered {delivered} + decode errors {decode} + dropped {dropped} + rate-limited {limited} + in flight {in_flight}
                 (received {received}; synthesized enforce events {synthesized}; exec {execs}, fork {forks}: {(execs + forks) / duration:.0f} processes/s on the host)
  probes         {len(probes) - len(bad)} of {len(probes)} correct (denied connect EPERM, allowed connect open)
  reloads        {reload_ok} ok, {reload_failed} failed
  result         {"PASS" if not fails else "FAIL"}"""
print(report)
for f in fails: print("  FAIL: " + f)
open(f"{work}/report.txt", "w").write(report + "\n" + "".join("  FAIL: " + f + "\n" for f in fails))
sys.exit(1 if fails else 0)
EOF
