// The offline bundle's manifest.env and SHA256SUMS: written and read the
// same way here, and read by scripts/provision/provision.sh, whose lists of
// keys are held to the one declaration here.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { NatscopeError } from '../../../src/errors.js';
import {
  type BundleManifest,
  FILE_KEYS,
  MANIFEST_KEYS,
  parseChecksums,
  parseManifest,
  renderManifest,
} from '../../../src/lab/kind/bundle-manifest.js';
import { ROOT } from '../../helpers.js';

const MANIFEST: BundleManifest = {
  arch: 'amd64',
  natscopeVersion: '0.1.0',
  created: '2026-11-26T08:00:00.000Z',
  kindVersion: 'v0.32.0',
  kindFile: 'kind-linux-amd64',
  kubectlVersion: 'v1.36.1',
  kubectlFile: 'kubectl-linux-amd64',
  nodeImage: 'kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5',
  nodeImageTag: 'kindest/node:v1.36.1',
  nodeImageId: `sha256:${'e'.repeat(64)}`,
  nodeImageFile: 'kindest-node-v1.36.1-amd64.tar',
  nodejsVersion: 'v24.11.1',
  nodejsFile: 'node-v24.11.1-linux-x64.tar.xz',
  npmCacheFile: 'npm-cache.tar',
  npmLockSha256: 'a'.repeat(64),
};

const PROVISION = readFileSync(join(ROOT, 'scripts', 'provision', 'provision.sh'), 'utf8');

describe("the bundle's manifest.env", () => {
  test('reads back as written, as plain KEY=VALUE lines bash can read without sourcing', () => {
    const text = renderManifest(MANIFEST);
    expect(parseManifest(text)).toEqual(MANIFEST);
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#')))
      expect(line).toMatch(/^[A-Z][A-Z0-9_]*=[A-Za-z0-9._:/@+-]*$/);
  });

  test('provision.sh requires every key but the informational ones, and checks every file key against SHA256SUMS', () => {
    const required = /read_env "\$bundle\/manifest\.env" manifest "\$bundle_fix" ([A-Z0-9_ \\\n]+)/.exec(
      PROVISION,
    )?.[1];
    expect(
      required
        ?.split(/[\s\\]+/)
        .filter(Boolean)
        .sort(),
    ).toEqual(
      [
        'NATSCOPE_BUNDLE_FORMAT',
        ...Object.keys(MANIFEST_KEYS).filter((k) => !['NATSCOPE_VERSION', 'CREATED'].includes(k)),
      ].sort(),
    );
    const files = /for key in ((?:[A-Z_]+_FILE ?)+); do\n {4}\[\[ "\$listed"/.exec(PROVISION)?.[1];
    expect(files?.trim().split(' ')).toEqual([...FILE_KEYS]);
  });

  test('refuses what provision.sh would refuse: paths for file names, quoting, another format, a bad image ID', () => {
    const text = renderManifest(MANIFEST);
    const bad = [
      text.replace('KIND_FILE=kind-linux-amd64', 'KIND_FILE=../kind'),
      text.replace('NODEJS_VERSION=v24.11.1', 'NODEJS_VERSION="v24"'),
      text.replace('NATSCOPE_BUNDLE_FORMAT=1', 'NATSCOPE_BUNDLE_FORMAT=2'),
      text.replace(/NODE_IMAGE_ID=\S+/, 'NODE_IMAGE_ID=abc'),
      text.replace('ARCH=amd64', 'ARCH=riscv64'),
      text.replace(/^NPM_CACHE_FILE=.*\n/m, ''),
    ];
    for (const t of bad) expect(() => parseManifest(t)).toThrow(NatscopeError);
    expect(() => renderManifest({ ...MANIFEST, created: 'Thu 26 Nov 2026' })).toThrow(/plain word/);
  });
});

describe("the bundle's SHA256SUMS", () => {
  test("is sha256sum's format, one plain file name a line; anything else is refused with the fix", () => {
    const hex = 'c'.repeat(64);
    expect(parseChecksums(`${hex}  manifest.env\n${hex}  kind-linux-amd64\n`)).toEqual([
      { sha256: hex, file: 'manifest.env' },
      { sha256: hex, file: 'kind-linux-amd64' },
    ]);
    for (const bad of [`${hex} *manifest.env`, `${hex}  ../etc/passwd`, `${hex.slice(1)}  x`]) {
      expect(() => parseChecksums(bad)).toThrow(/line 1 is not "<sha256> {2}<file name>"/);
    }
  });
});
