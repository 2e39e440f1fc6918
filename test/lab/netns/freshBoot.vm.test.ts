// The first `lab up` after a machine boots (root, in the micro-VM: a kernel
// booted for this test alone). Until some program adds a named network
// namespace, /run/netns does not exist; `ip netns add` makes it. The guest's
// init makes it too, so the test removes it first: the lab must come up
// from there, as it must on a host where nothing used `ip netns` since boot.

import { expect, test } from 'vitest';
import { CLI, natscope } from '../../cli.js';

test('lab up on a machine where no named namespace was ever added (no /run/netns): the lab comes up, and goes down without a trace', async () => {
  const node = process.execPath;
  const script = [
    'set -e',
    'rmdir /run/netns',
    'test ! -e /run/netns && echo "before: no /run/netns"',
    `"${node}" "${CLI}" lab up --vm off --prefix natscope-fb- >/dev/null`,
    `"${node}" "${CLI}" lab request pod/nginx --vm off --prefix natscope-fb- --timeout 5 >/dev/null && echo "request: answered"`,
    'echo "namespaces: $(ls /run/netns | grep -c "^natscope-fb-")"',
    `"${node}" "${CLI}" lab down --vm off --prefix natscope-fb- >/dev/null`,
    'echo "after: $(ls /run/netns | grep -c "^natscope-fb-" || true) namespaces"',
  ].join('\n');
  const r = await natscope(['vm', 'run', '-q', '--', 'sh', '-c', script], { timeout: 600_000 });
  // lab up's progress is on stderr; on a failure, so is the reason
  expect({ exitCode: r.exitCode, stderr: r.exitCode === 0 ? '' : r.stderr }).toEqual({ exitCode: 0, stderr: '' });
  expect(String(r.stdout).split('\n')).toEqual([
    'before: no /run/netns',
    'request: answered',
    'namespaces: 7',
    'after: 0 namespaces',
  ]);
});
