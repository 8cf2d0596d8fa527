#!/usr/bin/env python3
"""The Kubernetes manifests' security-relevant fields, and their fit with
the rest of Rampart: the DaemonSet's capabilities are exactly the systemd
unit's, its host mounts are the ones rampartd needs (read-only where it only
reads), its probes reach rampartctl and the /healthz the config serves, and
the ConfigMaps hold a config and policies that rampartd accepts.
Prints one line per check and "N passed, N failed".
    k8s_test.py SOURCE_DIR RAMPARTD
"""
import subprocess
import sys
import tempfile
import os

import yaml

src, rampartd = sys.argv[1], sys.argv[2]
k8s = os.path.join(src, "packaging/kubernetes")
results = []


def check(what, ok):
    results.append(bool(ok))
    print(("ok   " if ok else "FAIL ") + what, flush=True)


docs = []
for name in sorted(os.listdir(k8s)):
    if name.endswith(".yaml"):
        with open(os.path.join(k8s, name)) as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)

ds = by_kind["DaemonSet"][0]
pod = ds["spec"]["template"]["spec"]
c = pod["containers"][0]
sc = c.get("securityContext", {})

# Pod-level isolation.
check("hostPID: true (rampartd resolves every host process)", pod.get("hostPID") is True)
check("hostNetwork and hostIPC are off", not pod.get("hostNetwork") and not pod.get("hostIPC"))
check("no ServiceAccount token is mounted", pod.get("automountServiceAccountToken") is False)
check("one container, no sidecars or init containers", len(pod["containers"]) == 1 and "initContainers" not in pod)

# Container privileges.
check("not privileged", sc.get("privileged") is False)
check("no privilege escalation", sc.get("allowPrivilegeEscalation") is False)
check("read-only root filesystem", sc.get("readOnlyRootFilesystem") is True)
check("all capabilities dropped first", sc.get("capabilities", {}).get("drop") == ["ALL"])
with open(os.path.join(src, "packaging/systemd/rampart.service")) as f:
    unit_caps = next(l.split("=", 1)[1].split() for l in f if l.startswith("CapabilityBoundingSet="))
unit_caps = sorted(x.removeprefix("CAP_") for x in unit_caps)
added = sorted(sc.get("capabilities", {}).get("add", []))
check(f"added capabilities are exactly the systemd unit's: {added}", added == unit_caps)
check("seccomp is set explicitly (Unconfined, justified in the manifest)",
      sc.get("seccompProfile", {}).get("type") in ("Unconfined", "Localhost", "RuntimeDefault"))

# Host mounts.
vols = {v["name"]: v for v in pod["volumes"]}
mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
host = {}
for path, m in mounts.items():
    v = vols[m["name"]]
    if "hostPath" in v:
        host[v["hostPath"]["path"]] = (path, m.get("readOnly", False))
for p in ["/sys/fs/bpf", "/sys/kernel/btf", "/sys/kernel/security", "/sys/fs/cgroup", "/proc"]:
    check(f"host {p} is mounted", p in host)
for p in ["/sys/kernel/btf", "/sys/kernel/security", "/sys/fs/cgroup", "/proc"]:
    check(f"host {p} is read-only", host.get(p, (None, False))[1])
dangerous = [p for p in host if p in ("/", "/etc", "/root", "/var/run", "/run", "/var/run/docker.sock",
                                      "/run/containerd", "/var/lib/kubelet", "/dev")]
check(f"no host root, runtime socket, kubelet or /dev mount ({dangerous})", not dangerous)
check("host mounts are only these and the state directory",
      set(host) <= {"/sys/fs/bpf", "/sys/kernel/btf", "/sys/kernel/security", "/sys/fs/cgroup", "/proc",
                    "/var/lib/rampart"})

# Probes and resources.
cfg_map = next(d for d in by_kind["ConfigMap"] if d["metadata"]["name"] == "rampart-config")
cfg = yaml.safe_load(cfg_map["data"]["rampart.yaml"])
for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
    check(f"{probe} is set", probe in c)
check("liveness runs rampartctl status", c["livenessProbe"].get("exec", {}).get("command", [])[-2:] ==
      ["/usr/bin/rampartctl", "status"][-2:] and "rampartctl" in c["livenessProbe"]["exec"]["command"][0])
rp = c["readinessProbe"].get("httpGet", {})
ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
metrics_port = int(cfg["metrics"]["address"].rsplit(":", 1)[1])
check(f"readiness is /healthz on the configured metrics port ({metrics_port})",
      rp.get("path") == "/healthz" and ports.get(rp.get("port"), rp.get("port")) == metrics_port)
res = c.get("resources", {})
check("CPU and memory requests, and a memory limit",
      {"cpu", "memory"} <= set(res.get("requests", {})) and "memory" in res.get("limits", {}))

# RBAC: the ServiceAccount, bound to nothing broad.
sa = by_kind["ServiceAccount"][0]
check("the pod's ServiceAccount is defined", sa["metadata"]["name"] == pod.get("serviceAccountName"))
check("the ServiceAccount does not mount its token", sa.get("automountServiceAccountToken") is False)
rules = [r for kind in ("Role", "ClusterRole") for role in by_kind.get(kind, []) for r in role.get("rules", [])]
check(f"no RBAC rule grants writes or wildcards ({len(rules)} rules)",
      all("*" not in r.get("verbs", []) + r.get("resources", []) and
          set(r.get("verbs", [])) <= {"get", "list", "watch"} for r in rules))

# The ConfigMaps: rampartd accepts them, and the paths line up with the mounts.
pol_map = next(d for d in by_kind["ConfigMap"] if d["metadata"]["name"] == "rampart-policies")
with tempfile.TemporaryDirectory() as tmp:
    with open(os.path.join(tmp, "rampart.yaml"), "w") as f:
        f.write(cfg_map["data"]["rampart.yaml"])
    r = subprocess.run([rampartd, "--config", os.path.join(tmp, "rampart.yaml"), "--check-config"],
                       capture_output=True, text=True)
    check("the config ConfigMap passes rampartd --check-config" + (": " + r.stderr.strip() if r.returncode else ""),
          r.returncode == 0)
    os.mkdir(os.path.join(tmp, "policies"))
    for name, text in pol_map["data"].items():
        with open(os.path.join(tmp, "policies", name), "w") as f:
            f.write(text)
    r = subprocess.run([rampartd, "--check-policy", os.path.join(tmp, "policies")], capture_output=True, text=True)
    check("the policies ConfigMap passes rampartd --check-policy" + (": " + r.stderr.strip() if r.returncode else ""),
          r.returncode == 0)
args = c.get("args", [])
cfg_path = args[args.index("--config") + 1]
check(f"--config {cfg_path} is the config ConfigMap's mount",
      os.path.dirname(cfg_path) in mounts and vols[mounts[os.path.dirname(cfg_path)]["name"]]
      .get("configMap", {}).get("name") == "rampart-config")
check("policy.dir is the policies ConfigMap's mount (hot-reloaded on change)",
      vols[mounts[cfg["policy"]["dir"]]["name"]].get("configMap", {}).get("name") == "rampart-policies")
check("the API socket's directory is a writable emptyDir",
      "emptyDir" in vols[mounts[os.path.dirname(cfg["api"]["socket"])]["name"]])
check("the container's exec marks are off (they would mark the image, not the host)",
      cfg["enforcement"]["exec_mounts"] == [])

passed = sum(results)
print(f"{passed} passed, {len(results) - passed} failed")
sys.exit(0 if passed == len(results) else 1)
