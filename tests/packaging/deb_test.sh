#!/usr/bin/env bash
# e2e: the .deb. Builds it (cmake --build BUILD --target package), installs
# it on this machine with dpkg -i, runs the installed rampartd the way the
# installed unit's ExecStart does, under the unit's hardening, with the
# packaged config, and checks that it sees events; then dpkg -r (the
# conffile stays, as dpkg does) and dpkg -P leave nothing behind.
# The packaged config marks nothing: with no policy in /etc/rampart/policies
# no exec or file is checked, so the host is only observed.
#   deb_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
need_kernel
need_tool dpkg
need_tool systemd-analyze
build=$1

dpkg_retry() {  # other apt/dpkg runs on the machine may hold the lock for a while
  local i
  for i in $(seq 60); do
    out=$(dpkg "$@" 2>&1) && { echo "$out"; return 0; }
    grep -q "lock" <<<"$out" || { echo "$out"; return 1; }
    sleep 2
  done
  echo "$out"
  return 1
}
installed() { dpkg-query -W -f='${Status}' rampart 2>/dev/null | grep -q "ok installed"; }
status() { dpkg-query -W -f='${Status}' rampart 2>/dev/null || echo "not-installed"; }

if ! dpkg-query -W rampart >/dev/null 2>&1 && [ -e /etc/rampart/rampart.yaml ]; then
  echo "FAILED: /etc/rampart/rampart.yaml exists and no rampart package owns it; not overwriting it"
  exit 1
fi
had_etc=$([ -e /etc/rampart ] && echo 1 || echo 0)
[ "$(status)" != "not-installed" ] && dpkg_retry -P rampart >/dev/null  # a leftover of an interrupted run
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  dpkg-query -W rampart >/dev/null 2>&1 && dpkg_retry -P rampart >/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

check "the package builds (cmake --build --target package)" bash -c \
  "cmake --build '$build' --target package >'$tmp/cpack.log' 2>&1 || { cat '$tmp/cpack.log'; false; }"
deb=$(ls -t "$build"/rampart_*.deb | head -1)
echo "     $deb: $(du -h "$deb" | cut -f1), $(dpkg-deb -f "$deb" Depends)"
check "dpkg -i installs it" dpkg_retry -i "$deb"
check "status: install ok installed" installed
check "rampartd is in /usr/sbin" test -x /usr/sbin/rampartd
check "the unit is in /lib/systemd/system" test -f /lib/systemd/system/rampart.service
check "/etc/rampart/rampart.yaml is a conffile" bash -c \
  "dpkg-query -W -f='\${Conffiles}' rampart | grep -q '/etc/rampart/rampart.yaml'"
check "the state directory /var/lib/rampart is 0700" test "$(stat -c %a /var/lib/rampart 2>/dev/null)" = 700
check "example policies are shipped and valid" \
  /usr/sbin/rampartd --check-policy /usr/share/doc/rampart/examples/policies
check "the README's reference links resolve: docs/ is shipped beside it" \
  test -f /usr/share/doc/rampart/docs/policies.md -a -f /usr/share/doc/rampart/docs/api-cli.md
check "rampartd --help" bash -c "/usr/sbin/rampartd --help | grep -q 'usage: rampartd'"
if [ -n "$(dpkg -L rampart | grep -x /usr/bin/rampartctl)" ]; then
  check "rampartctl --help" bash -c "/usr/bin/rampartctl --help 2>&1 | grep -qi 'usage'"
fi
check "the packaged config is valid" /usr/sbin/rampartd --config /etc/rampart/rampart.yaml --check-config
out=$(systemd-analyze verify /lib/systemd/system/rampart.service 2>&1) || true
check "systemd-analyze verify accepts the installed unit ($out)" test -z "$out"

# The packaged config serves the API on /run/rampart/rampart.sock, and a
# rampartd refuses to start beside a live one: wait for another test's.
for _ in $(seq 60); do
  python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); sys.exit(s.connect_ex("/run/rampart/rampart.sock") != 0)' \
    2>/dev/null || break
  sleep 2
done

# The installed unit's command line, under its hardening.
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/rampart.service)
echo "     ExecStart: $exec_start"
events=$(sed -n 's/.*--output \([^ ]*\).*/\1/p' <<<"$exec_start")
# shellcheck disable=SC2086
"$SRC/tests/packaging/hardened_run.sh" /lib/systemd/system/rampart.service -- $exec_start 2>"$tmp/stderr.txt" &
pid=$!
started=true
wait_for "$tmp/stderr.txt" "attached " 30 || started=false
check "the installed rampartd starts with the packaged config" $started
$started || cat "$tmp/stderr.txt"
check "nothing is marked without policies" bash -c "! grep -q 'through fanotify' '$tmp/stderr.txt'"
bash -c 'cat /etc/hostname >/dev/null'
check "it sees events ($events)" wait_for "$events" '"type":"exec".*"filename":"(/usr)?/bin/cat"' 5
kill -TERM "$pid" 2>/dev/null || true
wait "$pid" && rc=0 || rc=$?
pid=
check "it stops cleanly on SIGTERM (status $rc)" test "$rc" -eq 0

check "dpkg -r removes it" dpkg_retry -r rampart
check "status: config-files (the conffile stays until purge)" test "$(status)" = "deinstall ok config-files"
check "the binary and the unit are gone" bash -c "[ ! -e /usr/sbin/rampartd ] && [ ! -e /lib/systemd/system/rampart.service ]"
check "dpkg -P purges it" dpkg_retry -P rampart
check "nothing is left: no package, conffile, state or event log" bash -c \
  "! dpkg-query -W rampart 2>/dev/null && [ ! -e /etc/rampart/rampart.yaml ] && [ ! -e /var/lib/rampart ] && [ ! -e /var/log/rampart ]"
[ "$had_etc" = 0 ] && check "/etc/rampart is gone as it was before" test ! -e /etc/rampart
finish
