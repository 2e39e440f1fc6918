#!/bin/bash
# Runs a command inside another Debian root, on this host's kernel: a chroot
# in namespaces of its own. unshare gives it a mount namespace (every mount
# below goes with it), a network namespace (only loopback) and a PID
# namespace (whatever the command leaves running dies with it). The root is
# a writable overlay over LOWER, which is only read: the writes land in
# SCRATCH/upper, kept from one run to the next, as a machine keeps its disk.
#
#   unshare --mount --net --pid --fork --kill-child --propagation private -- \
#     bash chroot-root.sh SCRATCH LOWER [--bind SRC DEST]... [--bind-rw SRC DEST]... \
#     [--private-file FILE]... [--relay PORT SOCKET] [--cwd DIR] [--routes FILE] -- COMMAND [ARG]...
#
#   --bind, --bind-rw  a host folder or file at DEST inside the root (read-only,
#                      or writable); DEST is made in the overlay when missing
#   --private-file F   a private copy of the kernel setting F (under /proc/sys)
#                      for the root's /proc: writes land in SCRATCH/files
#   --relay PORT SOCK  the root's only way out: 127.0.0.1:PORT inside the
#                      namespace is relayed to the unix socket SOCK (a proxy
#                      the caller runs on this host), by this host's node
#   --cwd DIR          the command's working directory inside the root
#   --routes FILE      after COMMAND, the namespace's blackhole routes (ip -j)
#                      are written to FILE
#
# The root gets /proc (its own PID namespace's), /sys read-only, this host's
# /dev, a fresh /run and /tmp on SCRATCH/tmp. No resolv.conf: nothing inside
# resolves names; the proxy behind the relay does. The exit code is COMMAND's.
set -euo pipefail

scratch=${1:?usage: chroot-root.sh SCRATCH LOWER [options] -- COMMAND}
lower=${2:?usage: chroot-root.sh SCRATCH LOWER [options] -- COMMAND}
shift 2
root=$scratch/root
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

mkdir -p "$scratch/upper" "$scratch/work" "$root" "$scratch/tmp" "$scratch/files"
chmod 1777 "$scratch/tmp"
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$scratch/upper,workdir=$scratch/work" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs -o ro sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755 run "$root/run"
mount --bind "$scratch/tmp" "$root/tmp"

# A mount point for SRC at DEST inside the root: a folder for a folder, a file otherwise.
bind() {
  local src=$1 dest=$root$2 mode=$3
  if [ -d "$src" ]; then mkdir -p "$dest"; else mkdir -p "$(dirname "$dest")" && touch "$dest"; fi
  mount --bind "$src" "$dest"
  if [ "$mode" = ro ]; then mount -o remount,bind,ro "$dest"; fi
}

cwd=/
routes=""
relay_pid=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bind) bind "$2" "$3" ro; shift 3 ;;
    --bind-rw) bind "$2" "$3" rw; shift 3 ;;
    --private-file)
      name=$(printf '%s' "$2" | tr / _)
      [ -f "$scratch/files/$name" ] || cat "$2" > "$scratch/files/$name"
      mount --bind "$scratch/files/$name" "$root$2"
      shift 2 ;;
    --relay)
      ip link set lo up
      node "$here/relay.mjs" "$2" "$3" &
      relay_pid=$!
      for _ in $(seq 1 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && break
        sleep 0.1
      done
      shift 3 ;;
    --cwd) cwd=$2; shift 2 ;;
    --routes) routes=$2; shift 2 ;;
    --) shift; break ;;
    *) printf 'chroot-root.sh: unknown option %s\n' "$1" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { printf 'chroot-root.sh: no command\n' >&2; exit 2; }
ip link set lo up

status=0
chroot "$root" env -C "$cwd" "$@" || status=$?
if [ -n "$relay_pid" ]; then kill "$relay_pid" 2>/dev/null || true; fi
if [ -n "$routes" ]; then ip -j route show type blackhole > "$routes"; fi
exit "$status"
