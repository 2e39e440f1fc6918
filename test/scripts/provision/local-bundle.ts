// An offline bundle made on this machine, for provision.sh --bundle to
// consume: the build machines cannot download kind's release or pull the
// node image, so those two parts are stand-ins; everything else is real.
//   kind, kubectl   tiny stand-in scripts (they answer the version questions
//                   provision.sh asks, and kind writes the user's kubeconfig)
//   node image      a real `docker save` of an image built here with
//                   `docker import`, tagged as the pinned node image
//   Node.js         real: the npm registry's node-linux-<arch> package (the
//                   official binaries) and npm's own package, laid out as
//                   nodejs.org's tarball (node-vX.Y.Z-linux-<arch>/bin/node,
//                   lib/node_modules/npm, bin/npm and bin/npx links)
//   npm packages    real: natscope's own producer (saveNpmCache: npm ci of
//                   the project's lock file for linux-<arch>) from the registry
// manifest.env and SHA256SUMS come from the producer's writeBundleIndex.

import { chmod, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { BundleArch, BundleManifest } from '../../../src/lab/kind/bundle-manifest.js';
import { readSavedImage, saveNpmCache, writeBundleIndex } from '../../../src/lab/kind/bundle.js';
import { sha256Text } from '../../../src/lab/kind/bundle-manifest.js';
import {
  KIND_VERSION,
  KUBERNETES_VERSION,
  NODE_IMAGE,
  NODE_IMAGE_TAG,
  NODE_MAJOR,
} from '../../../src/lab/kind/versions.js';
import { ROOT } from '../../helpers.js';
import { natscopeVersion } from '../../../src/util/version.js';
import { readFileSync } from 'node:fs';

const NODE_ARCH: Record<BundleArch, string> = { amd64: 'x64', arm64: 'arm64' };

function kindStandIn(arch: BundleArch): string {
  return `#!/bin/sh
# A stand-in for kind ${KIND_VERSION} (natscope's provisioning test): the
# real binary cannot be downloaded on the build machines.
case "$1 $2" in
  "version -q") echo "${KIND_VERSION.slice(1)}" ;;
  "version ") echo "kind ${KIND_VERSION} go1.24.0 linux/${arch}" ;;
  "export kubeconfig")
    while [ $# -gt 0 ]; do [ "$1" = --kubeconfig ] && out=$2; shift; done
    printf 'apiVersion: v1\\nkind: Config\\ncurrent-context: kind-natscope\\n' > "$out"
    echo 'Set kubectl context to "kind-natscope"' >&2 ;;
  *) echo "kind stand-in: no answer for: $*" >&2; exit 97 ;;
esac
`;
}

function kubectlStandIn(): string {
  return `#!/bin/sh
# A stand-in for kubectl ${KUBERNETES_VERSION} (natscope's provisioning test).
case "$*" in
  "version --client") printf 'Client Version: ${KUBERNETES_VERSION}\\nKustomize Version: v5.7.1\\n' ;;
  *) echo "kubectl stand-in: no answer for: $*" >&2; exit 97 ;;
esac
`;
}

export interface LocalBundleOptions {
  dir: string;
  scratch: string;
  arch: BundleArch;
  // the test's own Docker engine
  dockerEnv: Record<string, string>;
}

// The Node.js release in nodejs.org's layout, from the npm registry's packages.
async function nodejsTarball(o: LocalBundleOptions): Promise<{ file: string; version: string }> {
  const work = join(o.scratch, 'nodejs');
  await mkdir(work, { recursive: true });
  const cache = join(o.scratch, 'npm-pack-cache');
  await execa(
    'npm',
    [
      'pack',
      `node-linux-${NODE_ARCH[o.arch]}@${NODE_MAJOR}`,
      'npm@11',
      '--cache',
      cache,
      '--pack-destination',
      work,
      '--silent',
    ],
    {
      cwd: work,
    },
  );
  const tgz = (await readdir(work)).filter((f) => f.endsWith('.tgz'));
  const nodePkg = tgz.find((f) => f.startsWith('node-linux-'))!;
  const npmPkg = tgz.find((f) => f.startsWith('npm-'))!;
  const version = `v${/-(\d+\.\d+\.\d+)\.tgz$/.exec(nodePkg)![1]!}`;
  const name = `node-${version}-linux-${NODE_ARCH[o.arch]}`;
  const root = join(work, name);
  await mkdir(join(root, 'lib', 'node_modules', 'npm'), { recursive: true });
  await execa('tar', ['-xzf', join(work, nodePkg), '-C', root, '--strip-components=1']);
  await execa('tar', [
    '-xzf',
    join(work, npmPkg),
    '-C',
    join(root, 'lib', 'node_modules', 'npm'),
    '--strip-components=1',
  ]);
  await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'bin', 'npm'));
  await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'bin', 'npx'));
  const reported = (await execa(join(root, 'bin', 'node'), ['--version'])).stdout.trim();
  if (reported !== version) throw new Error(`node-linux package ${version} runs as ${reported}`);
  const file = `${name}.tar.xz`;
  await execa('tar', ['-cJf', join(o.dir, file), '-C', work, name]);
  return { file, version };
}

// The node image: a real image, built here (docker import) and saved as the bundle does.
async function nodeImage(o: LocalBundleOptions): Promise<{ file: string; id: string }> {
  const env = { ...process.env, ...o.dockerEnv };
  const rootfs = join(o.scratch, 'rootfs');
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await writeFile(join(rootfs, 'etc', 'natscope-stand-in'), `a stand-in for ${NODE_IMAGE}\n`);
  await execa('tar', ['-cf', join(o.scratch, 'rootfs.tar'), '-C', rootfs, '.']);
  await execa('docker', ['import', join(o.scratch, 'rootfs.tar'), NODE_IMAGE_TAG], { env });
  const file = `kindest-node-${KUBERNETES_VERSION}-${o.arch}.tar`;
  await execa('docker', ['save', '--output', join(o.dir, file), NODE_IMAGE_TAG], { env });
  // provisioning must load it from the bundle
  await execa('docker', ['image', 'rm', NODE_IMAGE_TAG], { env });
  const saved = await readSavedImage(join(o.dir, file));
  if (!saved.tags.includes(NODE_IMAGE_TAG)) throw new Error(`docker save recorded ${saved.tags.join(', ')}`);
  return { file, id: saved.id };
}

export async function makeLocalBundle(o: LocalBundleOptions): Promise<BundleManifest> {
  await mkdir(o.dir, { recursive: true });
  const kindFile = `kind-linux-${o.arch}`;
  const kubectlFile = `kubectl-linux-${o.arch}`;
  await writeFile(join(o.dir, kindFile), kindStandIn(o.arch));
  await writeFile(join(o.dir, kubectlFile), kubectlStandIn());
  await chmod(join(o.dir, kindFile), 0o755);
  await chmod(join(o.dir, kubectlFile), 0o755);
  const image = await nodeImage(o);
  const node = await nodejsTarball(o);
  const npmScratch = join(o.scratch, 'npm');
  await mkdir(npmScratch);
  const npmCacheFile = await saveNpmCache(o.dir, o.arch, npmScratch);
  const manifest: BundleManifest = {
    arch: o.arch,
    natscopeVersion: natscopeVersion(),
    created: new Date().toISOString(),
    kindVersion: KIND_VERSION,
    kindFile,
    kubectlVersion: KUBERNETES_VERSION,
    kubectlFile,
    nodeImage: NODE_IMAGE,
    nodeImageTag: NODE_IMAGE_TAG,
    nodeImageId: image.id,
    nodeImageFile: image.file,
    nodejsVersion: node.version,
    nodejsFile: node.file,
    npmCacheFile,
    npmLockSha256: sha256Text(readFileSync(join(ROOT, 'package-lock.json'))),
  };
  await writeBundleIndex(o.dir, manifest);
  return manifest;
}

// A copy of the bundle `from` in `to` (hard links: the files are large)
// whose `file` has one byte changed (a new file: the original stays intact).
export async function corruptCopy(from: string, to: string, file: string): Promise<void> {
  await mkdir(to, { recursive: true });
  await execa('cp', ['-al', `${from}/.`, to]);
  const bytes = readFileSync(join(to, file));
  bytes[bytes.length - 1] = (bytes[bytes.length - 1]! + 1) % 256;
  await rm(join(to, file));
  await writeFile(join(to, file), bytes, { mode: 0o755 });
}
