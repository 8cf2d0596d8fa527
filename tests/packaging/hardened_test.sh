#!/usr/bin/env bash
# e2e: rampartd under the systemd unit's hardening, without systemd as PID 1
# (tests/packaging/hardened_run.sh applies the unit's CapabilityBoundingSet,
# NoNewPrivileges, ProtectSystem=strict, ProtectHome, ProtectControlGroups
# and its writable directories). Shows that with exactly those capabilities
# and that filesystem view, events flow and enforcement works: an exec
# outside allow.exec and a connect outside allow.network get EPERM.
# Enforcement is scoped to a copy of bash and a scratch tmpfs.
#   hardened_test.sh RAMPARTD RAMPARTCTL
. "$(dirname "$0")/lib.sh"
need_kernel
need_tool setpriv
need_tool unshare
need_tool curl
rampartd=$1
rampartctl=$2
unit=${RAMPART_TEST_UNIT:-$SRC/packaging/systemd/rampart.service}  # override: experiments with other sets

work=$(mktemp -d /tmp/rampart-hardened-XXXXXX)
chmod 755 "$work"
fs=$work/fs
mkdir "$fs"
created=()
for d in /var/lib/rampart /run/rampart /var/log/rampart; do [ -e "$d" ] || created+=("$d"); done
out=/var/log/rampart/hardened-test-$$.jsonl
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  umount -l "$fs" 2>/dev/null || true
  rm -rf "$work" "$out"
  for d in "${created[@]}"; do rmdir "$d" 2>/dev/null || true; done
}
trap cleanup EXIT
mount -t tmpfs -o size=16m,mode=0755 rampart-test "$fs"
cp /bin/true "$fs/allowed-true"
cp /bin/true "$fs/denied-true"
cp /bin/bash "$work/policed-bash"
mkdir "$work/policies"
# Two closed loopback ports: a connect to the allowed one is refused by the
# peer (ECONNREFUSED), one to the other by rampart (EPERM).
port_ok=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port_denied=$((port_ok == 65535 ? port_ok - 1 : port_ok + 1))
cat >"$work/policies/hardened.yaml" <<YAML
apiVersion: rampart.dev/v1
kind: Policy
metadata:
  name: hardened-test
spec:
  selector:
    executables: ["$work/policed-bash"]
  mode: enforce
  allow:
    exec: ["$fs/allowed-*"]
    network:
      connect: ["127.0.0.1:$port_ok"]
YAML
# Exec checks on the scratch tmpfs only; nothing of the machine's is marked.
cat >"$work/rampart.yaml" <<YAML
enforcement:
  exec_mounts: ["$fs"]
  sensitive_paths: []
metrics:
  address: "127.0.0.1:0"
api:
  socket: /run/rampart/hardened-test-$$.sock
YAML

"$SRC/tests/packaging/hardened_run.sh" "$unit" -- "$rampartd" --config "$work/rampart.yaml" \
  --policy-dir "$work/policies" --output "$out" 2>"$work/stderr.txt" &
pid=$!
check "rampartd starts under the unit's hardening" wait_for "$work/stderr.txt" "attached " 30 || {
  cat "$work/stderr.txt"
  finish
  exit 1
}

# Capabilities: the unit's set, as far as this machine's root has them.
unit_mask=0
for c in $(sed -n 's/^CapabilityBoundingSet=//p' "$unit"); do
  n=$(capsh --explain="${c,,}" | sed -n 's/^[a-z_]* (\([0-9]*\)).*/\1/p' | head -1)
  unit_mask=$((unit_mask | (1 << n)))
done
own_bnd=$((16#$(awk '/^CapBnd/ {print $2}' /proc/self/status)))
expected=$((unit_mask & own_bnd))
eff=$((16#$(awk '/^CapEff/ {print $2}' /proc/$pid/status)))
bnd=$((16#$(awk '/^CapBnd/ {print $2}' /proc/$pid/status)))
echo "     unit capabilities: $(capsh --decode=$(printf '%x' $unit_mask) | cut -d= -f2)"
missing=$((unit_mask & ~own_bnd))
[ "$missing" -ne 0 ] && echo "     not held by root on this machine, so not tested: $(capsh --decode=$(printf '%x' $missing) | cut -d= -f2)"
echo "     rampartd's effective set: $(capsh --decode=$(printf '%x' $eff) | cut -d= -f2)"
check "rampartd's effective capabilities are exactly the unit's" test "$eff" -eq "$expected"
check "its bounding set too" test "$bnd" -eq "$expected"
check "no new privileges" grep -q "NoNewPrivs:[[:space:]]*1" /proc/$pid/status

# Events.
bash -c 'cat /etc/hostname >/dev/null; /bin/true'
check "exec events arrive" wait_for "$out" '"type":"exec".*"filename":"(/usr)?/bin/cat"' 5

# Exec enforcement (fanotify, or BPF LSM where the kernel has it).
r=$("$work/policed-bash" -c "$fs/denied-true" 2>&1) && rc=0 || rc=$?
check "an exec outside allow.exec is refused with EPERM (exit $rc: $r)" \
  bash -c "[ $rc -eq 126 ] && grep -q 'Operation not permitted\|Permission denied' <<<'$r'"
check "an allowed exec runs" "$work/policed-bash" -c "$fs/allowed-true"

# Network enforcement (cgroup hooks).
r=$("$work/policed-bash" -c "exec 3<>/dev/tcp/127.0.0.1/$port_denied" 2>&1) || true
check "a connect outside allow.network gets EPERM ($r)" grep -q "Operation not permitted" <<<"$r"
r=$("$work/policed-bash" -c "exec 3<>/dev/tcp/127.0.0.1/$port_ok" 2>&1) || true
check "an allowed connect reaches the (closed) port ($r)" grep -q "Connection refused" <<<"$r"
check "enforce events name the mechanisms" bash -c \
  "sleep 0.3; grep -q '\"mechanism\":\"\(fanotify\|bpf_lsm\)\",\"action\":\"denied\"' '$out' &&
   grep -q '\"mechanism\":\"cgroup_sock_addr\",\"action\":\"denied\"' '$out'"

# The metrics endpoint works under the hardening and counts the denies.
url=$(grep -o 'http://[0-9.:]*/metrics' "$work/stderr.txt" | head -1)
metrics=$(curl -sf "$url" || true)
check "metrics: connect denied by the cgroup hook counted" \
  grep -q 'rampart_enforcement_total{mechanism="cgroup_sock_addr",action="denied"} [1-9]' <<<"$metrics"

# The API socket in the unit's RuntimeDirectory (a test's own name there:
# another rampartd on this machine may hold the default one).
check "rampartctl status answers over a socket in /run/rampart" \
  "$rampartctl" --socket /run/rampart/hardened-test-$$.sock status

# The same hardening keeps rampartd's writes to its own directories.
check "under the hardening /usr and /etc are read-only" bash -c \
  "! '$SRC/tests/packaging/hardened_run.sh' '$unit' -- sh -c 'touch /etc/rampart-probe-$$ || touch /usr/rampart-probe-$$' 2>/dev/null"
check "and the state directory is writable" "$SRC/tests/packaging/hardened_run.sh" "$unit" -- \
  sh -c "touch /var/lib/rampart/probe-$$ && rm /var/lib/rampart/probe-$$"

kill -TERM "$pid"
wait "$pid" && rc=0 || rc=$?
pid=
check "SIGTERM: clean exit (status $rc)" test "$rc" -eq 0
check "it detached" grep -q "detached; exiting" "$work/stderr.txt"
finish
