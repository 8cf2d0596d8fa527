#!/usr/bin/env bash
# The container image, checked without a Docker engine (none here):
# - the build stage is Debian 12 and runs the same scripts, in the same
#   order, as CI (.ci/run): scripts/install-deps.sh, then scripts/build.sh;
# - the runtime stage is Debian 12 slim, and its apt package list covers the
#   shared libraries of every binary it copies from the build stage: each
#   library ldd resolves is in a listed package, a package those depend on,
#   or an essential package of every Debian image; each library a binary
#   links directly (DT_NEEDED) is in a listed package; and no listed package
#   goes unused.
#   dockerfile_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
need_tool dpkg
need_tool apt-cache
build=$1
df=$SRC/packaging/docker/Dockerfile

stage() {  # the lines of stage $1 (by its AS name)
  awk -v s="$1" 'toupper($1) == "FROM" { in_s = (tolower($NF) == s) } in_s' "$df"
}
build_stage=$(stage build)
runtime_stage=$(stage runtime)
check "a build stage and a runtime stage" test -n "$build_stage" -a -n "$runtime_stage"
check "the build stage is Debian 12" grep -qE '^FROM debian:(12|bookworm)[ @]' <<<"$build_stage"
check "the runtime stage is Debian 12 slim" grep -qE '^FROM debian:(12|bookworm)-slim[ @]' <<<"$runtime_stage"

# The scripts CI runs to install and build (up to build.sh; then it
# benchmarks, fuzzes and tests), and the build stage's: the same sequence.
# The formatting check is a gate on the sources, not a build step.
ci_steps=$(grep -oE 'bash scripts/[a-z-]+\.sh' "$SRC/.ci/run" | grep -v check-format | sed '/build\.sh/q' | tr '\n' ' ')
build_steps=$(grep -oE 'bash scripts/[a-z-]+\.sh' <<<"$build_stage" | tr '\n' ' ')
echo "     CI runs:          $ci_steps"
echo "     build stage runs: $build_steps"
check "CI and the build stage run the same install and build scripts" test "$ci_steps" = "$build_steps"
check "which install the dependencies and build" test "$build_steps" = "bash scripts/install-deps.sh bash scripts/build.sh "

# The runtime stage's packages, from its apt-get install line(s).
listed=$(sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' <<<"$runtime_stage" | grep -o 'apt-get install[^&]*' |
  sed 's/apt-get install//' | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u)
echo "     runtime packages: $(tr '\n' ' ' <<<"$listed")"
check "the runtime stage lists packages" test -n "$listed"
# What apt pulls in with them (on this Debian 12 machine), and what every image has.
closure=$( (echo "$listed"; apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances $listed 2>/dev/null | sed -n 's/^ *\(Pre\)\?Depends: \([a-z0-9.+-]*\).*/\2/p';
  dpkg-query -W -f='${Package} ${Essential} ${Priority}\n' | awk '$2 == "yes" || $3 == "required" {print $1}') |
  sed 's/:.*//' | sort -u)

binaries=$(sed -n 's|^COPY --from=build /src/build/\([^ ]*\) .*|\1|p' <<<"$runtime_stage")
check "the runtime stage copies rampartd from the build stage" grep -qx rampartd <<<"$binaries"
pkg_of() {  # the package owning a library (dpkg knows it by one of its paths)
  { dpkg -S "$(readlink -f "$1")" || dpkg -S "$1" || dpkg -S "${1/#\/lib/\/usr\/lib}"; } 2>/dev/null | head -1 | cut -d: -f1
}
used=""
for b in $binaries; do
  bin=$build/$b
  check "$b is built" test -x "$bin"
  [ -x "$bin" ] || continue
  for lib in $(ldd "$bin" | awk '/=>/ {print $3}'); do
    p=$(pkg_of "$lib")
    check "$b: $(basename "$lib") ($p) is in the image" grep -qx "$p" <<<"$closure"
  done
  for soname in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    lib=$(ldd "$bin" | awk -v s="$soname" '$1 == s {print $3}')
    p=$(pkg_of "$lib")
    used+="$p"$'\n'
    check "$b links $soname directly: its package $p is listed" grep -qx "$p" <<<"$listed"
  done
done
for p in $listed; do
  check "listed package $p is linked by a binary" grep -qx "$p" <<<"$used"
done
check "the build tree is kept out of the build context" grep -qx build "$df.dockerignore"
check "the entrypoint is the copied rampartd" grep -q '^ENTRYPOINT \["/usr/sbin/rampartd"' <<<"$runtime_stage"
finish
