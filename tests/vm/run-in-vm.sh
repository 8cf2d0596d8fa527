#!/usr/bin/env bash
# Boots a kernel under QEMU and runs one command inside it, in the caller's
# current directory, on the host's own root filesystem: the guest mounts the
# host's / read-only (9p, or virtiofs where the kernel has no 9p) as the lower
# layer of an overlayfs with a tmpfs upper layer, so it sees the build tree,
# binaries and libraries, and its writes vanish at power-off. Prints the
# command's output (stdout and stderr, merged) as it comes, and exits with the
# command's status. Harness statuses: 124 timeout, 125 the VM ended without
# reporting a status (panic, boot failure, failed insmod or mount), 2 usage or
# setup error.
#
# The guest, before the command: proc, sysfs, devtmpfs, devpts, /dev/shm,
# securityfs (/sys/kernel/security), bpffs (/sys/fs/bpf), tracefs
# (/sys/kernel/tracing), debugfs, cgroup2 at /sys/fs/cgroup (where rampartd and
# the tests' scratch cgroups find it), a tmpfs on /tmp, loopback up and no
# other network. No KVM needed: QEMU runs in TCG (software emulation) mode.
#
# Usage: tests/vm/run-in-vm.sh -k KERNEL [options] [--] COMMAND [ARGS...]
#   KERNEL  an ELF vmlinux (booted through its PVH note, the fast path under
#           TCG) or a bzImage; its modules are looked for in
#           <dir of KERNEL>/../lib/modules/<version> (fetch-kernels.sh layout).
#   Environment for the command: pass it through env(1), e.g.
#           run-in-vm.sh -k K -- env RAMPART_REQUIRE_KERNEL=1 ./build/tests/x
# On stderr, after the run, one line for the record:
#   run-in-vm: KVER: booted in B s, command ran C s, exit N
# (B and C are guest uptimes: boot to the command, and the command itself.)
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  cat <<'USAGE'
Options:
  -k, --kernel PATH     kernel image, required
      --fs T            root transport: auto (default: 9p if the kernel has it,
                        else virtiofs) | 9p | virtiofs
  -M, --modules DIR     lib/modules/<version> directory of the kernel
      --lsm LIST        lsm= value; default lockdown,capability,landlock,yama,apparmor,bpf
                        ('none': no lsm= argument, the kernel's CONFIG_LSM)
      --append STR      extra kernel command-line arguments
      --mem SIZE        guest memory (default 2G)
      --smp N           guest CPUs (default 2)
      --accel A         tcg (default) | kvm | auto (kvm if /dev/kvm is usable);
                        kvm is untested: the development hosts have no /dev/kvm
      --timeout SECS    limit for the whole VM run (default 600)
      --console FILE    save the guest console (kernel log) to FILE
      --keep DIR        work in DIR and keep it (initramfs, logs)
  -v, --verbose         also print the guest console on stderr
  -h, --help
USAGE
}

KERNEL= FS=auto MODDIR= LSM=lockdown,capability,landlock,yama,apparmor,bpf APPEND=
MEM=2G SMP=2 ACCEL=tcg TIMEOUT=600 CONSOLE= KEEP= VERBOSE=0
while [ $# -gt 0 ]; do
  case "$1" in
    -k|--kernel) KERNEL=$2; shift 2;;
    --fs) FS=$2; shift 2;;
    -M|--modules) MODDIR=$2; shift 2;;
    --lsm) LSM=$2; shift 2;;
    --append) APPEND=$2; shift 2;;
    --mem) MEM=$2; shift 2;;
    --smp) SMP=$2; shift 2;;
    --accel) ACCEL=$2; shift 2;;
    --timeout) TIMEOUT=$2; shift 2;;
    --console) CONSOLE=$2; shift 2;;
    --keep) KEEP=$2; shift 2;;
    -v|--verbose) VERBOSE=1; shift;;
    -h|--help) usage; exit 0;;
    --) shift; break;;
    -*) echo "run-in-vm: unknown option $1" >&2; usage >&2; exit 2;;
    *) break;;
  esac
done
die() { echo "run-in-vm: $*" >&2; exit 2; }
[ -n "$KERNEL" ] && [ -r "$KERNEL" ] || die "need a readable --kernel"
[ $# -gt 0 ] || die "need a command to run in the guest"
case "$FS" in auto|9p|virtiofs) ;; *) die "--fs must be auto, 9p or virtiofs";; esac
for t in qemu-system-x86_64 cpio file; do
  command -v $t >/dev/null || die "$t not found (scripts/install-deps.sh installs qemu-system-x86, cpio, file)"
done
BUSYBOX=
for b in "$(command -v busybox || true)" /bin/busybox /usr/bin/busybox; do
  [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1 && { BUSYBOX=$b; break; }
done
[ -n "$BUSYBOX" ] || die "need a static busybox (busybox-static)"

# --- the kernel: version, config ----------------------------------------------------
KERNEL=$(readlink -f "$KERNEL")
KDIR=$(dirname "$KERNEL")
if file -bL "$KERNEL" | grep -q '^ELF'; then
  KVER=$(grep -a -o -m1 'Linux version [^ ]*' "$KERNEL" | head -1 | cut -d' ' -f3)
else
  KVER=$(file -bL "$KERNEL" | sed -n 's/.*version \([^ ]*\).*/\1/p')
fi
[ -n "$KVER" ] || die "cannot tell the version of $KERNEL"
KCONF=
for c in "$KDIR/config-$KVER" "/boot/config-$KVER"; do
  [ -r "$c" ] && { KCONF=$c; break; }
done
kconf() { [ -n "$KCONF" ] && sed -n "s/^CONFIG_$1=//p" "$KCONF"; }

# --- work directory -------------------------------------------------------------------
if [ -n "$KEEP" ]; then
  WORK=$(readlink -f "$KEEP")
  if [ -d "$WORK" ] && [ -n "$(ls -A "$WORK")" ]; then
    [ -e "$WORK/.run-in-vm" ] || die "--keep $KEEP: directory exists and was not made by run-in-vm"
    rm -rf "$WORK"
  fi
  mkdir -p "$WORK"; : > "$WORK/.run-in-vm"
else
  WORK=$(mktemp -d /tmp/rampart-vm.XXXXXX)
fi
VFSD_PID= QEMU_PID=
cleanup() {
  [ -z "$QEMU_PID" ] || kill "$QEMU_PID" 2>/dev/null || true
  [ -z "$VFSD_PID" ] || kill "$VFSD_PID" 2>/dev/null || true
  [ -n "$KEEP" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
IR=$WORK/ir
mkdir -p "$IR"/{bin,dev,proc,sys,lower,rw,newroot,vmtest,lib/modules}
cp "$BUSYBOX" "$IR/bin/busybox"

# --- the command, as a script (run by the host's bash in the guest) -----------------
{ echo '#!/bin/bash'
  printf 'cd %q || exit 125\n' "$(pwd)"
  printf '%q ' "$@"; echo; } > "$IR/vmtest/cmd.sh"
chmod +x "$IR/vmtest/cmd.sh"
# The guest gets a fresh /tmp; a working tree under the host's /tmp (a clone
# in /tmp/x) stays visible there: its top directory under /tmp, writable
# through an overlay of its own.
case "$(pwd)/" in
  /tmp/?*/*) p=$(pwd); p=${p#/tmp/}; echo "/tmp/${p%%/*}" > "$IR/vmtest/keep";;
esac

# --- transport and its modules -----------------------------------------------------------
if [ "$FS" = auto ]; then
  case "$(kconf 9P_FS)" in y|m) FS=9p;; *)
    case "$(kconf VIRTIO_FS)" in y|m) FS=virtiofs;; *)
      [ -z "$KCONF" ] || die "kernel $KVER has neither 9p nor virtiofs"
      FS=9p;; esac;; esac
fi
if [ "$FS" = virtiofs ]; then
  VIRTIOFSD=$(command -v virtiofsd || ls /usr/lib/qemu/virtiofsd /usr/libexec/virtiofsd 2>/dev/null | head -1 || true)
  [ -n "$VIRTIOFSD" ] || die "virtiofsd not found (Debian: /usr/lib/qemu/virtiofsd in qemu-system-common)"
  want="virtio_pci virtiofs overlay"
else
  want="virtio_pci 9pnet_virtio 9p overlay"
fi
[ -n "$MODDIR" ] || MODDIR=$KDIR/../lib/modules/$KVER
[ -d "$MODDIR" ] || MODDIR=/lib/modules/$KVER
if [ -d "$MODDIR" ]; then
  MODDIR=$(readlink -f "$MODDIR")
  [ -e "$MODDIR/modules.dep" ] || die "no modules.dep in $MODDIR (run depmod -b, as fetch-kernels.sh does)"
  mods=()
  for m in $want; do
    dep=$(grep -E "/$m\.ko(\.[a-z]+)?:" "$MODDIR/modules.dep" || true)
    [ -n "$dep" ] || continue   # built in
    # "mod.ko: dep1.ko dep2.ko": load the dependencies first, each once.
    for p in $(echo "$dep" | tr -d ':' | awk '{for(i=NF;i>=1;i--) print $i}'); do
      case " ${mods[*]+"${mods[*]}"} " in *" $p "*) ;; *) mods+=("$p");; esac
    done
  done
  for p in "${mods[@]+"${mods[@]}"}"; do
    b=$(basename "$p"); b=${b%.ko*}.ko
    case "$p" in                # busybox insmod takes plain .ko only
      *.ko) cp "$MODDIR/$p" "$IR/lib/modules/$b";;
      *.ko.xz) xz -dc "$MODDIR/$p" > "$IR/lib/modules/$b";;
      *.ko.zst) zstd -dcq "$MODDIR/$p" > "$IR/lib/modules/$b";;
      *.ko.gz) gzip -dc "$MODDIR/$p" > "$IR/lib/modules/$b";;
      *) die "unsupported module file $p";;
    esac
    echo "$b" >> "$IR/lib/modules/load-order"
  done
elif [ "$(kconf 9P_FS)" = m ] || [ "$(kconf VIRTIO_FS)" = m ]; then
  die "no modules directory for $KVER (tried $MODDIR); use --modules"
fi

# --- /init ----------------------------------------------------------------------------------
# Console (ttyS0): kernel log and these harness lines. ttyS1 (raw): the
# command's output, then RAMPART_VM_* status lines that the host strips.
cat > "$IR/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
OUT=/dev/ttyS1
stty -F $OUT raw -echo 2>/dev/null
fail() { echo "RAMPART_VM_HARNESS_ERROR: $*" | tee $OUT; poweroff -f; }
arg() { sed -n "s/.*rampart_vm\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
[ -f /lib/modules/load-order ] && while read -r m; do
  insmod /lib/modules/$m || fail "insmod $m"
done < /lib/modules/load-order
if [ "$(arg fs)" = virtiofs ]; then
  mount -t virtiofs -o ro hostroot /lower || fail "mount virtiofs"
else
  mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /lower || fail "mount 9p"
fi
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "mount overlay"
R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
# A fresh /tmp: the host's own /tmp stays out of the tests' way, except the
# working tree when it lives there.
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
if [ -f /vmtest/keep ]; then
  K=$(cat /vmtest/keep)
  mkdir -p /rw/keep-upper /rw/keep-work $R$K
  mount -t overlay -o lowerdir=/lower$K,upperdir=/rw/keep-upper,workdir=/rw/keep-work overlay $R$K || fail "mount $K"
fi
mount -t securityfs securityfs $R/sys/kernel/security || fail "mount securityfs"
mount -t bpf bpf $R/sys/fs/bpf || fail "mount bpffs"
mount -t tracefs tracefs $R/sys/kernel/tracing || fail "mount tracefs"
mount -t debugfs debugfs $R/sys/kernel/debug 2>/dev/null
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup || fail "mount cgroup2"
mkdir -p $R/run/rampart-vm && cp /vmtest/cmd.sh $R/run/rampart-vm/
hostname rampart-vm
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up || fail "loopback"
echo "RAMPART_VM_BOOTED uptime=$(cut -d' ' -f1 /proc/uptime)" > $OUT
chroot $R env -i PATH=$PATH HOME=/root TERM=dumb /bin/bash /run/rampart-vm/cmd.sh > $OUT 2>&1 < /dev/null
rc=$?
echo "RAMPART_VM_DONE uptime=$(cut -d' ' -f1 /proc/uptime)" > $OUT
echo "RAMPART_VM_EXIT=$rc" > $OUT
sync
poweroff -f
INIT
chmod +x "$IR/init"
(cd "$IR" && find . | cpio -o -H newc --quiet) > "$WORK/initramfs.cpio"

# --- qemu ---------------------------------------------------------------------------------
[ "$ACCEL" = auto ] && { [ -w /dev/kvm ] && ACCEL=kvm || ACCEL=tcg; }
case "$ACCEL" in
  kvm) ACC=(-accel kvm -cpu host);;
  # One host thread for every vCPU: with multi-threaded TCG a guest CPU can
  # run a stale translation of kernel text another one just patched (an
  # int3 from a static-key flip: "Oops: int3", seen on 6.12).
  tcg) ACC=(-accel tcg,thread=single -cpu max);;
  *) die "--accel must be tcg, kvm or auto";;
esac
CMDLINE="console=ttyS0 panic=-1 oops=panic rampart_vm.fs=$FS"
[ "$LSM" = none ] || CMDLINE+=" lsm=$LSM"
[ -z "$APPEND" ] || CMDLINE+=" $APPEND"
CONCHR="file,id=con,path=$WORK/console.log"
MACHINE=q35
QEMU=(-m "$MEM" -smp "$SMP" -no-reboot -nodefaults -display none
      -chardev "$CONCHR" -serial chardev:con
      -chardev file,id=out,path="$WORK/out.log" -serial chardev:out
      -kernel "$KERNEL" -initrd "$WORK/initramfs.cpio" -append "$CMDLINE")
if [ "$FS" = 9p ]; then
  QEMU+=(-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
         -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot)
else
  # vhost-user needs guest RAM in shared memory. virtiofsd cannot export
  # read-only; the guest mounts it ro and writes go to the overlay's tmpfs.
  MACHINE=q35,memory-backend=mem
  QEMU+=(-object memory-backend-memfd,id=mem,size="$MEM",share=on
         -chardev socket,id=vfs,path="$WORK/virtiofsd.sock"
         -device vhost-user-fs-pci,chardev=vfs,tag=hostroot)
  timeout -k 5 "$((TIMEOUT + 10))" "$VIRTIOFSD" --socket-path="$WORK/virtiofsd.sock" \
      -o source=/ -o cache=auto -o sandbox=chroot > "$WORK/virtiofsd.log" 2>&1 &
  VFSD_PID=$!
  for _ in $(seq 100); do [ -S "$WORK/virtiofsd.sock" ] && break; sleep 0.05; done
  [ -S "$WORK/virtiofsd.sock" ] || die "virtiofsd did not start: $(cat "$WORK/virtiofsd.log")"
fi
QEMU=(qemu-system-x86_64 -machine "$MACHINE" "${ACC[@]}" "${QEMU[@]}")
: > "$WORK/out.log"
set +e
timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null >"$WORK/qemu.log" 2>&1 &
QEMU_PID=$!
# Stream the command's output while the guest runs; status lines stay out.
tail -s 0.5 -n +1 -f --pid="$QEMU_PID" "$WORK/out.log" | sed -u -e 's/\r$//' -e '/^RAMPART_VM_/d'
wait "$QEMU_PID"
qrc=$?
QEMU_PID=
set -e
[ -z "$CONSOLE" ] || cp "$WORK/console.log" "$CONSOLE"
status() { tr -d '\r' < "$WORK/out.log" | sed -n "s/^RAMPART_VM_$1\$/\\1/p" | tail -1; }
rc=$(status 'EXIT=\([0-9]*\)')
booted=$(status 'BOOTED uptime=\([0-9.]*\)')
done_at=$(status 'DONE uptime=\([0-9.]*\)')
herr=$(status 'HARNESS_ERROR: \(.*\)')
if [ "$VERBOSE" = 1 ] || [ -z "$rc" ]; then
  { echo "---- qemu exit $qrc; guest console (last 60 lines) ----"
    cat "$WORK/qemu.log" 2>/dev/null
    tr -d '\r' < "$WORK/console.log" | tail -n 60; } >&2
fi
[ -z "$herr" ] || echo "run-in-vm: guest harness error: $herr" >&2
if [ -z "$rc" ]; then
  [ "$qrc" = 124 ] && { echo "run-in-vm: $KVER: timeout after ${TIMEOUT}s" >&2; exit 124; }
  echo "run-in-vm: $KVER: the VM ended (qemu exit $qrc) without the command's status" >&2
  exit 125
fi
if [ -n "$booted" ] && [ -n "$done_at" ]; then
  echo "run-in-vm: $KVER: booted in $booted s, command ran $(awk "BEGIN{printf \"%.1f\", $done_at - $booted}") s, exit $rc" >&2
fi
exit "$rc"
