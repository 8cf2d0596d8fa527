#!/usr/bin/env bash
# Runs a command the way systemd would run a service under a unit's
# hardening, on a machine whose PID 1 is not systemd:
#   hardened_run.sh UNIT_FILE -- COMMAND [ARGS...]
# From the unit it reads and applies:
#   CapabilityBoundingSet=  setpriv --bounding-set (root's permitted and
#                           effective sets shrink to it at exec)
#   NoNewPrivileges=yes     setpriv --no-new-privs
#   ProtectSystem=strict    every mount read-only in a private mount
#                           namespace, but /dev, /proc and /sys
#   ProtectHome=read-only   /home, /root, /run/user read-only (strict covers it)
#   ProtectControlGroups=yes  /sys/fs/cgroup read-only
#   StateDirectory= RuntimeDirectory= LogsDirectory=  created if missing and
#                           bound writable (/var/lib/X, /run/X, /var/log/X)
#   UMask=
# Anything else in the unit is not applied (see rampart.service for what it
# sets). The namespace is private: nothing here changes the host's mounts.
set -euo pipefail
unit=$1
shift
[ "${1:-}" = "--" ] && shift

value() { sed -n "s/^$1=//p" "$unit" | tail -n1; }

caps=$(value CapabilityBoundingSet)
bounding="-all"
for c in $caps; do
  c=${c#CAP_}
  bounding+=",+${c,,}"
done
nnp=()
[ "$(value NoNewPrivileges)" = yes ] && nnp=(--no-new-privs)
protect_system=$(value ProtectSystem)
protect_home=$(value ProtectHome)
protect_cgroups=$(value ProtectControlGroups)
umask_value=$(value UMask)
rw_dirs=()
for d in $(value StateDirectory); do rw_dirs+=("/var/lib/$d"); done
for d in $(value RuntimeDirectory); do rw_dirs+=("/run/$d"); done
for d in $(value LogsDirectory); do rw_dirs+=("/var/log/$d"); done
for d in "${rw_dirs[@]}"; do mkdir -p "$d"; done

# The script that sets up the namespace, then drops to the unit's capabilities.
setup=$(cat <<'INNER'
set -eu
ro() { mount -o remount,bind,ro "$1" 2>/dev/null || mount -o remount,ro,bind "$1"; }
mountpoints() { awk '{ print $5 }' /proc/self/mountinfo | sort -u; }
if [ "$PROTECT_SYSTEM" = strict ]; then
  for m in $(mountpoints); do
    case "$m" in
      /dev|/dev/*|/proc|/proc/*|/sys|/sys/*) ;;
      *) ro "$m" ;;
    esac
  done
fi
if [ "$PROTECT_HOME" = read-only ] || [ "$PROTECT_HOME" = yes ]; then
  for m in $(mountpoints); do
    case "$m" in /home|/home/*|/root|/root/*|/run/user|/run/user/*) ro "$m" ;; esac
  done
  for d in /home /root /run/user; do
    [ -d "$d" ] && { mount --bind "$d" "$d"; ro "$d"; }
  done
fi
if [ "$PROTECT_CGROUPS" = yes ]; then
  for m in $(mountpoints); do
    case "$m" in /sys/fs/cgroup|/sys/fs/cgroup/*) ro "$m" ;; esac
  done
fi
for d in $RW_DIRS; do
  mount --bind "$d" "$d"
  mount -o remount,bind,rw "$d"
done
[ -n "$UMASK_VALUE" ] && umask "$UMASK_VALUE"
exec setpriv --bounding-set="$BOUNDING" --inh-caps=-all $NNP -- "$@"
INNER
)
export PROTECT_SYSTEM=$protect_system PROTECT_HOME=$protect_home PROTECT_CGROUPS=$protect_cgroups
export RW_DIRS="${rw_dirs[*]}" UMASK_VALUE=$umask_value BOUNDING=$bounding NNP="${nnp[*]:-}"
exec unshare --mount --propagation private -- sh -c "$setup" hardened "$@"
