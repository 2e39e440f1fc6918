// trace --rules --events on this host (root): the nat and conntrack probes
// are kernel function probes, which this kernel locks down, so the command
// is refused before anything starts, with the micro-VM as the fix.

import { describe, expect, test } from 'vitest';
import { natscope } from '../cli.js';

describe('trace --rules --events where kernel function probes cannot attach', () => {
  test('is refused in one line, the fix bringing the lab up in the micro-VM', async () => {
    const r = await natscope(['trace', '--rules', '--request', 'mysql', '--events', '--prefix', 'natscope-trl-']);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toBe(
      "natscope: --events needs kernel function probes (nf_nat_setup_info), which this kernel does not let attach; the micro-VM's kernel does\n" +
        '  fix: sudo natscope lab down --prefix natscope-trl- && sudo natscope lab up --vm on --prefix natscope-trl- && sudo natscope trace --rules --request mysql --events --prefix natscope-trl-',
    );
    expect(r.stdout).toBe('');
  });
});
