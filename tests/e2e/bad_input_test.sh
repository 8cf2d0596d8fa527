#!/usr/bin/env bash
# Bad input, tried: each case feeds rampartd, rampartctl or the running
# daemon's API one malformed input and checks that the answer is an error
# (non-zero exit) whose text contains what it must name (the place: file,
# line:column, field, pid). The API cases run against a live rampartd, and
# at the end its policy is still the one it started with (same generation,
# same name) and it still answers. Prints a Markdown table of what was tried
# and what Rampart said (docs/bad-input.md is this output).
#   bad_input_test.sh RAMPARTD RAMPARTCTL [--table]
set -uo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: the API cases run rampartd, which needs root"
  [ "${RAMPART_REQUIRE_KERNEL:-0}" = 1 ] && exit 1
  exit 77
fi
rampartd=$1 ctl=$2
table=${3:-}
work=$(mktemp -d /tmp/rampart-badinput-XXXXXX)
chmod 755 "$work"
daemon=
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
pass=0 fail=0 n=0
rows=()

# try AREA "INPUT" "MUST CONTAIN" EXPECTED_EXIT cmd...
try() {
  local area=$1 input=$2 want=$3 code=$4
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  n=$((n + 1))
  local first
  first=$(printf '%s\n' "$out" | grep -v '^\s*$' | grep -F -m1 -- "$want" || printf '%s\n' "$out" | head -1)
  first=${first//$work/\$DIR}
  first=${first//|/\\|}
  if [ "$rc" -eq "$code" ] && grep -qF -- "$want" <<<"$out"; then
    pass=$((pass + 1))
    [ -z "$table" ] && echo "ok   $area: $input"
  else
    fail=$((fail + 1))
    echo "FAILED $area: $input (exit $rc, expected $code; wanted '$want')"
    printf '%s\n' "$out" | head -5 | sed 's/^/    /'
  fi
  rows+=("| $n | $area | $input | $rc | \`${first:0:160}\` |")
}

cfg() { printf '%s' "$2" >"$work/$1"; echo "$work/$1"; }
pol() { mkdir -p "$work/$1"; printf '%s' "$2" >"$work/$1/p.yaml"; echo "$work/$1"; }
P='apiVersion: rampart.dev/v1
kind: Policy
metadata:
  name: web
spec:
  selector:
    executables: ["/usr/sbin/nginx"]
'

# --- config (rampartd --config FILE --check-config; exit 2) ---
c() { try config "$1" "$2" 2 "$rampartd" --config "$(cfg c$n.yaml "$3")" --check-config; }
c "unclosed bracket" ".yaml:2:1: invalid YAML" $'ringbuf: [1, 2\n'
c "unknown top-level key" "'ringbufs'" $'ringbufs:\n  size_mb: 16\n'
c "ring buffer size not a power of two" "'ringbuf.size_mb'" $'ringbuf:\n  size_mb: 3\n'
c "wakeup larger than the ring" "'ringbuf.wakeup_kb' must be smaller" $'ringbuf:\n  size_mb: 1\n  wakeup_kb: 2048\n'
c "unknown event type excluded" "unknown event type 'clone3'" $'events:\n  exclude: [exec, clone3]\n'
c "plain TCP API without insecure" "needs mTLS" $'api:\n  tcp:\n    address: "0.0.0.0:50051"\n'
c "API group that does not exist" "no group named 'no-such-group-xyz'" $'api:\n  allowed_group: no-such-group-xyz\n'
c "remote metrics without allow_remote" "is not a loopback address" $'metrics:\n  address: "0.0.0.0:9464"\n'
c "negative number" "'process_table.max_entries'" $'process_table:\n  max_entries: -5\n'
c "string where a bool goes" "'enforcement.network'" $'enforcement:\n  network: perhaps\n'
c "relative exec mount" "'enforcement.exec_mounts'" $'enforcement:\n  exec_mounts: [usr]\n'
c "kubelet URL with another scheme" "must start with http:// or https://" $'kubernetes:\n  kubelet_url: ftp://node/pods\n'
c "kubelet URL naming an unset variable" "which is not set in rampartd's environment" $'kubernetes:\n  kubelet_url: "https://${RAMPART_NO_SUCH_VAR}:10250/pods"\n'
try config "config file that does not exist" "$work/none.yaml" 2 "$rampartd" --config "$work/none.yaml" --check-config

# --- policy (rampartd --check-policy DIR; exit 2) ---
p() { try policy "$1" "$2" 2 "$rampartd" --check-policy "$(pol p$n "$3")"; }
p "mode that does not exist" "'spec.mode' must be one of audit, enforce, learn, got 'block'" "$P  mode: block
"
p "unknown field in spec" "p.yaml:" "$P  allowed: {}
"
p "CIDR prefix too long" "p.yaml:10:17: 'spec.allow.network.connect[0]': prefix length /33 is too long" "$P  allow:
    network:
      connect: [\"10.0.0.0/33:443\"]
"
p "port out of range" "70000" "$P  allow:
    network:
      connect: [\"10.0.0.1:70000\"]
"
p "relative file path" "etc/passwd" "$P  deny:
    - id: r1
      files: { read: [\"etc/passwd\"] }
      action: deny
"
p "wrong apiVersion" "apiVersion" "${P/rampart.dev\/v1/rampart.dev\/v9}"
p "no name" "metadata.name" "${P/name: web/name: \"\"}"
p "invalid YAML (tab indentation)" "p.yaml:" $'apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n\tname: x\n'
mkdir -p "$work/dup" && printf '%s' "$P" >"$work/dup/a.yaml" && printf '%s' "$P" >"$work/dup/b.yaml"
try policy "two files, same policy name" "web" 2 "$rampartd" --check-policy "$work/dup"
try policy "policy directory that does not exist" "$work/nodir" 2 "$rampartd" --check-policy "$work/nodir"

# --- command lines ---
try cli "rampartd --bogus" "--bogus" 2 "$rampartd" --bogus
try cli "rampartctl frobnicate" "frobnicate" 2 "$ctl" frobnicate
try cli "rampartctl verdict abc" "'abc' is not a process id" 2 "$ctl" verdict abc
try cli "rampartctl verdict (no pid)" "PID" 2 "$ctl" verdict
try cli "rampartctl --address without TLS files" "--tls-ca" 2 "$ctl" --address 127.0.0.1:50051 status
try cli "rampartctl at a socket nobody serves" "rampartd is not running at $work/none.sock" 3 \
  "$ctl" --socket "$work/none.sock" status
try cli "rampartctl policy validate of a missing file" "$work/missing.yaml" 2 "$ctl" --socket "$work/none.sock" \
  policy validate "$work/missing.yaml"

# --- the API of a running rampartd ---
mkdir -p "$work/policies"
printf '%s' "$P" >"$work/policies/web.yaml"
printf 'api:\n  socket: %s/rampart.sock\nmetrics:\n  address: ""\n' "$work" >"$work/daemon.yaml"
"$rampartd" --config "$work/daemon.yaml" --policy-dir "$work/policies" --output "$work/events.jsonl" \
  2>"$work/daemon.err" &
daemon=$!
for _ in $(seq 600); do [ -S "$work/rampart.sock" ] && break; sleep 0.1; done
[ -S "$work/rampart.sock" ] || { echo "FAILED rampartd did not open its API socket in 60 s:"; cat "$work/daemon.err"; exit 1; }
s=(--socket "$work/rampart.sock")
a() { try api "$1" "$2" "$3" "$ctl" "${s[@]}" "${@:4}"; }
a "verdict of pid 0" "'0' is not a process id" 2 verdict 0
a "verdict of a pid that does not exist" "4000000000" 1 verdict 4000000000
a "quarantine pid 1" "refusing to act on pid 1" 2 quarantine 1
a "quarantine rampartd itself" "refusing to act on rampartd itself" 2 quarantine "$daemon"
a "release of a pid that does not exist" "4000000000" 1 release 4000000000
a "events of an unknown type" "unknown event type 'clone3'" 2 events --type clone3 --count 1
a "events for a short container id" "container_id must be at least 12" 2 events --container abc --count 1
a "events at an unknown level" "extreme" 2 events --min-level extreme --count 1
printf 'spec: [\n' >"$work/broken.yaml"
a "reload with a broken policy file" "broken.yaml:2:1" 5 policy reload --file "$work/broken.yaml"
a "reload of a relative directory" "dir must be an absolute path" 2 policy reload policies
: >"$work/empty.yaml"
a "validate of an empty file" "text is empty" 2 policy validate "$work/empty.yaml"
head -c $((5 << 20)) /dev/zero | tr '\0' '#' >"$work/huge.yaml"
a "validate of a 5 MiB file (over api.max_message_kb)" "api.max_message_kb" 2 policy validate "$work/huge.yaml"
# Nothing was lost: same policy set, generation 1, daemon alive.
state=$("$ctl" "${s[@]}" --json policy list 2>&1)
if kill -0 "$daemon" 2>/dev/null && grep -q '"generation": *"\?1' <<<"$state" && grep -q '"web"' <<<"$state"; then
  pass=$((pass + 1))
  [ -z "$table" ] && echo "ok   after the API cases: rampartd runs, policy 'web' at generation 1"
else
  fail=$((fail + 1))
  echo "FAILED after the API cases the daemon's state changed: $state"
fi

if [ -n "$table" ]; then
  echo "| # | area | bad input | exit | what Rampart said |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
fi
echo "$pass passed, $fail failed ($n inputs)"
[ "$fail" -eq 0 ]
