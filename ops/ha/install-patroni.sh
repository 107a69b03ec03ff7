#!/usr/bin/env bash
# Installs the Patroni the cluster runs, pinned, and prints the path of its launcher.
#
# Why not Debian 12's `patroni` package: it is 3.0.2, whose etcd3 leader update does not check who
# holds the key (fixed upstream in Patroni pull request 2689, released in 3.0.3). A leader paused
# past its key's `ttl` (SIGSTOP, a VM freeze, a long GC-like stall of its Patroni) wakes up, writes
# the leader key over its successor's, and the successor is rewound onto the old timeline with
# every write it acknowledged meanwhile: issue 71 measured 717-1,969 acknowledged writes lost.
# The Python package index is not reachable from this project's machines; Debian 13's package of
# a current release is (the same archive that serves Debian 12's packages). Patroni is pure
# Python: its package is unpacked into a folder of its own (nothing installed system-wide is
# replaced) and run with Debian 12's python3 and Debian 12's packages of its dependencies.
#
#   ops/ha/install-patroni.sh            install (once; verified by SHA-256) and print the launcher
#   PATRONI_HOME=DIR ops/ha/install-patroni.sh   install under DIR (default: /opt/parametric-cover as
#                                                root, where the postgres user can run it; else
#                                                ~/.cache/parametric-cover)
#
# Used by ops/ha/local-cluster.sh, ops/ha/Dockerfile (compose's `ha` profile) and .ci/run.
set -euo pipefail

VERSION=4.0.7-3~deb13u1
SHA256=b8a6d276d3adb0c9b8a6d6198575c6081134bd2038b4780d08a6c34375972931
URL="http://deb.debian.org/debian/pool/main/p/patroni/patroni_${VERSION}_all.deb"
# Patroni's run-time dependencies, from Debian 12 (what Debian 13's package depends on, less the
# optional DCS clients other than etcd's and patronictl's diff viewer).
DEPS=(python3 python3-cdiff python3-psycopg2 python3-etcd python3-yaml python3-urllib3 python3-dateutil python3-psutil python3-prettytable python3-click curl ca-certificates)

if [ "$(id -u)" = 0 ]; then default_home=/opt/parametric-cover; else default_home=${XDG_CACHE_HOME:-$HOME/.cache}/parametric-cover; fi
home=${PATRONI_HOME:-$default_home}/patroni-${VERSION//\~/-}
launcher="$home/bin/patroni"

missing=()
for p in "${DEPS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "install-patroni: as root, or apt-get install ${missing[*]}" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$launcher" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  curl -fsSL --retry 3 -o "$tmp/patroni.deb" "$URL"
  echo "$SHA256  $tmp/patroni.deb" | sha256sum -c --quiet - || { echo "install-patroni: $URL does not match its pinned SHA-256" >&2; exit 1; }
  dpkg-deb -x "$tmp/patroni.deb" "$tmp/root"
  mkdir -p "$home/bin"
  rm -rf "$home/lib"
  mv "$tmp/root/usr/lib/python3/dist-packages" "$home/lib"
  # One change to Patroni's own code: its floor on the timing settings. Since 3.1 it raises `ttl`
  # to at least 20 s and `retry_timeout` to 3 s and shortens `loop_wait` until
  # loop_wait + 2 x retry_timeout <= ttl, which would hold writes back 20 s after a leader's loss
  # where ops/ha/patroni.yml's ttl 4 brings them back in under 5 (issue 60). The floors become
  # ttl 4 and retry_timeout 2 and the rule loop_wait + retry_timeout < ttl: a leader that cannot
  # renew its key still stops being primary before the key expires (docs/operations.md, "High
  # availability"), and a paused or hung leader cannot take the key back (the 3.0.3 fix this
  # release carries). Each replacement must match exactly once, or the install stops.
  /usr/bin/python3 - "$home/lib/patroni/config.py" <<'PATCH'
import sys
path = sys.argv[1]
text = open(path).read()
edits = [
    ("retry_timeout = self. __get_and_maybe_adjust_int_value(config, 'retry_timeout', 3)",
     "retry_timeout = self. __get_and_maybe_adjust_int_value(config, 'retry_timeout', 2)"),
    ("ttl = self. __get_and_maybe_adjust_int_value(config, 'ttl', 20)",
     "ttl = self. __get_and_maybe_adjust_int_value(config, 'ttl', 4)"),
    ("if min_loop_wait + 2 * retry_timeout > ttl:", "if min_loop_wait + retry_timeout >= ttl:"),
    ("config['retry_timeout'] = (ttl - min_loop_wait) // 2", "config['retry_timeout'] = ttl - min_loop_wait - 1"),
    ("elif loop_wait + 2 * retry_timeout > ttl:", "elif loop_wait + retry_timeout >= ttl:"),
    ("config['loop_wait'] = ttl - 2 * retry_timeout", "config['loop_wait'] = ttl - retry_timeout - 1"),
]
for old, new in edits:
    if text.count(old) != 1:
        sys.exit(f'install-patroni: cannot patch {path}: {old!r} found {text.count(old)} times')
    text = text.replace(old, new)
open(path, 'w').write(text)
PATCH
  # Debian 12's interpreter, not whichever python3 is first on PATH: the dependencies are its packages.
  printf '#!/bin/sh\nPYTHONPATH=%s exec /usr/bin/python3 -m patroni "$@"\n' "$home/lib" >"$home/bin/patroni"
  printf '#!/bin/sh\nPYTHONPATH=%s exec /usr/bin/python3 -c "import sys; sys.argv[0] = \x27patronictl\x27; from patroni.ctl import ctl; ctl()" "$@"\n' "$home/lib" >"$home/bin/patronictl"
  chmod 755 "$home/bin/patroni" "$home/bin/patronictl"
  chmod -R a+rX "$home"
fi
got=$("$launcher" --version 2>&1)
case "$got" in
*"${VERSION%%-*}"*) ;;
*)
  echo "install-patroni: $launcher says '$got', expected ${VERSION%%-*}" >&2
  exit 1
  ;;
esac
echo "$launcher"
