#!/usr/bin/env bash
# Installs what Rampart needs (Debian 12 packages), builds it, and runs
# rampartd in the foreground on its embedded default config: every event is
# printed on stdout as one JSON line. Ctrl-C stops it. Extra arguments go to
# rampartd (see ./build/rampartd --help). Run as root.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install-deps.sh >&2
bash scripts/build.sh >&2
exec ./build/rampartd "$@"
