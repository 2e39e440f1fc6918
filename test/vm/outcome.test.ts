import { describe, expect, test } from 'vitest';
import { EXIT } from '../../src/errors.js';
import { bootGiveUpMs, bootStep, consoleExcerpt, kernelPanic, type VmEnding, vmVerdict } from '../../src/vm/outcome.js';
import { fixtureText } from '../helpers.js';

const ended: VmEnding = {
  killedFor: null,
  bootMs: 5200,
  timeoutMs: 60_000,
  rcText: '0\n',
  qemuStderr: '',
  qemuExit: { code: 0, signal: null, error: null },
  consoleTail: '[    5.1] natscope-vm login',
};

describe('how a micro-VM run ended', () => {
  test("the command's own exit code is the run's when the guest wrote it", () => {
    expect(vmVerdict(ended)).toEqual({ exitCode: 0, failure: null, detail: null, notStarted: null });
    expect(vmVerdict({ ...ended, rcText: '3\n' }).exitCode).toBe(3);
  });

  test('a guest that never booted times out with the console tail; one that booted says the command was too slow', () => {
    const noBoot = vmVerdict({ ...ended, killedFor: 'timeout', bootMs: null });
    expect(noBoot).toEqual({
      exitCode: EXIT.timeout,
      failure: 'timeout',
      detail: 'the VM did not boot within 60 s; console:\n[    5.1] natscope-vm login',
      notStarted: 'the VM did not boot within 60 s',
    });
    const slow = vmVerdict({ ...ended, killedFor: 'timeout', rcText: null });
    expect(slow.detail).toBe('the command did not finish within 60 s');
    expect(slow.exitCode).toBe(EXIT.timeout);
  });

  test('a stopped VM reports interrupted, whatever the guest wrote', () => {
    expect(vmVerdict({ ...ended, killedFor: 'stop', rcText: '0\n' })).toEqual({
      exitCode: EXIT.interrupted,
      failure: 'stopped',
      detail: 'stopped',
      notStarted: 'the VM was stopped',
    });
  });

  test("a VM that died without an exit code is explained by qemu's last line, else in general terms", () => {
    const died = vmVerdict({
      ...ended,
      rcText: null,
      qemuStderr: 'qemu-system-x86_64: warning: x\nqemu-system-x86_64: cannot set up guest memory\n',
    });
    expect(died.exitCode).toBe(EXIT.vmFailure);
    expect(died.failure).toBe('vm');
    expect(died.notStarted).toBe('qemu-system-x86_64: cannot set up guest memory');
    expect(died.detail).toBe('qemu-system-x86_64: cannot set up guest memory; console:\n[    5.1] natscope-vm login');
    const silent = vmVerdict({ ...ended, rcText: null, consoleTail: '' });
    expect(silent.detail).toBe(
      'the VM stopped before the command finished: the guest powered off or its kernel panicked (see the console)',
    );
    // written, but not an exit code: the command finished, its code cannot be read
    const garbled = vmVerdict({ ...ended, rcText: 'garbage\n', consoleTail: '' });
    expect(garbled.detail).toBe('the command\'s exit code file holds "garbage\\n", not a number');
  });

  test('a VM whose qemu said nothing is explained by how qemu ended, and whether the command had started', () => {
    const killed = vmVerdict({
      ...ended,
      rcText: null,
      qemuExit: { code: null, signal: 'SIGKILL', error: null },
      consoleTail: '',
    });
    const oom = "qemu was killed by SIGKILL, not by natscope (the kernel's OOM killer sends it: see dmesg)";
    expect(killed).toEqual({ exitCode: EXIT.vmFailure, failure: 'vm', detail: oom, notStarted: oom });
    const terminated = vmVerdict({ ...ended, rcText: null, qemuExit: { code: null, signal: 'SIGTERM', error: null } });
    expect(terminated.notStarted).toBe('qemu was killed by SIGTERM, not by natscope');
    const unstarted = vmVerdict({
      ...ended,
      rcText: null,
      bootMs: null,
      qemuExit: { code: null, signal: null, error: 'Command failed with ENOENT: setpriv' },
    });
    expect(unstarted.notStarted).toBe('qemu could not run: Command failed with ENOENT: setpriv');
    const neverStarted = vmVerdict({
      ...ended,
      rcText: null,
      bootMs: null,
      qemuExit: { code: 1, signal: null, error: null },
    });
    expect(neverStarted.notStarted).toBe('the VM stopped before the command started (qemu exit code 1)');
    expect(neverStarted.detail).toBe(
      'the VM stopped before the command started (qemu exit code 1); console:\n[    5.1] natscope-vm login',
    );
    // qemu's own last line still comes first when there is one
    const said = vmVerdict({
      ...ended,
      rcText: null,
      qemuStderr: 'qemu: oops\n',
      qemuExit: { code: null, signal: 'SIGTERM', error: null },
    });
    expect(said.notStarted).toBe('qemu: oops');
  });
});

describe('watching a guest boot', () => {
  test('a KVM guest is given up on after its boot timeout; software emulation is left to the overall timeout', () => {
    expect(bootGiveUpMs('kvm')).toBe(20_000);
    expect(bootGiveUpMs('kvm', 5000)).toBe(5000);
    expect(bootGiveUpMs('tcg', 5000)).toBe(Number.POSITIVE_INFINITY);
  });

  test('qemu exiting ends the watch first, then the started file, then the give-up time', () => {
    const look = { qemuExited: false, commandStarted: false, elapsedMs: 1000, giveUpMs: 20_000 };
    expect(bootStep(look)).toBe('booting');
    expect(bootStep({ ...look, commandStarted: true })).toBe('started');
    expect(bootStep({ ...look, qemuExited: true, commandStarted: true })).toBe('exited');
    expect(bootStep({ ...look, elapsedMs: 20_001 })).toBe('give-up');
    expect(bootStep({ ...look, elapsedMs: 20_001, commandStarted: true })).toBe('started');
    expect(bootStep({ ...look, elapsedMs: 1e9, giveUpMs: bootGiveUpMs('tcg') })).toBe('booting');
  });
});

describe("the guest console's excerpt in a failure report", () => {
  // a real guest panic (test/fixtures/vm/README.md): the cause is the second line, its stack trace the rest
  const panic = fixtureText('vm', 'console-sysrq-panic.txt');

  test("a panic's cause is kept above the last lines when it has scrolled out of them", () => {
    const lines = consoleExcerpt(panic).split('\n');
    expect(lines[0]).toMatch(/Kernel panic - not syncing: sysrq triggered crash$/);
    expect(lines[1]).toBe('…');
    expect(lines.slice(2)).toEqual(panic.trim().split('\r\n').slice(-15));
  });

  test('a console whose complaint is among its last lines, or that has none, is just its last lines', () => {
    // a serial console's lines end in CR LF; the excerpt's in LF
    const all = panic.trim().split('\r\n');
    expect(all.length).toBeGreaterThan(15);
    expect(consoleExcerpt(panic, all.length)).toBe(all.join('\n'));
    const calm = all.filter((l) => !/panic|Oops|BUG/.test(l)).join('\n');
    expect(consoleExcerpt(calm)).toBe(calm.split('\n').slice(-15).join('\n'));
    expect(consoleExcerpt('')).toBe('');
  });
});

describe("the guest kernel's panic, read from its console (a boot that panicked is tried again)", () => {
  test('the panic line of a real guest panic, without its timestamp and CR', () => {
    expect(kernelPanic(fixtureText('vm', 'console-sysrq-panic.txt'))).toBe(
      'Kernel panic - not syncing: sysrq triggered crash',
    );
  });

  test('a console without the panic line, or empty, has none; a long line is cut', () => {
    const calm = fixtureText('vm', 'console-sysrq-panic.txt')
      .split('\r\n')
      .filter((l) => !/Kernel panic/.test(l))
      .join('\r\n');
    expect(calm).toMatch(/sysrq: Trigger a crash/);
    expect(kernelPanic(calm)).toBeNull();
    expect(kernelPanic('')).toBeNull();
    expect(kernelPanic(`Kernel panic - not syncing: ${'x'.repeat(500)}`)).toHaveLength(200);
  });
});
