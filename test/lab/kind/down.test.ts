// `lab down --lab kind` removes what natscope created, and only that.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { imageTag } from '../../../src/lab/kind/image.js';
import { kindDown } from '../../../src/lab/kind/lab.js';
import { labIsUp, useFakes, type Fakes } from './fakes.js';

let f: Fakes;
afterEach(() => f.restore());

const destructive = (lines: string[]) => lines.filter((l) => /^docker (rm|network rm|image rm)|^kind delete/.test(l));

describe('lab down --lab kind', () => {
  test('removes the office and vpn containers, the office network, the cluster natscope created, the image and its files', async () => {
    f = useFakes();
    const image = await imageTag();
    await labIsUp(f, image, 'unused');
    const w = f.world();
    f.update({
      clusters: ['dev', 'natscope'],
      containers: {
        ...w.containers,
        'someone-else': { id: 'e'.repeat(64), running: true, pid: 1, labels: {}, networks: { bridge: '172.17.0.2' } },
      },
    });
    const removed = await kindDown({ prefix: 'natscope-', log: () => undefined });
    expect(removed).toEqual([
      'container natscope-vpn',
      'container natscope-office',
      'network natscope-office',
      'kind cluster natscope',
      `image ${image}`,
    ]);
    expect(destructive(f.lines())).toEqual([
      'docker rm --force natscope-vpn natscope-office',
      'docker network rm natscope-office',
      'kind delete cluster --name natscope',
      `docker image rm ${image}`,
    ]);
    expect(f.world().clusters).toEqual(['dev']);
    expect(Object.keys(f.world().containers)).toEqual(['someone-else']);
    expect(existsSync(join(f.stateDir, 'natscope-kind.json'))).toBe(false);
    expect(existsSync(join(f.stateDir, 'natscope-kind.kubeconfig'))).toBe(false);
  });

  test('leaves a cluster of the same name that natscope did not create alone, and says so', async () => {
    f = useFakes({ clusters: ['natscope'] });
    const logs: string[] = [];
    expect(await kindDown({ prefix: 'natscope-', log: (l) => logs.push(l) })).toEqual([]);
    expect(destructive(f.lines())).toEqual([]);
    expect(logs).toEqual(['left kind cluster "natscope" alone: natscope did not create it']);
  });

  test("a cluster recreated by someone else under natscope's name is not natscope's any more", async () => {
    f = useFakes();
    await labIsUp(f, await imageTag(), 'unused');
    f.update({ controlPlaneId: 'f'.repeat(64) });
    expect(await kindDown({ prefix: 'natscope-', log: () => undefined })).not.toContain('kind cluster natscope');
    expect(f.lines().some((l) => l.startsWith('kind delete'))).toBe(false);
  });

  test("a cluster natscope was still creating when it was stopped is natscope's to delete", async () => {
    f = useFakes({ clusters: ['natscope'], controlPlaneCreated: '2026-11-26T08:00:05.000000000Z' });
    writeFileSync(
      join(f.stateDir, 'natscope-kind.json'),
      JSON.stringify({
        version: 1,
        backend: 'kind',
        prefix: 'natscope-',
        cluster: 'natscope',
        createdCluster: true,
        createStartedAt: '2026-11-26T08:00:00.000Z',
        controlPlaneId: null,
        officeCIDR: '192.168.10.0/24',
        image: null,
        complete: false,
        updatedAt: '',
      }),
    );
    expect(await kindDown({ prefix: 'natscope-', log: () => undefined })).toEqual(['kind cluster natscope']);
  });

  test('with nothing up it removes nothing and succeeds', async () => {
    f = useFakes();
    expect(await kindDown({ prefix: 'natscope-', log: () => undefined })).toEqual([]);
    expect(destructive(f.lines())).toEqual([]);
  });

  // `lab up` killed between its first record's temp file and the rename: no record, a temp file, and another lab's record
  test("killed while writing its first record: its temp file goes, with no record to read; another prefix's record stays", async () => {
    f = useFakes();
    const killed = spawnSync('true').pid!;
    writeFileSync(join(f.stateDir, `.natscope-kind.json.${killed}.0a1b2c.tmp`), '{"version":1');
    writeFileSync(join(f.stateDir, 'other-kind.json'), '{}');
    const before = readdirSync(f.stateDir).filter((n) => !n.includes('kind'));
    expect(await kindDown({ prefix: 'natscope-', log: () => undefined })).toEqual([]);
    expect(readdirSync(f.stateDir).filter((n) => n.includes('kind'))).toEqual(['other-kind.json']);
    expect(readdirSync(f.stateDir).filter((n) => !n.includes('kind'))).toEqual(before);
  });

  test('with Docker not running it says so and removes nothing', async () => {
    f = useFakes({ dockerRunning: false });
    await expect(kindDown({ prefix: 'natscope-' })).rejects.toThrow(/Docker is not running/);
  });
});
