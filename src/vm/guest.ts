// What the micro-VM's guest is handed, as data: the script its init runs,
// and the files of the run folder that carry the command, its environment,
// working folder and shares. Lists are NUL-separated: any byte but NUL
// survives, so no argument needs shell quoting.

import { GUEST_RUN_DIR, GUEST_SCRIPT } from './initramfs.js';

// A root filesystem of the stack's own has its own Node.js, where this host's may live elsewhere.
export const GUEST_NODE = '/usr/bin/node';

export function guestScript(): string {
  const R = GUEST_RUN_DIR;
  return `#!/bin/bash
# natscope micro-VM: runs the requested command as root, then powers off.
R=${R}
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tracefs nodev /sys/kernel/tracing
mount -t debugfs nodev /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 none /sys/fs/cgroup
mkdir -p /run/netns /run/lock
hostname natscope-vm
ip link set lo up
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo
# virtio-serial ports by name (src/vm/ports.ts): no udev here to link them
if [ -s "$R/ports" ]; then
  modprobe virtio_console
  mkdir -p /dev/virtio-ports
  while IFS= read -r -d '' name; do
    for _ in $(seq 100); do
      for p in /sys/class/virtio-ports/vport*; do
        [ "$(cat "$p/name" 2>/dev/null)" = "$name" ] && ln -sfn "/dev/\${p##*/}" "/dev/virtio-ports/$name"
      done
      [ -e "/dev/virtio-ports/$name" ] && break
      sleep 0.05
    done
  done < "$R/ports"
fi
# a link to another micro-VM (src/vm/qemu.ts): its driver, so the command finds eth0
[ -s "$R/link" ] && modprobe virtio_net
i=0
while IFS= read -r -d '' dir; do
  mkdir -p "$dir" && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose "roshare$i" "$dir"
  i=$((i + 1))
done < "$R/roshares"
i=0
while IFS= read -r -d '' dir; do
  mkdir -p "$dir" && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 "share$i" "$dir"
  i=$((i + 1))
done < "$R/shares"
while IFS= read -r -d '' kv; do export "$kv"; done < "$R/env"
cd "$(cat "$R/cwd")" 2>/dev/null || cd /
mapfile -d '' -t ARGV < "$R/argv"
: > "$R/started"
"\${ARGV[@]}" < /dev/ttyS1 > /dev/ttyS1 2> /dev/ttyS2
echo $? > "$R/rc"
sync
echo o > /proc/sysrq-trigger
sleep 10
`;
}

const BASE_ENV: Record<string, string> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  TERM: 'dumb',
  LANG: 'C.UTF-8',
  NATSCOPE_IN_VM: '1',
};

export interface GuestRequest {
  argv: string[];
  // the guest's root is the stack's own, not this host's
  ownRoot: boolean;
  // this Node.js (process.execPath): natscope starting itself
  execPath: string;
  // this process's environment (natscope's own settings are passed on)
  hostEnv: NodeJS.ProcessEnv;
  env: Record<string, string>;
  cwd: string;
  shares: string[];
  readOnlyShares: string[];
  // virtio-serial port names to link under /dev/virtio-ports
  ports?: string[];
  // a network link to another micro-VM is plugged in
  link?: boolean;
}

function nulList(items: string[]): string {
  return items.map((s) => `${s}\0`).join('');
}

// natscope starting itself in the guest: under a root of the stack's own, with that root's Node.js.
export function guestArgv(argv: string[], ownRoot: boolean, execPath: string): string[] {
  return ownRoot && argv[0] === execPath ? [GUEST_NODE, ...argv.slice(1)] : argv;
}

// natscope's own settings (NATSCOPE_DEBUG, NATSCOPE_QUIET, …) reach the guest too, but not its
// cache folder (the host's); the base environment comes next, the caller's last (it wins).
export function guestEnv(hostEnv: NodeJS.ProcessEnv, env: Record<string, string>): Record<string, string> {
  const own: Record<string, string> = {};
  for (const [k, v] of Object.entries(hostEnv)) {
    if (k.startsWith('NATSCOPE_') && v !== undefined && k !== 'NATSCOPE_CACHE') own[k] = v;
  }
  return { ...own, ...BASE_ENV, ...env };
}

// The run folder's files, by name: the script and what it reads.
export function guestFiles(request: GuestRequest): Record<string, string> {
  const env = guestEnv(request.hostEnv, request.env);
  return {
    [GUEST_SCRIPT]: guestScript(),
    argv: nulList(guestArgv(request.argv, request.ownRoot, request.execPath)),
    env: nulList(Object.entries(env).map(([k, v]) => `${k}=${v}`)),
    cwd: request.cwd,
    shares: nulList(request.shares),
    roshares: nulList(request.readOnlyShares),
    ports: nulList(request.ports ?? []),
    link: request.link ? '1' : '',
  };
}
