// qemu's command line for the micro-VM, and the choice of accelerator:
// KVM only when /dev/kvm is really usable (writable, and the CPU flags say
// hardware virtualisation); software emulation (TCG) otherwise.

import { accessSync, constants, readFileSync } from 'node:fs';
import { EXIT, NatscopeError } from '../errors.js';
import { TAGS } from './initramfs.js';

export const QEMU = 'qemu-system-x86_64';

export type Accel = 'kvm' | 'tcg';

export function kvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return /\b(vmx|svm)\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

export function chooseAccel(): Accel {
  const forced = process.env.NATSCOPE_VM_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  if (forced !== undefined && forced !== '')
    throw new NatscopeError(`NATSCOPE_VM_ACCEL=${JSON.stringify(forced)} is not an accelerator natscope knows`, {
      hint: 'set it to kvm or tcg, or unset it to let natscope choose',
      exitCode: EXIT.usage,
    });
  return kvmUsable() ? 'kvm' : 'tcg';
}

// qemu option values are comma-separated: a comma inside a path is doubled.
export function qemuPath(path: string): string {
  return path.replaceAll(',', ',,');
}

export interface QemuPlan {
  accel: Accel;
  kernel: string;
  initramfs: string;
  modulesDir: string;
  runDir: string;
  consoleLog: string;
  stderrSocket: string;
  // the guest's root filesystem: this host's (/) or the stack's own
  root: string;
  // host folders shown read-only at the same path (natscope's checkout, under a root of the stack's own)
  readOnlyShares: string[];
  shares: string[];
  memoryMb: number;
  cpus: number;
  // virtio-serial ports, each bridged to a Unix socket natscope listens on (src/vm/ports.ts)
  ports?: { name: string; socket: string }[];
  link?: VmLink;
}

// A network link to another micro-VM: Ethernet frames as datagrams between
// two Unix sockets, this VM's (`local`, qemu creates it) and the other's
// (`remote`): no bridge, no tap, nothing in the host's network namespace.
// Frames sent before the other VM is up are lost, as on an unplugged cable.
// The guest sees a virtio-net device with this MAC address. (The dgram
// netdev is QEMU 7.2's, Debian 12's; older ones refuse the option.)
export interface VmLink {
  local: string;
  remote: string;
  mac: string;
}

export function linkArgs(link: VmLink | undefined): string[] {
  if (!link) return [];
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(link.mac))
    throw new NatscopeError(`the link's MAC address ${JSON.stringify(link.mac)} is not six hex pairs`, {
      hint: 'give it as 52:54:00:00:00:01 (lower case)',
      exitCode: EXIT.usage,
    });
  return [
    '-netdev',
    `dgram,id=link,local.type=unix,local.path=${qemuPath(link.local)},remote.type=unix,remote.path=${qemuPath(link.remote)}`,
    '-device',
    `virtio-net-pci,netdev=link,mac=${link.mac}`,
  ];
}

// A virtio-serial port per entry: the guest sees /dev/vportNpM named `name`;
// qemu connects each to its socket. A port costs the guest one virtqueue
// buffer per write, where a serial port (ttyS*) traps on every byte.
export function portArgs(ports: { name: string; socket: string }[]): string[] {
  if (ports.length === 0) return [];
  return [
    '-device',
    'virtio-serial-pci,id=vser',
    ...ports.flatMap((port, i) => [
      '-chardev',
      `socket,id=vport${i},path=${qemuPath(port.socket)}`,
      '-device',
      `virtserialport,bus=vser.0,chardev=vport${i},name=${port.name}`,
    ]),
  ];
}

export function qemuArgs(plan: QemuPlan): string[] {
  const accel =
    plan.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max'];
  const share = (id: string, path: string, tag: string, readonly: boolean) => [
    '-fsdev',
    `local,id=${id},path=${qemuPath(path)},security_model=none${readonly ? ',readonly=on' : ''},multidevs=remap`,
    '-device',
    `virtio-9p-pci,fsdev=${id},mount_tag=${tag}`,
  ];
  return [
    ...accel,
    '-m',
    String(plan.memoryMb),
    '-smp',
    String(plan.cpus),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-monitor',
    'none',
    '-no-reboot',
    '-kernel',
    plan.kernel,
    '-initrd',
    plan.initramfs,
    '-append',
    'console=ttyS0 rdinit=/init panic=-1 quiet mitigations=off nokaslr i8042.noaux i8042.nokbd random.trust_cpu=on',
    ...share('root', plan.root, TAGS.root, true),
    ...share('kmods', plan.modulesDir, TAGS.modules, true),
    ...share('run', plan.runDir, TAGS.run, false),
    ...plan.readOnlyShares.flatMap((dir, i) => share(`roshare${i}`, dir, `roshare${i}`, true)),
    ...plan.shares.flatMap((dir, i) => share(`share${i}`, dir, `share${i}`, false)),
    // ttyS0: kernel console (kept for the failure report)
    '-chardev',
    `file,id=console,path=${qemuPath(plan.consoleLog)}`,
    '-serial',
    'chardev:console',
    // ttyS1: the command's stdin and stdout, on qemu's own stdio
    '-chardev',
    'stdio,id=io,signal=off',
    '-serial',
    'chardev:io',
    // ttyS2: the command's stderr, to a socket natscope listens on
    '-chardev',
    `socket,id=err,path=${qemuPath(plan.stderrSocket)}`,
    '-serial',
    'chardev:err',
    ...portArgs(plan.ports ?? []),
    ...linkArgs(plan.link),
  ];
}
