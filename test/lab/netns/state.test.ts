import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { parseState, readState, removeState, writeState, type LabState } from '../../../src/lab/netns/state.js';
import { labNamespaces } from '../../../src/lab/netns/topology.js';
import { asNatscopeError, tempDirForTest } from '../../helpers.js';

const PREFIX = 'natscope-';
const GOOD: LabState = {
  version: 1,
  backend: 'netns',
  prefix: PREFIX,
  namespaces: labNamespaces(PREFIX),
  complete: true,
  kubeProxy: { mode: 'iptables', masqueradeAll: false, clusterCIDR: '10.244.0.0/16' },
  iptables: 'nft',
  createdAt: '2026-12-05T09:40:00.000Z',
};

const parse = (value: unknown) => parseState(JSON.stringify(value), PREFIX, '/run/natscope/natscope-lab.json');

describe('reading the netns lab state strictly', () => {
  test('what writeState writes reads back the same', () => {
    expect(parse(GOOD)).toEqual(GOOD);
    expect(parse({ ...GOOD, kubeProxy: { ...GOOD.kubeProxy, clusterCIDR: null } }).kubeProxy.clusterCIDR).toBeNull();
  });

  test.each([
    [
      'a namespace outside the prefix',
      { ...GOOD, namespaces: [...labNamespaces(PREFIX).slice(0, 6), 'production'] },
      'namespaces[6] is not natscope-pod-mysql',
    ],
    [
      'one namespace more',
      { ...GOOD, namespaces: [...labNamespaces(PREFIX), 'natscope-extra'] },
      "namespaces is not the lab's 7 namespaces",
    ],
    ['another prefix', { ...GOOD, prefix: 'other-' }, 'it is for prefix "other-", not "natscope-"'],
    ['an unknown field', { ...GOOD, run: 'rm -rf /' }, 'unexpected field "run"'],
    [
      'a cluster CIDR with a leading zero',
      { ...GOOD, kubeProxy: { ...GOOD.kubeProxy, clusterCIDR: '010.244.0.0/16' } },
      'kubeProxy.clusterCIDR is neither null nor a CIDR natscope accepts',
    ],
    [
      'masqueradeAll as a string',
      { ...GOOD, kubeProxy: { ...GOOD.kubeProxy, masqueradeAll: 'yes' } },
      'kubeProxy.masqueradeAll is not true or false',
    ],
    ['an unknown iptables backend', { ...GOOD, iptables: 'ipvs' }, 'iptables is not "nft" or "legacy"'],
    ['a kind state', { ...GOOD, backend: 'kind' }, 'backend is not "netns"'],
    ['an array', [GOOD], 'it is not a JSON object'],
    ['null', null, 'it is not a JSON object'],
  ])('a forged state (%s) is refused, saying what is wrong and how to go on', (_what, value, why) => {
    expect(() => parse(value)).toThrow(
      `the lab state /run/natscope/natscope-lab.json is not one natscope wrote: ${why}`,
    );
    try {
      parse(value);
    } catch (error) {
      expect(asNatscopeError(error).hint).toBe(
        "remove it (rm /run/natscope/natscope-lab.json); natscope lab down then finds the lab's namespaces by natscope's mark",
      );
    }
  });

  test('a state that is not JSON is refused', () => {
    expect(() => parseState('{"version":1,', PREFIX, 'x')).toThrow(
      'the lab state x is not one natscope wrote: it is not JSON',
    );
  });
});

describe('removing the lab state', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  // `lab up` killed between the state's temp file and its rename, then `lab down`
  test("takes the temp files of writers that were killed with it, and keeps another lab's state", async () => {
    const dir = tempDirForTest('natscope-state-');
    vi.stubEnv('NATSCOPE_STATE_DIR', dir);
    await writeState(GOOD);
    await writeState({ ...GOOD, prefix: 'other-', namespaces: labNamespaces('other-') });
    const killed = spawnSync('true').pid!;
    writeFileSync(join(dir, `.natscope-lab.json.${killed}.0a1b2c.tmp`), '{"version":1');
    await removeState(PREFIX);
    expect(await readState(PREFIX)).toBeNull();
    expect(readdirSync(dir)).toEqual(['other-lab.json']);
  });
});
