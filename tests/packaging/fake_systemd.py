#!/usr/bin/env python3
"""Plays systemd's part for rampartd, where PID 1 is not systemd: a notify
socket (NOTIFY_SOCKET, WATCHDOG_USEC) and journald's native socket
(/run/systemd/journal/socket, in the private mount namespace the caller set
up), with JOURNAL_STREAM naming rampartd's stderr as systemd does. Checks
READY=1 after the programs are attached, WATCHDOG=1 pings at half the
interval, STOPPING=1 at shutdown, and levelled log records in the journal.
Prints one line per check and "N passed, N failed".
    fake_systemd.py RAMPARTD WORKDIR
"""
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

rampartd, work = sys.argv[1], sys.argv[2]
results = []


def check(what, ok):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + what, flush=True)


def dgram(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    return s


def parse_journal(data):
    """journald's native protocol: KEY=value lines, or KEY\\n<le64 size>value\\n."""
    fields, i = {}, 0
    while i < len(data):
        nl = data.find(b"\n", i)
        if nl < 0:
            break
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            fields[k.decode()] = v.decode(errors="replace")
            i = nl + 1
        else:
            (size,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            fields[line.decode()] = data[nl + 9:nl + 9 + size].decode(errors="replace")
            i = nl + 9 + size + 1
    return fields


os.makedirs("/run/systemd/journal", exist_ok=True)
journal = dgram("/run/systemd/journal/socket")
notify = dgram(os.path.join(work, "notify"))
# A port already taken: rampartd's metrics endpoint warns and goes on.
taken = socket.socket()
taken.bind(("127.0.0.1", 0))
taken.listen(1)
port = taken.getsockname()[1]
with open(os.path.join(work, "rampart.yaml"), "w") as f:
    f.write('enforcement:\n  exec_mounts: []\n  sensitive_paths: []\n'
            f'metrics:\n  address: "127.0.0.1:{port}"\n'
            f'api:\n  socket: {os.path.join(work, "api.sock")}\n')
stderr = open(os.path.join(work, "stderr.txt"), "w")
st = os.fstat(stderr.fileno())
env = dict(os.environ, NOTIFY_SOCKET=os.path.join(work, "notify"), WATCHDOG_USEC="1000000",
           JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
env.pop("WATCHDOG_PID", None)
import atexit
proc = subprocess.Popen([rampartd, "--config", os.path.join(work, "rampart.yaml"), "--output",
                         os.path.join(work, "events.jsonl")], stderr=stderr, stdout=subprocess.DEVNULL, env=env)

# Never leave a rampartd behind, whatever fails below.
atexit.register(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
notes, records = [], []  # (time, message)
before_ready = []  # journal records sent before READY=1


def pump(seconds, until=None):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([notify, journal], [], [], 0.05)
        for s in ready:
            try:
                data = s.recv(65536, socket.MSG_DONTWAIT)  # the READY drain below may have emptied it
            except BlockingIOError:
                continue
            if s is notify:
                notes.append((time.monotonic(), data.decode()))
                if "READY=1" in notes[-1][1]:
                    # Whatever rampartd logged before READY=1 is queued by now.
                    while True:
                        try:
                            records.append((time.monotonic(), parse_journal(journal.recv(65536, socket.MSG_DONTWAIT))))
                        except BlockingIOError:
                            break
                    before_ready.extend(r for _, r in records)
            else:
                records.append((time.monotonic(), parse_journal(data)))
        if until and until():
            return True
    return False


got_ready = pump(30, lambda: any("READY=1" in n for _, n in notes))
check("READY=1 arrives", got_ready)
attached = [r for r in before_ready if r.get("MESSAGE", "").startswith("attached ")]
check("after the programs are attached (the 'attached' record was sent before it)", bool(attached))
check("READY=1 carries a STATUS", any("READY=1" in n and "STATUS=attached" in n for _, n in notes))
pump(3)
pings = [t for t, n in notes if n == "WATCHDOG=1"]
check(f"WATCHDOG=1 every WATCHDOG_USEC/2 (0.5 s): {len(pings)} pings in 3 s", 4 <= len(pings) <= 8)
proc.send_signal(signal.SIGTERM)
pump(10, lambda: proc.poll() is not None)
pump(0.3)
check("STOPPING=1 at shutdown", any(n.startswith("STOPPING=1") for _, n in notes))
check(f"clean exit (status {proc.returncode})", proc.returncode == 0)

by_msg = {r.get("MESSAGE", ""): r for _, r in records}
a = attached[0] if attached else {}
check("journal: 'attached ...' at PRIORITY=6 (info) with SYSLOG_IDENTIFIER=rampartd",
      a.get("PRIORITY") == "6" and a.get("SYSLOG_IDENTIFIER") == "rampartd")
warn = [r for m, r in by_msg.items() if m.startswith("metrics endpoint off: cannot listen")]
check("journal: the taken metrics port is a warning at PRIORITY=4, its text without the 'warning: ' prefix",
      bool(warn) and warn[0].get("PRIORITY") == "4" and warn[0].get("RAMPART_LEVEL") == "warning")
check("journal: the shutdown is logged", any(m.startswith("received SIGTERM") for m in by_msg))
stderr.close()
text = open(os.path.join(work, "stderr.txt")).read()
check("stderr (the journal's stream) has no duplicate of the log records", "attached " not in text)
passed = sum(results)
print(f"{passed} passed, {len(results) - passed} failed")
sys.exit(0 if passed == len(results) else 1)
