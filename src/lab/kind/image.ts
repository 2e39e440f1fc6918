// The lab's one container image, built here and never pulled: the pods run
// natscope-net (the netns lab's server, so both labs answer alike) and the
// office and vpn containers run pause. Both are linked statically, so the
// image is a two-file root filesystem made with `docker import`; its tag is
// a hash of the sources, so an unchanged image is not rebuilt. kind copies
// it into the nodes (`kind load docker-image`), and the pods use
// imagePullPolicy: Never.

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { NatscopeError } from '../../errors.js';
import { projectRoot } from '../../util/paths.js';
import { docker, imageExists } from './docker.js';
import { run } from './tools.js';

export const IMAGE_REPOSITORY = 'natscope-lab';
export const IMAGE_LABEL = 'io.natscope.image';

function sources(): { name: string; path: string }[] {
  const root = projectRoot();
  return [
    { name: 'natscope-net', path: join(root, 'src', 'lab', 'helper', 'natscope-net.c') },
    { name: 'pause', path: join(root, 'src', 'lab', 'kind', 'image', 'pause.c') },
  ];
}

export async function imageTag(): Promise<string> {
  const hash = createHash('sha256');
  for (const s of sources()) hash.update(s.name).update(await readFile(s.path));
  return `${IMAGE_REPOSITORY}:${hash.digest('hex').slice(0, 12)}`;
}

export async function buildImage(tag: string, log: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'natscope-image-'));
  try {
    await mkdir(join(dir, 'rootfs'));
    for (const s of sources()) {
      const cc = await execa('cc', ['-static', '-O2', '-o', join(dir, 'rootfs', s.name), s.path], {
        reject: false,
        stdin: 'ignore',
      });
      if (cc.failed) {
        const missing = cc.code === 'ENOENT';
        throw new NatscopeError(
          `cannot build the lab image: ${missing ? 'no C compiler (cc)' : `cc -static ${s.name} failed: ${cc.stderr.trim().split('\n').pop() ?? ''}`}`,
          {
            hint: 'apt-get install gcc libc6-dev (static linking needs libc.a; npm run setup installs both)',
          },
        );
      }
    }
    log(`building the lab image ${tag} (natscope-net and pause, linked statically)`);
    await execa('tar', [
      '-C',
      join(dir, 'rootfs'),
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '-cf',
      join(dir, 'rootfs.tar'),
      'natscope-net',
      'pause',
    ]);
    await docker([
      'import',
      '--change',
      'ENTRYPOINT ["/pause"]',
      '--change',
      `LABEL ${IMAGE_LABEL}=lab`,
      join(dir, 'rootfs.tar'),
      tag,
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function ensureImage(log: (line: string) => void): Promise<string> {
  const tag = await imageTag();
  if (!(await imageExists(tag))) await buildImage(tag, log);
  return tag;
}

// Copies the image into every node's containerd (kind skips nodes that have it).
export async function loadIntoCluster(tag: string, cluster: string): Promise<void> {
  await run('kind', ['load', 'docker-image', tag, '--name', cluster]);
}
