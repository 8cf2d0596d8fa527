#!/usr/bin/env bash
# The command lines of rampartd and rampartctl, as users type them: every
# command and subcommand answers --help with its usage on stdout and exit 0;
# an unknown flag, a missing argument or a bad number is refused with exit 2
# and a message naming it. No daemon is needed: rampartctl is pointed at a
# socket nobody serves, so a command line that parsed by mistake would exit 3
# ("cannot be reached") instead of 2 and fail here.
#   cli_test.sh RAMPARTD RAMPARTCTL
set -uo pipefail
rampartd=$1 ctl=$2
for b in "$rampartd" "$ctl"; do
  [ -x "$b" ] || { echo "skipped: $b is not built (build the rampartd and rampartctl targets)"; exit 77; }
done
export RAMPART_SOCKET=/nonexistent/rampart-cli-test.sock
pass=0 fail=0

# help WANT cmd...: exit 0, WANT (and "usage:") on stdout, nothing on stderr.
help() {
  local want=$1 out err rc
  shift
  out=$("$@" 2>/tmp/rampart-cli-test.$$) rc=$?
  err=$(cat /tmp/rampart-cli-test.$$)
  if [ "$rc" -eq 0 ] && grep -qF -- "$want" <<<"$out" && grep -q '^usage: ' <<<"$out" && [ -z "$err" ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAILED ${*##*/}: exit $rc, wanted '$want' in the help"
    printf '%s\n' "$out" "$err" | head -8 | sed 's/^/    /'
  fi
}

# refused WANT cmd...: exit 2, WANT on stderr, nothing on stdout.
refused() {
  local want=$1 out err rc
  shift
  out=$("$@" 2>/tmp/rampart-cli-test.$$) rc=$?
  err=$(cat /tmp/rampart-cli-test.$$)
  if [ "$rc" -eq 2 ] && grep -qF -- "$want" <<<"$err" && [ -z "$out" ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAILED ${*##*/}: exit $rc (expected 2), wanted '$want' on stderr"
    printf '%s\n' "$out" "$err" | head -5 | sed 's/^/    /'
  fi
}
trap 'rm -f /tmp/rampart-cli-test.$$' EXIT

help "usage: rampartd [OPTIONS]" "$rampartd" --help
help "--check-policy DIR" "$rampartd" -h
help "exit codes:" "$ctl" --help
help "usage: rampartctl profile [OPTIONS] SUBCOMMAND" "$ctl" profile --help
help "promote" "$ctl" profile --help
help "usage: rampartctl policy reload [OPTIONS] [DIR]" "$ctl" policy reload --help
help "--file FILE" "$ctl" policy reload --help
help "usage: rampartctl events [OPTIONS]" "$ctl" events --help
help "--min-level LEVEL" "$ctl" events --help
for c in status events verdict verdicts policy profile quarantine release; do
  help "usage: rampartctl $c" "$ctl" "$c" --help
done
for c in list validate reload; do help "usage: rampartctl policy $c" "$ctl" policy "$c" --help; done
for c in list show export promote rollback status; do help "usage: rampartctl profile $c" "$ctl" profile "$c" -h; done
# --help wins over a missing operand.
help "usage: rampartctl verdict [OPTIONS] PID" "$ctl" verdict --help

refused "unknown argument '--bogus'" "$rampartd" --bogus
refused "--config: 1 required FILE missing" "$rampartd" --config
refused "--config needs a value, got ''" "$rampartd" --config ""
refused "unknown command 'frobnicate'" "$ctl" frobnicate
refused "no command given" "$ctl"
refused "profile: unknown command 'bogus' (list, show, export, promote, rollback, status)" "$ctl" profile bogus
refused "profile list: unknown argument '--bogus'" "$ctl" profile list --bogus
refused "policy reload: unknown argument '--bogus'" "$ctl" policy reload --bogus
refused "policy reload: DIR excludes --file" "$ctl" policy reload /tmp --file /tmp/x.yaml
refused "events: unknown argument '--bogus'" "$ctl" events --bogus
refused "unknown argument '--bogus'" "$ctl" --bogus status
refused "verdict: PID is required" "$ctl" verdict
refused "profile show: NAME is required" "$ctl" profile show
refused "policy validate: FILE is required" "$ctl" policy validate
refused "verdict: 'abc' is not a process id (a number > 0)" "$ctl" verdict abc
refused "quarantine: '0' is not a process id (a number > 0)" "$ctl" quarantine 0 --reason test
refused "events: --count: must be between 1 and 4294967295, got 0" "$ctl" events --count 0
refused "events: --pid: must be an integer (1-4294967295), got '12x'" "$ctl" events --pid 12x
refused "events: --count: 1 required N missing" "$ctl" events --count
refused "--timeout: must be an integer (1-2147483647), got 'soon'" "$ctl" --timeout soon status
refused "--min-level: unknown level 'extreme' (observe, alert, deny, quarantine, kill)" "$ctl" verdicts --min-level extreme
refused "status: unknown argument 'now'" "$ctl" status now

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
