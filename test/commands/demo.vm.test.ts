// natscope demo --auto, live, in the micro-VM (kprobes are locked down on
// the build machines): every step verified on the real lab, on each micro-VM
// stack (test/vm/stacks.ts); and, on the default stack only (it costs
// another walkthrough), a lab tampered with before the walkthrough makes the
// symptom step fail clearly.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ROOT } from '../helpers.js';
import { VM_ATTACH_TIMEOUT_MS } from '../../src/tracer/outcome.js';
import { CLI, natscope } from '../cli.js';
import { TmuxSession } from '../tmux.js';
import { STACK, STACK_LABEL } from '../vm/stacks.js';

const OUT = join(ROOT, 'test-output', 'vm', STACK);
mkdirSync(OUT, { recursive: true });

afterAll(async () => {
  await natscope(['lab', 'down', '--prefix', 'natscope-demo-']);
});

describe(`natscope demo in the micro-VM (${STACK_LABEL})`, () => {
  test('--auto --json: all ten steps verified on the live lab', async () => {
    const started = performance.now();
    const r = await natscope(['demo', '--auto', '--json', '--vm', 'on', '--record', join(OUT, 'walkthrough.jsonl')], {
      timeout: 600_000,
    });
    const wallS = (performance.now() - started) / 1000;
    writeFileSync(join(OUT, 'demo-timing.json'), `${JSON.stringify({ wallS })}\n`);
    const lines = String(r.stdout)
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const failed = lines
      .filter((l) => !l.ok)
      .map((l) => ({ step: l.step, claims: l.claims.filter((c: { ok: boolean }) => !c.ok) }));
    expect(failed).toEqual([]);
    // a walkthrough that stopped early says why on stderr
    expect(lines, String(r.stderr).slice(-3000)).toHaveLength(10);
    expect(r.exitCode).toBe(0);
  });

  // on the default stack only: it costs another walkthrough
  describe.runIf(STACK === 'debian12')('on a micro-VM lab that lab up left up', () => {
    const PREFIX = 'natscope-demo-';
    beforeAll(async () => {
      const up = await natscope(['lab', 'up', '--vm', 'on', '--masquerade-all', '--prefix', PREFIX], {
        timeout: 300_000,
      });
      expect(up.exitCode).toBe(0);
      // where the lab runs is said as it is
      expect(up.stdout).toContain(`lab: netns (micro-vm), prefix ${PREFIX}, up`);
    }, 300_000);

    test('masqueradeAll forced on before the walkthrough: the symptom step fails, saying mysql answered', async () => {
      const r = await natscope(['demo', '--auto', '--json', '--vm', 'on', '--prefix', PREFIX], {
        timeout: 600_000,
      });
      expect(r.exitCode).toBe(1);
      const lines = String(r.stdout)
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const symptom = lines.find((l) => l.step === 2);
      expect(symptom.ok).toBe(false);
      const claim = symptom.claims.find((c: { text: string }) => c.text.startsWith("mysql's ClusterIP hangs"));
      expect(claim).toMatchObject({ ok: false, saw: expect.stringMatching(/^answered in/) });
      // the lab was there before the walkthrough, so it is left up
      expect(lines.find((l) => l.step === 10).evidence.kept).toMatch(/stays up/);
    });

    test("trace --attach-timeout reaches the lab's agent: a bpftrace that has not attached by then is stopped", async () => {
      const r = await natscope(['trace', '--probes', 'drop', '--attach-timeout', '1', '--prefix', PREFIX], {
        timeout: 120_000,
      });
      expect(r.exitCode, String(r.stderr)).toBe(1);
      expect(String(r.stderr)).toContain('natscope: bpftrace did not attach its probes within 1 s');
      // the drop trace at the end of this block finds no tracer left running in the guest
    });

    test("demo --attach-timeout reaches the lab's agent too", async () => {
      const r = await natscope(
        ['demo', '--auto', '--json', '--vm', 'on', '--attach-timeout', '1', '--prefix', PREFIX],
        {
          timeout: 120_000,
        },
      );
      expect(r.exitCode, String(r.stderr)).toBe(1);
      expect(String(r.stderr)).toContain('natscope: bpftrace did not attach its probes within 1 s');
      // no step ran without its events
      expect(String(r.stdout)).toBe('');
      // the lab's agent is this natscope's own: nothing to warn of
      expect(String(r.stderr)).not.toContain('warning:');
    });

    test("tui --attach-timeout reaches the lab's agent too, and the error is printed once the terminal is back", async () => {
      const terminal = new TmuxSession('tui-attach');
      try {
        terminal.start(
          `env LANG=C.UTF-8 node '${CLI}' tui --vm on --attach-timeout 1 --prefix ${PREFIX}; echo "natscope exited $?"; sleep 120`,
          120,
          40,
        );
        const screen = await terminal.waitFor((s) => s.includes('natscope exited'), 'the TUI to end', 120_000);
        expect(screen).toContain('natscope: bpftrace did not attach its probes within 1 s');
        expect(screen).toContain('natscope exited 1');
      } finally {
        await terminal.close();
      }
    });

    test('trace --probes drop traces in the micro-VM where the lab is, not on this host', async () => {
      // the fix off again, so that mysql's replies die at the vpn
      const off = await natscope(['lab', 'set', 'masquerade-all', 'off', '--prefix', PREFIX]);
      expect(off.exitCode, String(off.stderr)).toBe(0);
      // attaching under emulation takes from 20 s on a quiet host to minutes on a busy one
      const trace = natscope(['trace', '--probes', 'drop', '--json', '--duration', '40', '--prefix', PREFIX], {
        timeout: VM_ATTACH_TIMEOUT_MS + 120_000,
      });
      let seen = '';
      trace.stderr?.on('data', (d: Buffer) => {
        seen += d.toString();
      });
      const attachBy = performance.now() + VM_ATTACH_TIMEOUT_MS;
      while (!/probes attached in/.test(seen) && trace.exitCode === null && performance.now() < attachBy)
        await new Promise((r) => setTimeout(r, 100));
      expect(seen).toMatch(/tracing drop on the lab natscope-demo- \(micro-vm\)/);
      const request = await natscope(['lab', 'request', 'mysql', '--timeout', '3', '--prefix', PREFIX]);
      expect(request.exitCode, String(request.stderr)).toBe(1);
      const r = await trace;
      expect(r.exitCode, String(r.stderr).slice(-3000)).toBe(0);
      const drops = String(r.stdout)
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((e) => e.kind === 'drop');
      // the SYN-ACK from the mysql pod, dropped by the vpn's INVALID rule, named by the lab
      expect(drops).toContainEqual(
        expect.objectContaining({
          host: 'vpn',
          reason: 'NETFILTER_DROP',
          packet: expect.objectContaining({ src: '10.244.2.2', sport: 3306, flags: ['SYN', 'ACK'] }),
        }),
      );
    });

    afterAll(async () => {
      const down = await natscope(['lab', 'down', '--prefix', PREFIX]);
      expect(down.stdout).toContain('the micro-VM lab');
    });
  });
});
