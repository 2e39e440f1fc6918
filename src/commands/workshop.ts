// natscope workshop bundle: the offline bundle for a workshop room
// (src/lab/kind/bundle.ts), with what it holds and how to use it.

import { stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { BundleArch } from '../lab/kind/bundle-manifest.js';
import { hostArch, makeBundle } from '../lab/kind/bundle.js';
import { progress } from '../util/progress.js';

export interface WorkshopBundleOptions {
  dir: string;
  arch: BundleArch | undefined;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 10e6 ? 1 : 0)} MB`;
}

export async function workshopBundle(options: WorkshopBundleOptions): Promise<number> {
  const step = progress('workshop bundle');
  const dir = resolve(options.dir);
  const arch = options.arch ?? hostArch();
  const m = await makeBundle({ dir, arch, log: step.log, mirror: process.env.NATSCOPE_BUNDLE_MIRROR || undefined });
  const rows: [string, string][] = [
    [m.kindFile, `kind ${m.kindVersion}`],
    [
      m.nodeImageFile,
      `${m.nodeImageTag} (${m.nodeImageId.slice(0, 19)}…), pinned as ${m.nodeImage.split('@')[1]?.slice(0, 19)}…`,
    ],
    [m.kubectlFile, `kubectl ${m.kubectlVersion}`],
    [m.nodejsFile, `Node.js ${m.nodejsVersion}`],
    [m.npmCacheFile, `npm's cache for package-lock.json (sha256 ${m.npmLockSha256.slice(0, 12)}…)`],
  ];
  let total = 0;
  const lines: string[] = [];
  for (const [file, what] of rows) {
    const size = (await stat(join(dir, file))).size;
    total += size;
    lines.push(`  ${file.padEnd(36)} ${megabytes(size).padStart(8)}  ${what}`);
  }
  step.done(`bundle ready: ${dir}`);
  const shown = relative(process.cwd(), dir) || '.';
  process.stdout.write(
    [
      `natscope workshop bundle: ${dir} (linux/${m.arch}, ${megabytes(total)}, natscope ${m.natscopeVersion})`,
      ...lines,
      '  manifest.env, SHA256SUMS            what each file is, and every checksum',
      '',
      'Hand out this folder with the project (it is read, never written). Then, on each laptop:',
      `  VAGRANT_NATSCOPE_BUNDLE=${shown} vagrant up`,
      'or on a Linux machine without Vagrant:',
      `  sudo bash scripts/provision/provision.sh --bundle ${shown}`,
      '',
    ].join('\n'),
  );
  return 0;
}
