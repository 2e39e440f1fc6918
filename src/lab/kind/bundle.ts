// `natscope workshop bundle DIR`: everything the workshop VM would download
// from hosts other than its distribution's archive, saved once by the
// instructor on a connected machine so that a room of VMs installs with no
// network (and no Docker Hub pull limit): kind's release binary, the pinned
// kind node image (docker save), kubectl, a Node.js release and npm's cache
// for natscope's package-lock.json. Each download is checked against its
// publisher's checksum; SHA256SUMS and manifest.env (bundle-manifest.ts) say
// what the bundle holds. provision.sh --bundle DIR consumes it.

import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NatscopeError, describeError } from '../../errors.js';
import { projectRoot } from '../../util/paths.js';
import { natscopeVersion } from '../../util/version.js';
import {
  BUNDLE_ARCHES,
  type BundleArch,
  type BundleManifest,
  MANIFEST_FILE,
  renderManifest,
  sha256Text,
  writeChecksums,
} from './bundle-manifest.js';
import { docker } from './docker.js';
import { run } from './tools.js';
import { KIND_VERSION, KUBERNETES_VERSION, NODE_IMAGE, NODE_IMAGE_TAG, NODE_MAJOR } from './versions.js';

export interface BundleOptions {
  dir: string;
  arch: BundleArch;
  log: (line: string) => void;
  // a mirror serving each host's files under /<host>/<path> (NATSCOPE_BUNDLE_MIRROR)
  mirror?: string;
}

// Node's and Debian's names for the two architectures kind releases for.
const NODE_ARCH: Record<BundleArch, string> = { amd64: 'x64', arm64: 'arm64' };

export function hostArch(arch = process.arch): BundleArch {
  const found = BUNDLE_ARCHES.find((a) => NODE_ARCH[a] === arch);
  if (!found) {
    throw new NatscopeError(`no kind release for this machine's architecture (${arch})`, {
      hint: "name the workshop VMs' architecture: --arch amd64 or --arch arm64",
      exitCode: 2,
    });
  }
  return found;
}

// Where each file comes from (the publishers' own download sites).
export function sources(arch: BundleArch) {
  return {
    kind: `https://kind.sigs.k8s.io/dl/${KIND_VERSION}/kind-linux-${arch}`,
    kubectl: `https://dl.k8s.io/release/${KUBERNETES_VERSION}/bin/linux/${arch}/kubectl`,
    nodejsIndex: `https://nodejs.org/dist/latest-v${NODE_MAJOR}.x/`,
  };
}

// A URL as the mirror serves it: https://host/path → <mirror>/host/path.
export function viaMirror(url: string, mirror: string | undefined): string {
  if (!mirror) return url;
  const u = new URL(url);
  return `${mirror.replace(/\/+$/, '')}/${u.host}${u.pathname}`;
}

function downloadError(url: string, detail: string): NatscopeError {
  return new NatscopeError(`cannot download ${url}: ${detail}`, {
    hint: "check this machine's network (the bundle is made on a connected machine), or set NATSCOPE_BUNDLE_MIRROR to a mirror that serves https://HOST/PATH as MIRROR/HOST/PATH",
  });
}

async function get(url: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(30 * 60_000) });
  } catch (error) {
    throw downloadError(url, describeError(error instanceof Error && error.cause ? error.cause : error));
  }
  if (!res.ok || !res.body) throw downloadError(url, `HTTP ${res.status}`);
  return res;
}

export async function fetchText(url: string): Promise<string> {
  return (await get(url)).text();
}

// Streams `url` into `dest`; returns the file's sha256.
export async function download(url: string, dest: string): Promise<string> {
  const res = await get(url);
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(res.body!), tap, createWriteStream(dest));
  return hash.digest('hex');
}

function noChecksum(url: string): NatscopeError {
  return new NatscopeError(`${url} holds no sha256 checksum`, {
    hint: 'download again; if it persists, the release moved: report it',
  });
}

function mismatch(file: string, url: string): NatscopeError {
  return new NatscopeError(`${file} does not match the checksum its publisher gives (${url})`, {
    hint: 'download again (a broken transfer, or a proxy that rewrites files); if it persists, report it',
  });
}

// The first sha256 in a checksum file ("<hex>" or "<hex>  <name>").
export function checksumIn(text: string, name?: string): string | null {
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{64})(?:\s+\*?(\S+))?\s*$/.exec(line.trim());
    if (m && (!name || !m[2] || m[2] === name)) return m[1]!;
  }
  return null;
}

// nodejs.org's SHASUMS256.txt → the Linux tarball for `arch`, and its sha256.
export function nodejsRelease(shasums: string, arch: BundleArch): { file: string; version: string; sha256: string } {
  const re = new RegExp(
    `^([0-9a-f]{64}) {2}(node-(v${NODE_MAJOR}\\.\\d+\\.\\d+)-linux-${NODE_ARCH[arch]}\\.tar\\.xz)$`,
  );
  for (const line of shasums.split('\n')) {
    const m = re.exec(line.trim());
    if (m) return { sha256: m[1]!, file: m[2]!, version: m[3]! };
  }
  throw new NatscopeError(`nodejs.org lists no Node.js ${NODE_MAJOR} tarball for linux-${NODE_ARCH[arch]}`, {
    hint: `check ${sources(arch).nodejsIndex}SHASUMS256.txt`,
  });
}

// A `docker save` archive's config digest (the image ID docker load gives on
// the classic image store) and tags, read from its manifest.json: the
// legacy layout names the config "<hex>.json", the OCI one "blobs/sha256/<hex>".
export function savedImage(manifestJson: string): { id: string; tags: string[] } {
  let value: unknown;
  try {
    value = JSON.parse(manifestJson);
  } catch {
    value = null;
  }
  const first = Array.isArray(value) ? value[0] : null;
  const config = first && typeof first === 'object' && 'Config' in first ? first.Config : null;
  const tags = first && typeof first === 'object' && 'RepoTags' in first ? first.RepoTags : null;
  const hex = typeof config === 'string' ? /^(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/.exec(config)?.[1] : null;
  if (!hex || !Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) {
    throw new NatscopeError('docker save wrote an archive whose manifest.json natscope cannot read', {
      hint: 'report the Docker version (docker version); natscope reads the legacy and the OCI layouts',
    });
  }
  return { id: `sha256:${hex}`, tags };
}

export async function readSavedImage(file: string): Promise<{ id: string; tags: string[] }> {
  return savedImage((await run('tar', ['-xOf', file, 'manifest.json'])).stdout);
}

// npm's own cache after `npm ci` of natscope's package-lock.json for a Linux
// machine of `arch` (npm's --os/--cpu/--libc pick the optional packages of
// that platform, not this one's), archived as one file in `dir`.
export async function saveNpmCache(dir: string, arch: BundleArch, scratch: string): Promise<string> {
  const project = join(scratch, 'project');
  await mkdir(project);
  for (const f of ['package.json', 'package-lock.json']) await copyFile(join(projectRoot(), f), join(project, f));
  await run(
    'npm',
    [
      'ci',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      '--cache',
      join(scratch, 'npm-cache'),
      '--os',
      'linux',
      '--cpu',
      NODE_ARCH[arch],
      '--libc',
      'glibc',
    ],
    { cwd: project },
  );
  const file = 'npm-cache.tar';
  await run('tar', ['-cf', join(dir, file), '-C', scratch, 'npm-cache']);
  return file;
}

async function npmMajor(): Promise<number> {
  const v = (await run('npm', ['--version'])).stdout.trim();
  return Number(/^(\d+)\./.exec(v)?.[1] ?? 0);
}

// Refuses a DIR with anything in it: the bundle is the folder's whole content.
async function prepareDir(dir: string): Promise<boolean> {
  if (!existsSync(dir)) {
    await mkdir(dir, { recursive: true });
    return true;
  }
  if (!(await stat(dir)).isDirectory() || (await readdir(dir)).length > 0) {
    throw new NatscopeError(`${dir} exists and is not an empty folder`, {
      hint: 'give a new or empty folder: natscope workshop bundle ./natscope-bundle',
      exitCode: 2,
    });
  }
  return false;
}

export async function makeBundle(options: BundleOptions): Promise<BundleManifest> {
  const { dir, arch, log } = options;
  const src = sources(arch);
  const url = (u: string) => viaMirror(u, options.mirror);
  if ((await npmMajor()) < 10) {
    throw new NatscopeError('npm 10 or newer is needed to fetch the packages for another platform (--os/--cpu)', {
      hint: `install Node.js ${NODE_MAJOR} (it brings npm 11), then run this again`,
    });
  }
  const created = await prepareDir(dir);
  const scratch = await mkdtemp(join(tmpdir(), 'natscope-bundle-'));
  try {
    const kindFile = `kind-linux-${arch}`;
    log(`kind ${KIND_VERSION} (${src.kind})`);
    const kindSum = checksumIn(await fetchText(url(`${src.kind}.sha256sum`)), kindFile);
    if (!kindSum) throw noChecksum(`${src.kind}.sha256sum`);
    if ((await download(url(src.kind), join(dir, kindFile))) !== kindSum) throw mismatch(kindFile, src.kind);

    const kubectlFile = `kubectl-linux-${arch}`;
    log(`kubectl ${KUBERNETES_VERSION} (${src.kubectl})`);
    const kubectlSum = checksumIn(await fetchText(url(`${src.kubectl}.sha256`)));
    if (!kubectlSum) throw noChecksum(`${src.kubectl}.sha256`);
    if ((await download(url(src.kubectl), join(dir, kubectlFile))) !== kubectlSum)
      throw mismatch(kubectlFile, src.kubectl);

    const node = nodejsRelease(await fetchText(url(`${src.nodejsIndex}SHASUMS256.txt`)), arch);
    log(`Node.js ${node.version} (${src.nodejsIndex}${node.file})`);
    if ((await download(url(`${src.nodejsIndex}${node.file}`), join(dir, node.file))) !== node.sha256)
      throw mismatch(node.file, `${src.nodejsIndex}SHASUMS256.txt`);

    const imageFile = `kindest-node-${KUBERNETES_VERSION}-${arch}.tar`;
    log(`the node image ${NODE_IMAGE} for linux/${arch} (docker pull, docker save)`);
    await docker(['pull', '--platform', `linux/${arch}`, NODE_IMAGE]);
    const platform = (
      await docker(['image', 'inspect', '--format', '{{.Os}}/{{.Architecture}}', NODE_IMAGE])
    ).stdout.trim();
    if (platform !== `linux/${arch}`) {
      throw new NatscopeError(`docker pull gave a ${platform} image, not linux/${arch}`, {
        hint: `remove the local copy (docker image rm ${NODE_IMAGE_TAG}) and run this again`,
      });
    }
    // saved under its tag: docker load restores tags, not the registry's digest
    await docker(['tag', NODE_IMAGE, NODE_IMAGE_TAG]);
    await docker(['save', '--output', join(dir, imageFile), NODE_IMAGE_TAG]);
    const saved = await readSavedImage(join(dir, imageFile));
    if (!saved.tags.some((t) => t === NODE_IMAGE_TAG || t === `docker.io/${NODE_IMAGE_TAG}`)) {
      throw new NatscopeError(
        `docker save did not record the tag ${NODE_IMAGE_TAG} (it recorded ${saved.tags.join(', ') || 'none'})`,
        {
          hint: 'report the Docker version (docker version)',
        },
      );
    }

    log(`npm's cache for natscope's package-lock.json, linux-${NODE_ARCH[arch]} (npm ci)`);
    const npmCacheFile = await saveNpmCache(dir, arch, scratch);

    const manifest: BundleManifest = {
      arch,
      natscopeVersion: natscopeVersion(),
      created: new Date().toISOString(),
      kindVersion: KIND_VERSION,
      kindFile,
      kubectlVersion: KUBERNETES_VERSION,
      kubectlFile,
      nodeImage: NODE_IMAGE,
      nodeImageTag: NODE_IMAGE_TAG,
      nodeImageId: saved.id,
      nodeImageFile: imageFile,
      nodejsVersion: node.version,
      nodejsFile: node.file,
      npmCacheFile,
      npmLockSha256: sha256Text(await readFile(join(projectRoot(), 'package-lock.json'))),
    };
    await writeBundleIndex(dir, manifest);
    return manifest;
  } catch (error) {
    // nothing of a failed bundle stays behind
    if (created) await rm(dir, { recursive: true, force: true });
    else for (const f of await readdir(dir)) await rm(join(dir, f), { recursive: true, force: true });
    throw error;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

// manifest.env, then SHA256SUMS over every file the manifest names and itself.
export async function writeBundleIndex(dir: string, manifest: BundleManifest): Promise<void> {
  await writeFile(join(dir, MANIFEST_FILE), renderManifest(manifest));
  await writeChecksums(dir, [
    MANIFEST_FILE,
    manifest.kindFile,
    manifest.kubectlFile,
    manifest.nodeImageFile,
    manifest.nodejsFile,
    manifest.npmCacheFile,
  ]);
}
