// What the micro-VM needs on the host, each with the package that provides it.

import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ARCHIVE_KEYRING } from './archive.js';
import { cachedKernel } from './kernel.js';
import { BUSYBOX } from './initramfs.js';
import { QEMU, kvmUsable } from './qemu.js';
import { cachedRootfs } from './rootfs.js';
import { STACK_INFO, type Stack, selectedStack } from './stack.js';

export interface VmCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

// OS packages the micro-VM needs (installed by natscope vm setup).
export const VM_PACKAGES = ['qemu-system-x86', 'busybox-static', 'kmod', 'xz-utils', 'util-linux'];
// and for a stack built from Debian's archive: its root filesystem
// (debootstrap), the archive's keys, its kernel's zstd payload
export const ARCHIVE_STACK_PACKAGES = ['debootstrap', 'debian-archive-keyring', 'zstd'];

export function vmPackages(stack: Stack): string[] {
  return STACK_INFO[stack].suite === null ? VM_PACKAGES : [...VM_PACKAGES, ...ARCHIVE_STACK_PACKAGES];
}

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

export async function vmPrerequisites(stack: Stack = selectedStack()): Promise<{ ready: boolean; checks: VmCheck[] }> {
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
  const setup = `sudo natscope vm setup${stack === 'debian12' ? '' : ` --stack ${stack}`}`;
  const kernel = await cachedKernel(stack);
  checks.push({
    name: 'vm-kernel',
    ok: kernel !== null,
    detail: kernel ? `${stack}: kernel ${kernel.version} cached` : `${stack}: no VM kernel cached yet`,
    fix: `${setup} (downloads Debian's linux-image package, about 70-110 MB)`,
  });
  if (STACK_INFO[stack].root === 'debootstrap') {
    const rootfs = await cachedRootfs(stack);
    const tools = ['debootstrap', 'zstd'].filter((t) => !onPath(t) && !existsSync(`/usr/sbin/${t}`));
    if (!existsSync(ARCHIVE_KEYRING)) tools.push('debian-archive-keyring');
    checks.push({
      name: 'vm-rootfs',
      ok: rootfs !== null,
      detail: rootfs
        ? `${stack}: root filesystem in ${rootfs}`
        : `${stack}: root filesystem not built yet${tools.length ? ` (needs ${tools.join(', ')})` : ''}`,
      fix: `${setup} (debootstrap, about a minute and 700 MB)`,
    });
  }
  const kvm = kvmUsable();
  checks.push({
    name: 'vm-accel',
    ok: true,
    detail: kvm ? 'KVM usable' : 'no usable KVM: software emulation (TCG), slower',
  });
  const ready = checks.filter((c) => c.name !== 'vm-kernel' && c.name !== 'vm-rootfs').every((c) => c.ok);
  // a missing kernel or root filesystem is fetched on first use, so only the tools decide readiness
  return { ready, checks };
}
