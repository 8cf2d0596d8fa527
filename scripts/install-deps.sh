#!/usr/bin/env bash
# Installs every Debian 12 package that building and testing Rampart needs.
# Idempotent: packages already present are left alone, and apt is only asked
# to update its lists when something is missing.
set -euo pipefail

packages=(
  build-essential cmake make pkg-config git
  clang llvm libclang-rt-14-dev
  libbpf-dev bpftool libelf-dev zlib1g-dev
  libboost-dev libboost-system-dev
  libyaml-cpp-dev nlohmann-json3-dev libexpected-dev
  catch2
  iproute2 procps util-linux python3 tar gzip
  # operations (packaging/, daemon/ops/): sd_notify and the journal; the
  # packaging tests' tools: systemd-analyze, capsh, curl, dpkg-deb, YAML
  libsystemd-dev systemd libcap2-bin curl dpkg-dev file python3-yaml
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
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
