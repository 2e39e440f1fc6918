import { describe, expect, test } from 'vitest';
import { linkArgs, qemuArgs, qemuPath } from '../../src/vm/qemu.js';
import { guestScript } from '../../src/vm/guest.js';

const plan = {
  accel: 'tcg' as const,
  kernel: '/cache/vmlinux',
  initramfs: '/cache/initramfs.gz',
  modulesDir: '/cache/lib/modules/6.1.0-56-amd64',
  runDir: '/tmp/natscope-vm-x',
  consoleLog: '/tmp/natscope-vm-x/console.log',
  stderrSocket: '/tmp/natscope-vm-x/stderr.sock',
  root: '/',
  readOnlyShares: [] as string[],
  shares: ['/home/me/my, results'],
  memoryMb: 2048,
  cpus: 2,
};

describe('the qemu command line', () => {
  test('software emulation uses every vCPU thread; KVM passes the host CPU through', () => {
    expect(qemuArgs(plan).slice(0, 4)).toEqual(['-accel', 'tcg,thread=multi', '-cpu', 'max']);
    expect(qemuArgs({ ...plan, accel: 'kvm' }).slice(0, 4)).toEqual(['-accel', 'kvm', '-cpu', 'host']);
  });

  test('the host root is shared read-only; the run folder and shares read-write', () => {
    const args = qemuArgs(plan).join(' ');
    expect(args).toContain('local,id=root,path=/,security_model=none,readonly=on,multidevs=remap');
    expect(args).toContain('local,id=run,path=/tmp/natscope-vm-x,security_model=none,multidevs=remap');
    // a comma in a path is doubled, a space needs nothing (arguments are an array)
    expect(args).toContain('local,id=share0,path=/home/me/my,, results,security_model=none,multidevs=remap');
  });

  test("a stack's own root filesystem is the guest's root, natscope's checkout a read-only share", () => {
    const args = qemuArgs({ ...plan, root: '/cache/debian13/rootfs', readOnlyShares: ['/src/natscope'] }).join(' ');
    expect(args).toContain('local,id=root,path=/cache/debian13/rootfs,security_model=none,readonly=on,multidevs=remap');
    expect(args).toContain('local,id=roshare0,path=/src/natscope,security_model=none,readonly=on,multidevs=remap');
    expect(args).toContain('virtio-9p-pci,fsdev=roshare0,mount_tag=roshare0');
    // the guest mounts the read-only shares first: a read-write share may lie inside one
    const g = guestScript();
    expect(g.indexOf('roshare$i')).toBeGreaterThan(0);
    expect(g.indexOf('roshare$i')).toBeLessThan(g.indexOf('"share$i"'));
  });

  test('three serial ports: console to a file, the command on stdio, its stderr to a socket', () => {
    const args = qemuArgs(plan);
    expect(args.filter((a) => a.startsWith('chardev:'))).toEqual(['chardev:console', 'chardev:io', 'chardev:err']);
    expect(args).toContain('stdio,id=io,signal=off');
    expect(qemuPath('a,b')).toBe('a,,b');
  });
});

describe('the trace ports', () => {
  test('each port is a named virtserialport on one virtio-serial bus, bridged to its socket', () => {
    const args = qemuArgs({
      ...plan,
      ports: [
        { name: 'natscope.out', socket: '/tmp/natscope-vm-x/natscope.out.sock' },
        { name: 'natscope.err', socket: '/tmp/natscope-vm-x/natscope.err.sock' },
      ],
    });
    const text = args.join(' ');
    expect(args.filter((a) => a === 'virtio-serial-pci,id=vser')).toHaveLength(1);
    expect(text).toContain('socket,id=vport0,path=/tmp/natscope-vm-x/natscope.out.sock');
    expect(text).toContain('virtserialport,bus=vser.0,chardev=vport0,name=natscope.out');
    expect(text).toContain('virtserialport,bus=vser.0,chardev=vport1,name=natscope.err');
  });

  test('without ports, no virtio-serial device is added', () => {
    expect(qemuArgs(plan).join(' ')).not.toContain('virtio-serial');
  });

  test('the guest links the ports by name only when the run asks for ports', () => {
    const g = guestScript();
    expect(g).toMatch(/if \[ -s "\$R\/ports" \]; then\n\s+modprobe virtio_console/);
    expect(g).toContain(`ln -sfn "/dev/\${p##*/}" "/dev/virtio-ports/$name"`);
  });
});

describe('a link to another micro-VM', () => {
  const link = { local: '/tmp/t/link/node1.sock', remote: '/tmp/t/link/node2.sock', mac: '52:54:00:00:00:01' };

  test('frames go as datagrams between two Unix sockets, to a virtio-net device with its MAC address', () => {
    const text = qemuArgs({ ...plan, link }).join(' ');
    expect(text).toContain(
      '-netdev dgram,id=link,local.type=unix,local.path=/tmp/t/link/node1.sock,remote.type=unix,remote.path=/tmp/t/link/node2.sock',
    );
    expect(text).toContain('-device virtio-net-pci,netdev=link,mac=52:54:00:00:00:01');
  });

  test('without a link the VM has no network device (and -nodefaults gives it none)', () => {
    const args = qemuArgs(plan);
    expect(args).toContain('-nodefaults');
    expect(args.join(' ')).not.toMatch(/netdev|virtio-net|-nic/);
  });

  test("a comma in a socket's path is doubled; a MAC address that is not six hex pairs is refused", () => {
    expect(linkArgs({ ...link, local: '/tmp/a,b/n.sock' })[1]).toContain('local.path=/tmp/a,,b/n.sock,');
    expect(() => linkArgs({ ...link, mac: '52:54:00:00:00:01,id=x' })).toThrow(/is not six hex pairs/);
    expect(() => linkArgs({ ...link, mac: '52:54:00:00:00' })).toThrow(/is not six hex pairs/);
  });

  test("the guest loads the virtio-net driver when the run folder's link flag is set (empty without a link: guest.test.ts)", () => {
    expect(guestScript()).toContain('[ -s "$R/link" ] && modprobe virtio_net');
  });
});
