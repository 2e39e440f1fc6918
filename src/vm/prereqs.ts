// What the micro-VM needs on the host, each with the package that provides it.

import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { cachedKernel } from './kernel.js';
import { BUSYBOX } from './initramfs.js';
import { QEMU, kvmUsable } from './qemu.js';

export interface VmCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

// OS packages the micro-VM needs (installed by natscope vm setup).
export const VM_PACKAGES = ['qemu-system-x86', 'busybox-static', 'kmod', 'xz-utils', 'util-linux'];

export function onPath(binary: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return null;
}

export async function vmPrerequisites(): Promise<{ ready: boolean; checks: VmCheck[] }> {
  const checks: VmCheck[] = [];
  const qemu = onPath(QEMU);
  checks.push({
    name: 'vm-qemu',
    ok: qemu !== null,
    detail: qemu ?? `${QEMU} not found`,
    fix: 'apt-get install --no-install-recommends qemu-system-x86',
  });
  const busybox = existsSync(BUSYBOX);
  checks.push({
    name: 'vm-busybox',
    ok: busybox,
    detail: busybox ? BUSYBOX : 'no static busybox',
    fix: 'apt-get install busybox-static',
  });
  const modprobe = onPath('modprobe') ?? (existsSync('/usr/sbin/modprobe') ? '/usr/sbin/modprobe' : null);
  checks.push({
    name: 'vm-kmod',
    ok: modprobe !== null,
    detail: modprobe ?? 'modprobe not found',
    fix: 'apt-get install kmod',
  });
  const xz = onPath('xz');
  checks.push({ name: 'vm-xz', ok: xz !== null, detail: xz ?? 'xz not found', fix: 'apt-get install xz-utils' });
  const setpriv = onPath('setpriv');
  checks.push({
    name: 'vm-setpriv',
    ok: setpriv !== null,
    detail: setpriv ?? 'setpriv not found',
    fix: 'apt-get install util-linux',
  });
  const kernel = await cachedKernel();
  checks.push({
    name: 'vm-kernel',
    ok: kernel !== null,
    detail: kernel ? `kernel ${kernel.version} cached` : 'no VM kernel cached yet',
    fix: "sudo natscope vm setup (downloads Debian's linux-image package, about 70 MB)",
  });
  const kvm = kvmUsable();
  checks.push({
    name: 'vm-accel',
    ok: true,
    detail: kvm ? 'KVM usable' : 'no usable KVM: software emulation (TCG), slower',
  });
  const ready = checks.filter((c) => c.name !== 'vm-kernel').every((c) => c.ok);
  // a missing kernel is fetched on first use, so only the tools decide readiness
  return { ready, checks };
}
