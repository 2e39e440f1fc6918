import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { cliEntry } from '../../src/util/paths.js';
import { agentArgs } from '../../src/agent/microVm.js';
import { NODE_FLAGS } from '../../src/util/runtime.js';
import { ROOT } from '../helpers.js';

describe("natscope's Node.js flags", () => {
  test('every npm script that runs natscope or its bench passes them', () => {
    const { scripts } = z
      .object({ scripts: z.record(z.string(), z.string()) })
      .parse(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')));
    const runsNode = Object.entries(scripts).filter(([, command]) => /\bnode .*dist\//.test(command));
    expect(runsNode.map(([name]) => name)).toEqual(expect.arrayContaining(['demo', 'bench']));
    for (const [name, command] of runsNode)
      for (const flag of NODE_FLAGS) expect(command, `npm script ${name}`).toContain(flag);
  });

  test("the CLI's shebang passes them, and runs", async () => {
    const shebang = readFileSync(join(ROOT, 'src', 'main.ts'), 'utf8').split('\n')[0]!;
    expect(shebang).toBe(`#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
    // the compiled entry, run through its shebang as /usr/local/bin/natscope is
    const r = await execa(cliEntry(), ['--version'], { reject: false });
    expect(r.exitCode).toBe(0);
    expect(String(r.stdout)).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('the agent natscope starts (natively or in the micro-VM) gets them', () => {
    const argv = agentArgs({ prefix: 'natscope-' });
    expect(argv.slice(0, NODE_FLAGS.length + 2)).toEqual([process.execPath, ...NODE_FLAGS, cliEntry()]);
    expect(argv.slice(NODE_FLAGS.length + 2, NODE_FLAGS.length + 4)).toEqual(['agent', '--stdio']);
  });
});
