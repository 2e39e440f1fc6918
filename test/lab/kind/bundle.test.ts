// The offline bundle's producing side (natscope workshop bundle) against the
// fakes: downloads come from a mirror on loopback that serves each
// publisher's paths (kind.sigs.k8s.io, dl.k8s.io, nodejs.org) with their
// checksum files; docker pull/tag/save and npm ci are the fake tools
// (test/fixtures/kind, README.md). Its consuming side runs for real in
// test/scripts/provision/provision.lab.test.ts.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { parseChecksums, parseManifest, sha256Text } from '../../../src/lab/kind/bundle-manifest.js';
import {
  checksumIn,
  hostArch,
  makeBundle,
  nodejsRelease,
  savedImage,
  viaMirror,
} from '../../../src/lab/kind/bundle.js';
import { NODE_IMAGE, NODE_IMAGE_TAG } from '../../../src/lab/kind/versions.js';
import { CLI } from '../../cli.js';
import { asNatscopeError, ROOT } from '../../helpers.js';
import { type Fakes, output, useFakes } from './fakes.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const NODE_VERSION = 'v24.11.1';

// What each publisher serves, under /<host>/<path> on the mirror.
function publishers(): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const arch of ['amd64', 'arm64']) {
    const kind = Buffer.from(`kind v0.32.0 linux/${arch}\n`);
    files.set(`/kind.sigs.k8s.io/dl/v0.32.0/kind-linux-${arch}`, kind);
    files.set(
      `/kind.sigs.k8s.io/dl/v0.32.0/kind-linux-${arch}.sha256sum`,
      Buffer.from(`${sha(kind)}  kind-linux-${arch}\n`),
    );
    const kubectl = Buffer.from(`kubectl v1.36.1 linux/${arch}\n`);
    files.set(`/dl.k8s.io/release/v1.36.1/bin/linux/${arch}/kubectl`, kubectl);
    files.set(`/dl.k8s.io/release/v1.36.1/bin/linux/${arch}/kubectl.sha256`, Buffer.from(sha(kubectl)));
  }
  const sums: string[] = [];
  for (const a of ['x64', 'arm64', 'armv7l', 'ppc64le']) {
    for (const ext of ['tar.gz', 'tar.xz']) {
      const name = `node-${NODE_VERSION}-linux-${a}.${ext}`;
      const body = Buffer.from(`Node.js ${NODE_VERSION} ${a} ${ext}\n`);
      files.set(`/nodejs.org/dist/latest-v24.x/${name}`, body);
      sums.push(`${sha(body)}  ${name}`);
    }
  }
  sums.push(`${sha('x')}  node-${NODE_VERSION}-darwin-arm64.tar.gz`, `${sha('y')}  node-${NODE_VERSION}.tar.gz`);
  files.set('/nodejs.org/dist/latest-v24.x/SHASUMS256.txt', Buffer.from(`${sums.join('\n')}\n`));
  return files;
}

let server: Server;
let mirror: string;
let files: Map<string, Buffer>;
const served: string[] = [];

beforeAll(async () => {
  files = publishers();
  server = createServer((req, res) => {
    served.push(req.url ?? '');
    const body = files.get(req.url ?? '');
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

let f: Fakes;
let tmp: string;
afterEach(() => {
  f?.restore();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  served.length = 0;
});

function setup(patch: Parameters<typeof useFakes>[0] = {}): string {
  f = useFakes(patch);
  tmp = mkdtempSync(join(tmpdir(), 'natscope-bundle-test-'));
  return join(tmp, 'bundle');
}

describe('natscope workshop bundle', () => {
  test('saves kind, kubectl, Node.js, the node image and the npm cache with a manifest and checksums sha256sum accepts', async () => {
    const dir = setup();
    const log: string[] = [];
    const m = await makeBundle({ dir, arch: 'amd64', log: (l) => log.push(l), mirror });
    expect(readdirSync(dir).sort()).toEqual(
      [
        'SHA256SUMS',
        'kind-linux-amd64',
        'kindest-node-v1.36.1-amd64.tar',
        'kubectl-linux-amd64',
        'manifest.env',
        `node-${NODE_VERSION}-linux-x64.tar.xz`,
        'npm-cache.tar',
      ].sort(),
    );
    expect(readFileSync(join(dir, 'kind-linux-amd64'))).toEqual(
      files.get('/kind.sigs.k8s.io/dl/v0.32.0/kind-linux-amd64'),
    );
    expect(m).toMatchObject({
      arch: 'amd64',
      kindVersion: 'v0.32.0',
      kubectlVersion: 'v1.36.1',
      nodeImage: NODE_IMAGE,
      nodeImageTag: NODE_IMAGE_TAG,
      nodejsVersion: NODE_VERSION,
      nodejsFile: `node-${NODE_VERSION}-linux-x64.tar.xz`,
      npmLockSha256: sha256Text(readFileSync(join(ROOT, 'package-lock.json'))),
    });
    // the image ID is the config digest the saved archive names
    const config = z
      .array(z.object({ Config: z.string() }))
      .parse(JSON.parse(output('docker-save-manifest.json')))[0]!.Config;
    expect(m.nodeImageId).toBe(`sha256:${/([0-9a-f]{64})/.exec(config)![1]}`);
    expect(parseManifest(readFileSync(join(dir, 'manifest.env'), 'utf8'))).toEqual(m);
    const check = await execa('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: dir, reject: false });
    expect(check.exitCode).toBe(0);
    expect(parseChecksums(readFileSync(join(dir, 'SHA256SUMS'), 'utf8')).map((c) => c.file)).toEqual(
      readdirSync(dir)
        .filter((x) => x !== 'SHA256SUMS')
        .sort(),
    );
    expect(log.map((l) => l.split(' (')[0])).toEqual([
      'kind v0.32.0',
      'kubectl v1.36.1',
      `Node.js ${NODE_VERSION}`,
      `the node image ${NODE_IMAGE} for linux/amd64`,
      "npm's cache for natscope's package-lock.json, linux-x64",
    ]);
  });

  test("pulls the node image by its pinned digest for the VMs' platform and saves it under its tag; npm fetches that platform's packages", async () => {
    const dir = setup();
    await makeBundle({ dir, arch: 'arm64', log: () => undefined, mirror });
    const lines = f.lines();
    expect(lines).toContain(`docker pull --platform linux/arm64 ${NODE_IMAGE}`);
    expect(lines).toContain(`docker tag ${NODE_IMAGE} ${NODE_IMAGE_TAG}`);
    expect(lines).toContain(`docker save --output ${join(dir, 'kindest-node-v1.36.1-arm64.tar')} ${NODE_IMAGE_TAG}`);
    const npm = f.calls().find((c) => c.tool === 'npm' && c.args[0] === 'ci')!;
    expect(npm.args).toEqual(
      expect.arrayContaining(['--os', 'linux', '--cpu', 'arm64', '--libc', 'glibc', '--ignore-scripts']),
    );
    // in a scratch copy of the project's package files (the fake reads the lock file there), removed afterwards
    expect(npm.cwd).toMatch(/\/natscope-bundle-[^/]+\/project$/);
    expect(existsSync(npm.cwd!)).toBe(false);
    expect(served).toEqual(
      expect.arrayContaining([
        '/kind.sigs.k8s.io/dl/v0.32.0/kind-linux-arm64',
        '/dl.k8s.io/release/v1.36.1/bin/linux/arm64/kubectl',
        `/nodejs.org/dist/latest-v24.x/node-${NODE_VERSION}-linux-arm64.tar.xz`,
      ]),
    );
    expect(readdirSync(dir)).toContain(`node-${NODE_VERSION}-linux-arm64.tar.xz`);
    expect(readFileSync(join(dir, 'npm-cache.tar')).length).toBeGreaterThan(0);
  });

  test('a download that does not match its published checksum fails, naming it, and leaves no folder behind', async () => {
    const dir = setup();
    const good = files.get('/dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubectl')!;
    files.set('/dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubectl', Buffer.from('tampered'));
    try {
      const e = asNatscopeError(
        await makeBundle({ dir, arch: 'amd64', log: () => undefined, mirror }).catch((x: unknown) => x),
      );
      expect(e.message).toBe(
        'kubectl-linux-amd64 does not match the checksum its publisher gives (https://dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubectl)',
      );
      expect(existsSync(dir)).toBe(false);
    } finally {
      files.set('/dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubectl', good);
    }
  });

  test('an empty folder given is emptied again when the bundle fails; a folder with anything in it is refused', async () => {
    const dir = setup({ registryReachable: false });
    mkdirSync(dir);
    const e = asNatscopeError(
      await makeBundle({ dir, arch: 'amd64', log: () => undefined, mirror }).catch((x: unknown) => x),
    );
    expect(e.message).toMatch(/^docker pull --platform linux\/amd64 failed/);
    expect(readdirSync(dir)).toEqual([]);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const refused = asNatscopeError(
      await makeBundle({ dir, arch: 'amd64', log: () => undefined, mirror }).catch((x: unknown) => x),
    );
    expect(refused.message).toBe(`${dir} exists and is not an empty folder`);
    expect(refused.exitCode).toBe(2);
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  });

  test('an image of another platform than asked for is refused', async () => {
    const dir = setup({ pullPlatform: 'linux/amd64' });
    const e = asNatscopeError(
      await makeBundle({ dir, arch: 'arm64', log: () => undefined, mirror }).catch((x: unknown) => x),
    );
    expect(e.message).toBe('docker pull gave a linux/amd64 image, not linux/arm64');
    expect(existsSync(dir)).toBe(false);
  });

  test("an npm too old to fetch another platform's packages is refused before anything is downloaded", async () => {
    const dir = setup({ npmVersion: '9.8.1' });
    const e = asNatscopeError(
      await makeBundle({ dir, arch: 'amd64', log: () => undefined, mirror }).catch((x: unknown) => x),
    );
    expect(e.message).toMatch(/^npm 10 or newer is needed/);
    expect(served).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  test('the command prints what the bundle holds and how to use it; bad input gets one line and the fix', async () => {
    setup();
    const env = { ...process.env, NATSCOPE_BUNDLE_MIRROR: mirror };
    const ok = await execa(process.execPath, [CLI, 'workshop', 'bundle', 'room', '--arch', 'amd64'], {
      cwd: tmp,
      env,
      reject: false,
    });
    expect(ok.stderr).not.toMatch(/natscope: /);
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toMatch(/^natscope workshop bundle: \S+\/room \(linux\/amd64, [\d.]+ MB, natscope 0\.1\.0\)$/m);
    expect(ok.stdout).toContain('  VAGRANT_NATSCOPE_BUNDLE=room vagrant up');
    expect(ok.stdout).toContain('  sudo bash scripts/provision/provision.sh --bundle room');
    const again = await execa(process.execPath, [CLI, 'workshop', 'bundle', 'room'], { cwd: tmp, env, reject: false });
    expect(again.exitCode).toBe(2);
    expect(again.stderr.trim().split('\n')).toEqual([
      `natscope: ${join(tmp, 'room')} exists and is not an empty folder`,
      '  fix: give a new or empty folder: natscope workshop bundle ./natscope-bundle',
    ]);
    const badArch = await execa(process.execPath, [CLI, 'workshop', 'bundle', 'x', '--arch', 'riscv64'], {
      cwd: tmp,
      env,
      reject: false,
    });
    expect(badArch.exitCode).toBe(2);
    expect(badArch.stderr).toMatch(
      /option '--arch <arch>' argument 'riscv64' is invalid\. Allowed choices are amd64, arm64\./,
    );
  });
});

describe('what the bundle reads from its publishers', () => {
  test("nodejs.org's SHASUMS256.txt gives the Linux tarball of the pinned major for each architecture", () => {
    const text = files.get('/nodejs.org/dist/latest-v24.x/SHASUMS256.txt')!.toString();
    expect(nodejsRelease(text, 'amd64')).toEqual({
      file: `node-${NODE_VERSION}-linux-x64.tar.xz`,
      version: NODE_VERSION,
      sha256: sha(`Node.js ${NODE_VERSION} x64 tar.xz\n`),
    });
    expect(nodejsRelease(text, 'arm64').file).toBe(`node-${NODE_VERSION}-linux-arm64.tar.xz`);
    expect(() => nodejsRelease(text.replaceAll('v24', 'v22'), 'amd64')).toThrow(/lists no Node\.js 24 tarball/);
  });

  test("kind's .sha256sum and dl.k8s.io's .sha256 give their hash; a file of another name does not", () => {
    const hex = 'a'.repeat(64);
    expect(checksumIn(`${hex}  kind-linux-amd64\n`, 'kind-linux-amd64')).toBe(hex);
    expect(checksumIn(`${hex}  kind-linux-arm64\n`, 'kind-linux-amd64')).toBeNull();
    expect(checksumIn(hex)).toBe(hex);
    expect(checksumIn('<html>not found</html>')).toBeNull();
  });

  test("a real docker save's manifest.json gives the config digest and the tags; other shapes are refused", () => {
    const real = output('docker-save-manifest.json');
    const parsed = savedImage(real);
    expect(parsed.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(parsed.tags).toEqual([NODE_IMAGE_TAG]);
    const oci = JSON.stringify([{ Config: `blobs/sha256/${'b'.repeat(64)}`, RepoTags: ['x:1'], Layers: [] }]);
    expect(savedImage(oci)).toEqual({ id: `sha256:${'b'.repeat(64)}`, tags: ['x:1'] });
    for (const bad of ['{}', '[]', '[{"Config":"../../etc/passwd","RepoTags":[]}]', 'not json'])
      expect(() => savedImage(bad)).toThrow(/manifest\.json natscope cannot read/);
  });

  test('a mirror serves https://HOST/PATH as MIRROR/HOST/PATH; without one the publisher is asked', () => {
    expect(viaMirror('https://dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubectl', 'http://m:8/x/')).toBe(
      'http://m:8/x/dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubectl',
    );
    expect(viaMirror('https://nodejs.org/dist/', undefined)).toBe('https://nodejs.org/dist/');
  });

  test("this machine's architecture names the bundle's; others are refused with the flag to use", () => {
    expect(hostArch('x64')).toBe('amd64');
    expect(hostArch('arm64')).toBe('arm64');
    expect(() => hostArch('s390x')).toThrow(/no kind release for this machine's architecture \(s390x\)/);
  });
});
