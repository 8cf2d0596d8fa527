#!/usr/bin/env bash
# Installs every Debian 12 package that building and testing Rampart needs.
# Idempotent: packages already present are left alone, and apt is only asked
# to update its lists when something is missing.
set -euo pipefail

packages=(
  build-essential cmake make pkg-config git
  clang llvm libclang-rt-14-dev
  # scripts/check-format.sh and scripts/lint.sh
  clang-format clang-tidy
  libbpf-dev bpftool libelf-dev zlib1g-dev
  libboost-dev libboost-system-dev
  libyaml-cpp-dev nlohmann-json3-dev libexpected-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  catch2 libcli11-dev
  # the bypass tier's io_uring attempts (tests/bypass)
  liburing-dev
  iproute2 procps util-linux python3 tar gzip
  python3-grpcio python3-protobuf
  # operations (packaging/, daemon/ops/): sd_notify and the journal; the
  # packaging tests' tools: systemd-analyze, capsh, curl, dpkg-deb, YAML
  libsystemd-dev systemd libcap2-bin curl dpkg-dev python3-yaml
  # the kubelet pod lookup (daemon/k8s) over HTTPS
  libssl-dev
  # VM tier (tests/vm): QEMU, the guest's /init, unpacking Debian kernels
  qemu-system-x86 busybox-static kmod cpio file xz-utils zstd lz4
  # soak test (tests/soak): the exec/fork/open/socket load mix
  stress-ng
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get needs it)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Kubernetes manifests' offline schema validator (tests/packaging/
# k8s-validate): npm packages pinned by its package-lock.json, installed in
# that folder only. Node.js from Debian where the machine has none.
validator="$(cd "$(dirname "$0")/.." && pwd)/tests/packaging/k8s-validate"
if [ ! -d "$validator/node_modules/kubernetes-models" ]; then
  if ! command -v npm >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  echo "install-deps: npm ci in $validator"
  (cd "$validator" && npm ci --no-audit --no-fund --loglevel=error)
fi
