// The offline bundle's two index files, as `natscope workshop bundle`
// writes them and scripts/provision/provision.sh --bundle reads them:
//   manifest.env  what each file is: KEY=VALUE lines (bash reads them
//                 without sourcing: values are plain words, no quoting)
//   SHA256SUMS    sha256sum's format, one line per file, manifest included
// One declaration of the keys (MANIFEST_KEYS); a test holds provision.sh to it.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NatscopeError } from '../../errors.js';

export const BUNDLE_FORMAT = 1;
export const MANIFEST_FILE = 'manifest.env';
export const CHECKSUMS_FILE = 'SHA256SUMS';

export const BUNDLE_ARCHES = ['amd64', 'arm64'] as const;
export type BundleArch = (typeof BUNDLE_ARCHES)[number];

export interface BundleManifest {
  arch: BundleArch;
  natscopeVersion: string;
  created: string;
  kindVersion: string;
  kindFile: string;
  kubectlVersion: string;
  kubectlFile: string;
  // the pinned reference, the tag it was saved under, and the image ID docker load must give
  nodeImage: string;
  nodeImageTag: string;
  nodeImageId: string;
  nodeImageFile: string;
  nodejsVersion: string;
  nodejsFile: string;
  npmCacheFile: string;
  // sha256 of the package-lock.json the npm cache was made from
  npmLockSha256: string;
}

// manifest.env's keys, in the order written, and the field each holds.
export const MANIFEST_KEYS = {
  ARCH: 'arch',
  NATSCOPE_VERSION: 'natscopeVersion',
  CREATED: 'created',
  KIND_VERSION: 'kindVersion',
  KIND_FILE: 'kindFile',
  KUBECTL_VERSION: 'kubectlVersion',
  KUBECTL_FILE: 'kubectlFile',
  NODE_IMAGE: 'nodeImage',
  NODE_IMAGE_TAG: 'nodeImageTag',
  NODE_IMAGE_ID: 'nodeImageId',
  NODE_IMAGE_FILE: 'nodeImageFile',
  NODEJS_VERSION: 'nodejsVersion',
  NODEJS_FILE: 'nodejsFile',
  NPM_CACHE_FILE: 'npmCacheFile',
  NPM_LOCK_SHA256: 'npmLockSha256',
} as const satisfies Record<string, keyof BundleManifest>;

// The keys whose values are files of the bundle (each must be in SHA256SUMS).
export const FILE_KEYS = ['KIND_FILE', 'KUBECTL_FILE', 'NODE_IMAGE_FILE', 'NODEJS_FILE', 'NPM_CACHE_FILE'] as const;

// What provision.sh accepts as a value and as a file name (no quoting, no paths).
const VALUE = /^[A-Za-z0-9._:/@+-]*$/;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SHA256 = /^[0-9a-f]{64}$/;

function check(ok: boolean, what: string): void {
  if (!ok) {
    throw new NatscopeError(`the bundle's ${MANIFEST_FILE} is not valid: ${what}`, {
      hint: 'make the bundle again: natscope workshop bundle DIR',
    });
  }
}

export function renderManifest(m: BundleManifest): string {
  const lines = [
    '# natscope workshop bundle (natscope workshop bundle DIR), read by',
    '# scripts/provision/provision.sh --bundle DIR. SHA256SUMS covers every file.',
    `NATSCOPE_BUNDLE_FORMAT=${BUNDLE_FORMAT}`,
  ];
  for (const [key, field] of Object.entries(MANIFEST_KEYS)) {
    const value = m[field];
    check(VALUE.test(value), `${key}=${JSON.stringify(value)} has characters a plain word cannot hold`);
    lines.push(`${key}=${value}`);
  }
  for (const key of FILE_KEYS) check(FILE_NAME.test(m[MANIFEST_KEYS[key]]), `${key} is not a plain file name`);
  return `${lines.join('\n')}\n`;
}

export function parseManifest(text: string): BundleManifest {
  const values = new Map<string, string>();
  text.split('\n').forEach((line, i) => {
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Z][A-Z0-9_]*)=([A-Za-z0-9._:/@+-]*)$/.exec(line);
    check(m !== null, `line ${i + 1} is not KEY=VALUE`);
    values.set(m![1]!, m![2]!);
  });
  check(values.get('NATSCOPE_BUNDLE_FORMAT') === String(BUNDLE_FORMAT), `not format ${BUNDLE_FORMAT}`);
  const get = (key: keyof typeof MANIFEST_KEYS): string => {
    const v = values.get(key);
    check(v !== undefined && v !== '', `no ${key}`);
    return v!;
  };
  const arch = get('ARCH');
  const known = BUNDLE_ARCHES.find((a) => a === arch);
  check(known !== undefined, `ARCH=${arch} is not ${BUNDLE_ARCHES.join(' or ')}`);
  for (const key of FILE_KEYS) check(FILE_NAME.test(get(key)), `${key} is not a plain file name`);
  check(/^sha256:[0-9a-f]{64}$/.test(get('NODE_IMAGE_ID')), 'NODE_IMAGE_ID is not sha256:<64 hex>');
  check(SHA256.test(get('NPM_LOCK_SHA256')), 'NPM_LOCK_SHA256 is not 64 hex digits');
  return {
    arch: known!,
    natscopeVersion: get('NATSCOPE_VERSION'),
    created: get('CREATED'),
    kindVersion: get('KIND_VERSION'),
    kindFile: get('KIND_FILE'),
    kubectlVersion: get('KUBECTL_VERSION'),
    kubectlFile: get('KUBECTL_FILE'),
    nodeImage: get('NODE_IMAGE'),
    nodeImageTag: get('NODE_IMAGE_TAG'),
    nodeImageId: get('NODE_IMAGE_ID'),
    nodeImageFile: get('NODE_IMAGE_FILE'),
    nodejsVersion: get('NODEJS_VERSION'),
    nodejsFile: get('NODEJS_FILE'),
    npmCacheFile: get('NPM_CACHE_FILE'),
    npmLockSha256: get('NPM_LOCK_SHA256'),
  };
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

export function sha256Text(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

// SHA256SUMS for `files` in `dir`, in sha256sum's own format ("<hex>  <name>").
export async function writeChecksums(dir: string, files: string[]): Promise<string> {
  const lines: string[] = [];
  for (const file of [...files].sort()) {
    if (!FILE_NAME.test(file)) throw new Error(`not a plain file name: ${file}`);
    lines.push(`${await sha256File(join(dir, file))}  ${file}`);
  }
  const text = `${lines.join('\n')}\n`;
  await writeFile(join(dir, CHECKSUMS_FILE), text);
  return text;
}

export function parseChecksums(text: string): { sha256: string; file: string }[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((line, i) => {
      const m = /^([0-9a-f]{64}) {2}([A-Za-z0-9][A-Za-z0-9._-]*)$/.exec(line);
      if (!m) {
        throw new NatscopeError(`the bundle's ${CHECKSUMS_FILE} line ${i + 1} is not "<sha256>  <file name>"`, {
          hint: 'make the bundle again: natscope workshop bundle DIR',
        });
      }
      return { sha256: m[1]!, file: m[2]! };
    });
}
