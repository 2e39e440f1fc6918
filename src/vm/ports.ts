// The micro-VM's virtio-serial ports: fixed names, where the guest finds
// them and where natscope listens for them on the host. A port carries a
// guest program's raw output to the host at the cost of one virtqueue
// buffer per write (the serial ports trap on every byte: ~170 KB/s).

import { join } from 'node:path';

// bpftrace's stdout and stderr, as src/vm/portFrames.ts frames them
export const TRACE_PORTS = { out: 'natscope.out', err: 'natscope.err' } as const;
export type PortName = (typeof TRACE_PORTS)[keyof typeof TRACE_PORTS];

// Where the guest script links each port by name (there is no udev in the guest).
export function guestPortPath(name: PortName): string {
  return `/dev/virtio-ports/${name}`;
}

// The Unix socket in the run folder that qemu connects the port to.
export function hostPortSocket(runDir: string, name: PortName): string {
  return join(runDir, `${name}.sock`);
}
