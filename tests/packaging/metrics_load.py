#!/usr/bin/env python3
"""e2e: rampartd's /metrics under load, scraped with curl. A small ring
buffer that rampartd drains only every second makes the load overflow it,
so drops happen for real. Checks that the counters move between scrapes
during the load, that the ring buffer's fill is visible, and that the drop
counters agree with the load's own count: every open the load made is
either delivered as an event or counted as dropped, and the last scrape's
drops equal the exit stats line's.
    metrics_load.py RAMPARTD WORKDIR
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

rampartd, work = sys.argv[1], sys.argv[2]
results = []


def check(what, ok):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + what, flush=True)


def scrape(url):
    out = subprocess.run(["curl", "-sf", "--max-time", "5", url], capture_output=True, text=True).stdout
    samples = {}
    for line in out.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def total(samples, prefix):
    return sum(v for k, v in samples.items() if k.startswith(prefix))


with open(os.path.join(work, "rampart.yaml"), "w") as f:
    f.write("ringbuf:\n  size_mb: 1\n  wakeup_kb: 1020\n  poll_interval_ms: 1000\n"
            "enforcement:\n  exec_mounts: []\n  sensitive_paths: []\n"
            'metrics:\n  address: "127.0.0.1:0"\n'
            f'api:\n  socket: {os.path.join(work, "api.sock")}\n')
events = os.path.join(work, "events.jsonl")
stderr_path = os.path.join(work, "stderr.txt")
proc = subprocess.Popen([rampartd, "--config", os.path.join(work, "rampart.yaml"), "--output", events],
                        stderr=open(stderr_path, "w"), stdout=subprocess.DEVNULL)
import atexit
atexit.register(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
url = None
for _ in range(300):
    m = re.search(r"metrics on (http://\S+/metrics)", open(stderr_path).read())
    if m:
        url = m.group(1)
        break
    time.sleep(0.1)
check(f"rampartd serves metrics ({url})", url is not None)
if not url:
    print(open(stderr_path).read())
    proc.kill()
    sys.exit(1)

target = os.path.join(work, "load-target")
open(target, "w").close()
OPEN = 'rampart_events_total{type="open"}'
before = scrape(url)
phases, scrapes, opened, fills = 4, [before], 0, []
# A second scraper samples the fill all through the load: the backlog comes
# and goes faster than one scrape per phase can be sure to see.
loading = True


def sample_fill():
    while loading:
        fills.append(scrape(url).get("rampart_ringbuf_used_bytes", 0))


sampler = threading.Thread(target=sample_fill)
sampler.start()
for _ in range(phases):
    for _ in range(30000):
        os.close(os.open(target, os.O_RDONLY))
        opened += 1
    scrapes.append(scrape(url))  # while the backlog may still be in the ring buffer
loading = False
sampler.join()
time.sleep(1.5)  # let rampartd drain what is left
after = scrape(url)
scrapes.append(after)

moving = all(b[OPEN] >= a[OPEN] for a, b in zip(scrapes, scrapes[1:])) and after[OPEN] > before[OPEN]
check(f"open events counter moves: {int(before[OPEN])} -> " + " -> ".join(str(int(s[OPEN])) for s in scrapes[1:]),
      moving)
check(f"CPU time moves ({before['process_cpu_seconds_total']} -> {after['process_cpu_seconds_total']} s)",
      after["process_cpu_seconds_total"] > before["process_cpu_seconds_total"])
check(f"RSS is reported ({int(after['process_resident_memory_bytes']) >> 20} MiB)",
      after["process_resident_memory_bytes"] > 0)
check(f"ring-buffer fill seen during the load (max {int(max(fills))} of "
      f"{int(after['rampart_ringbuf_size_bytes'])} bytes)", max(fills) > 0)
dropped_metrics = total(after, 'rampart_kernel_events_dropped_total{type="open"}')
proc.send_signal(signal.SIGTERM)
proc.wait(timeout=60)
check(f"clean exit (status {proc.returncode})", proc.returncode == 0)

mine, stats = 0, None
me = os.getpid()
with open(events) as f:
    for line in f:
        if f'"tgid":{me},' in line and '"type":"open"' in line and "load-target" in line:
            mine += 1
        elif '"type":"stats"' in line:
            stats = json.loads(line)
dropped_exit = stats["events"]["open"]["dropped"]
print(f"     load: {opened} opens; delivered {mine}; dropped (open, all processes): metrics {int(dropped_metrics)}, "
      f"exit stats {dropped_exit}")
check("the load overflowed the ring buffer (drops to account for)", dropped_metrics > 0)
check("the last scrape's drops equal the exit stats line's", int(dropped_metrics) == dropped_exit)
check("every open of the load was delivered or counted as dropped", opened - mine <= dropped_metrics)
check("the delivered counter agrees with the output (metrics >= this load's events)", after[OPEN] >= mine)
passed = sum(results)
print(f"{passed} passed, {len(results) - passed} failed")
sys.exit(0 if passed == len(results) else 1)
