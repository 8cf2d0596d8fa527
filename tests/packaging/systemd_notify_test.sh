#!/usr/bin/env bash
# e2e: rampartd as a Type=notify service, with systemd played by
# fake_systemd.py (PID 1 is not systemd here): READY=1 once attached,
# WATCHDOG=1 pings from the pipeline loop at half of WATCHDOG_USEC,
# STOPPING=1, and its log records in the journal's native protocol with
# their priorities. journald's socket is faked in a private mount namespace
# (a tmpfs over /run), so the host's /run is untouched.
#   systemd_notify_test.sh RAMPARTD
. "$(dirname "$0")/lib.sh"
need_kernel
need_tool unshare
work=$(mktemp -d /tmp/rampart-notify-XXXXXX)
trap 'rm -rf "$work"' EXIT
unshare --mount --propagation private -- sh -c \
  'mount -t tmpfs -o mode=0755 rampart-test-run /run && exec python3 "$0" "$1" "$2"' \
  "$SRC/tests/packaging/fake_systemd.py" "$(realpath "$1")" "$work"
