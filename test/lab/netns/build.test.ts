import { mkdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, test } from 'vitest';
import { namespacesMounted } from '../../../src/lab/netns/build.js';
import { tempDirForTest } from '../../helpers.js';

// A name in the folder that stands on another device than the folder, as a
// mounted namespace does: a symlink to this process's own namespace (nsfs),
// which stat follows.
function mountLike(dir: string, name: string): void {
  symlinkSync('/proc/self/ns/net', join(dir, name));
}

test('waits for the namespaces folder itself when no namespace was added since boot (ip makes it), then for each name', async () => {
  const dir = join(tempDirForTest('natscope-netnsdir-'), 'netns');
  let settled: 'resolved' | Error | null = null;
  const waiting = namespacesMounted(['a', 'b'], new AbortController().signal, dir).then(
    () => {
      settled = 'resolved';
    },
    (error: Error) => {
      settled = error;
    },
  );
  await sleep(30);
  expect(settled).toBeNull();
  mkdirSync(dir);
  mountLike(dir, 'a');
  writeFileSync(join(dir, 'b'), '');
  await sleep(30);
  // a name that is still a plain file (ip has created it, not yet mounted the namespace on it) is not there yet
  expect(settled).toBeNull();
  unlinkSync(join(dir, 'b'));
  mountLike(dir, 'b');
  await waiting;
  expect(settled).toBe('resolved');
});

test('stops waiting when told to (ip failed: the namespaces will never be there)', async () => {
  const dir = tempDirForTest('natscope-netnsdir-');
  const stop = new AbortController();
  let settled = false;
  const waiting = namespacesMounted(['never'], stop.signal, dir).then(() => {
    settled = true;
  });
  await sleep(30);
  expect(settled).toBe(false);
  stop.abort();
  await waiting;
  expect(settled).toBe(true);
});
