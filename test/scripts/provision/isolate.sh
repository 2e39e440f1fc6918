#!/bin/bash
# Runs a command as if on a machine of its own, on this one: unshare gives
# it a mount namespace and a network namespace (only loopback: no network
# at all), this script overlays the folders it writes to (the writes land
# in SCRATCH/upper, where the test reads them), binds read-only what it
# reads, and binds private copies over the kernel settings it changes.
# Nothing the command does reaches this host's files, routes or settings;
# the mount points given to --bind must exist (the test makes them).
#
#   unshare --mount --net --propagation private -- bash isolate.sh SCRATCH \
#     [--overlay DIR]... [--bind SRC DEST]... [--private-file FILE]... \
#     [--useradd NAME] -- COMMAND [ARG]...
#
# After COMMAND, the namespace's blackhole routes are written to
# SCRATCH/blackhole-routes.json (ip -j); the exit code is COMMAND's.
set -euo pipefail

scratch=${1:?usage: isolate.sh SCRATCH [options] -- COMMAND}
shift
key() { printf '%s' "$1" | tr / _; }
while [ $# -gt 0 ]; do
  case "$1" in
    --overlay)
      name=$(key "$2")
      mkdir -p "$scratch/upper/$name" "$scratch/work/$name"
      mount -t overlay overlay -o "lowerdir=$2,upperdir=$scratch/upper/$name,workdir=$scratch/work/$name" "$2"
      shift 2 ;;
    --bind)
      mount --bind "$2" "$3"
      mount -o remount,bind,ro "$3"
      shift 3 ;;
    --private-file)
      name=$(key "$2")
      mkdir -p "$scratch/files"
      [ -f "$scratch/files/$name" ] || cat "$2" > "$scratch/files/$name"
      mount --bind "$scratch/files/$name" "$2"
      shift 2 ;;
    --useradd)
      id "$2" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$2"
      shift 2 ;;
    --) shift; break ;;
    *) printf 'isolate.sh: unknown option %s\n' "$1" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { printf 'isolate.sh: no command\n' >&2; exit 2; }
ip link set lo up

status=0
"$@" || status=$?
ip -j route show type blackhole > "$scratch/blackhole-routes.json"
exit "$status"
