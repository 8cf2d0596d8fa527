#!/usr/bin/env bash
# Fetches the Debian kernels the VM tier boots, without installing them: each
# package is `apt-get download`ed and unpacked with `dpkg -x` under DEST, so
# this machine's own kernel and /boot are never touched. Idempotent: a kernel
# already unpacked (DEST/PACKAGE/.complete) is reused, so a re-run costs only
# the apt-cache look-ups.
#
# Usage: tests/vm/fetch-kernels.sh DEST [PACKAGE...]
#   DEST     cache directory, normally BUILD_DIR/vm-kernels (never committed)
#   PACKAGE  kernel image packages; default (or RAMPART_VM_PACKAGES, space
#            separated): the current Debian 12 kernel
#            linux-image-<abi>-amd64-unsigned (6.1, the ABI taken from the
#            linux-image-amd64 metapackage) and the newest 6.12 cloud image
#            the apt sources offer (bookworm-security carries linux-6.12).
#
# Per kernel it leaves DEST/PACKAGE/boot/{vmlinuz,vmlinux,config}-KVER (vmlinux
# is the ELF extracted from vmlinuz: QEMU boots it through its PVH entry point,
# which skips the slow XZ decompression under TCG) and lib/modules/KVER with a
# modules.dep (Debian's packages ship none; depmod -b writes it).
# It writes DEST/kernels.list, one "KVER VMLINUX PACKAGE" line per kernel, for
# run-tier.sh. Where a package cannot be fetched (no mirror), a copy already
# in DEST is used. Exit status: 0 when at least one kernel is ready, 1 if none.
set -euo pipefail

DEST=${1:?usage: fetch-kernels.sh DEST [PACKAGE...]}
shift
mkdir -p "$DEST"
DEST=$(readlink -f "$DEST")
log() { echo "fetch-kernels: $*" >&2; }

for t in apt-get apt-cache dpkg depmod python3; do
  command -v "$t" >/dev/null || { log "$t not found (scripts/install-deps.sh installs kmod for depmod)"; exit 1; }
done

# --- which packages --------------------------------------------------------------
default_packages() {
  local abi newest
  # "Depends: linux-image-6.1.0-56-amd64" -> 6.1.0-56
  abi=$(apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/.*Depends: linux-image-\(6\.1\.0-[0-9]*\)-amd64$/\1/p' | head -1)
  if [ -n "$abi" ]; then echo "linux-image-$abi-amd64-unsigned"
  else log "no linux-image-amd64 in the apt lists: cannot tell the current 6.1 ABI"; fi
  newest=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9.]+\+deb12-cloud-amd64-unsigned$' 2>/dev/null |
           cut -d' ' -f1 | sort -V | tail -1)
  if [ -n "$newest" ]; then echo "$newest"
  else log "no 6.12 cloud kernel in the apt sources (bookworm-security or backports): 6.1 only"; fi
}
if [ $# -gt 0 ]; then packages=("$@")
elif [ -n "${RAMPART_VM_PACKAGES:-}" ]; then read -r -a packages <<< "$RAMPART_VM_PACKAGES"
else mapfile -t packages < <(default_packages); fi
if [ ${#packages[@]} -eq 0 ]; then
  # Offline and no apt lists: fall back to whatever an earlier run left.
  mapfile -t packages < <(cd "$DEST" && for d in */.complete; do [ -e "$d" ] && dirname "$d"; done)
  [ ${#packages[@]} -gt 0 ] && log "using the cached kernels: ${packages[*]}"
fi

# --- vmlinux from vmlinuz ----------------------------------------------------------
# The bzImage payload is compressed with XZ (generic), LZ4 (6.1 cloud) or ZSTD
# (6.12): look for each format's magic and keep the first candidate that
# decompresses to an ELF file.
extract_vmlinux() {
  python3 - "$1" "$2" <<'PY'
import lzma, os, subprocess, sys, zlib
src, dst = sys.argv[1], sys.argv[2]
data = open(src, 'rb').read()
def run(cmd, blob):
    return subprocess.run(cmd, input=blob, capture_output=True).stdout
formats = [
    (b'\xfd7zXZ\x00', lambda b: lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(b)),
    (b'\x28\xb5\x2f\xfd', lambda b: run(['zstd', '-dcq'], b)),
    (b'\x02\x21\x4c\x18', lambda b: run(['lz4', '-dcq'], b)),
    (b'\x1f\x8b\x08', lambda b: zlib.decompressobj(31).decompress(b)),
]
for magic, decompress in formats:
    pos = data.find(magic)
    while pos >= 0:
        try:
            out = decompress(data[pos:])
        except Exception:
            out = b''
        if out[:4] == b'\x7fELF':
            with open(dst + '.tmp', 'wb') as f:
                f.write(out)
            os.replace(dst + '.tmp', dst)
            sys.exit(0)
        pos = data.find(magic, pos + 1)
sys.exit('no ELF vmlinux found in ' + src)
PY
}

# --- fetch + unpack one package ----------------------------------------------------
fetch_one() {
  local pkg=$1 dir=$DEST/$1 vmlinuz kver tmp
  if [ ! -e "$dir/.complete" ]; then
    rm -rf "$dir" "$dir.part"
    tmp=$dir.part
    mkdir -p "$tmp/deb"
    # apt-get download writes into the current directory; _apt cannot write
    # into a root-only build tree, so apt warns and downloads as root: fine.
    if ! (cd "$tmp/deb" && apt-get download "$pkg" >/dev/null 2>"$tmp/apt.log"); then
      # Stale lists name a version the mirror has dropped: refresh once.
      log "$pkg: download failed ($(grep -m1 -E '^E:' "$tmp/apt.log" || tail -1 "$tmp/apt.log")); apt-get update and retry"
      apt-get update -qq >/dev/null 2>&1 || true
      (cd "$tmp/deb" && apt-get download "$pkg" >/dev/null 2>"$tmp/apt.log") || {
        log "$pkg: $(grep -m1 -E '^E:' "$tmp/apt.log" || tail -1 "$tmp/apt.log")"; rm -rf "$tmp"; return 1; }
    fi
    dpkg -x "$tmp"/deb/*.deb "$tmp"
    rm -rf "$tmp/deb" "$tmp/apt.log"
    mv "$tmp" "$dir"
  fi
  vmlinuz=$(ls "$dir"/boot/vmlinuz-* 2>/dev/null | head -1)
  [ -n "$vmlinuz" ] || { log "$pkg: no boot/vmlinuz-* in the package"; return 1; }
  kver=${vmlinuz##*/vmlinuz-}
  if [ ! -e "$dir/.complete" ]; then
    [ -e "$dir/lib/modules/$kver/modules.dep" ] || depmod -b "$dir" "$kver"
    [ -s "$dir/boot/vmlinux-$kver" ] || extract_vmlinux "$vmlinuz" "$dir/boot/vmlinux-$kver"
    : > "$dir/.complete"
  fi
  echo "$kver $dir/boot/vmlinux-$kver $pkg" >> "$DEST/kernels.list.tmp"
}

: > "$DEST/kernels.list.tmp"
for pkg in "${packages[@]+"${packages[@]}"}"; do
  t0=$SECONDS
  fetch_one "$pkg" || continue
  [ $((SECONDS - t0)) -le 1 ] || log "$pkg: fetched and unpacked in $((SECONDS - t0)) s"
done
mv "$DEST/kernels.list.tmp" "$DEST/kernels.list"

if [ ! -s "$DEST/kernels.list" ]; then
  log "no kernel available in $DEST"
  exit 1
fi
echo "kernels in $DEST:"
while read -r kver vmlinux pkg; do
  cfg=$(dirname "$vmlinux")/config-$kver
  printf '  %-26s %s\n' "$kver" "$vmlinux"
  printf '  %-26s %s\n' "" "$(grep -E '^CONFIG_(BPF_LSM|LSM|9P_FS|VIRTIO_FS)=' "$cfg" | tr '\n' ' ')"
done < "$DEST/kernels.list"
