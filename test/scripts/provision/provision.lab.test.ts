// provision.sh run the way Vagrant runs it (root): its contents alone,
// uploaded to a temporary folder as vagrant-shell, run from another working
// directory with the arguments the Vagrantfile passes (read from the
// Vagrantfile itself), the project at /vagrant and the offline bundle at
// /natscope-bundle, as the Vagrantfile's synced folders put them.
//
// It runs in a mount and network namespace of its own (isolate.sh): only
// loopback, so provisioning with a bundle is proven to need no network; the
// folders it installs into are overlays whose writes land in the test's
// scratch folder; the inotify settings it raises are private copies. The
// bundle is built here (local-bundle.ts: real Node.js, npm packages and a
// real docker save; stand-ins for kind and kubectl, which cannot be
// downloaded here). The Docker engine is the test's own (dockerd.ts).
// Stubbed, because it cannot run on the build machines (kind needs
// privileged containers): `natscope lab up --lab kind` alone, recorded.

import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { BundleManifest } from '../../../src/lab/kind/bundle-manifest.js';
import { hostArch } from '../../../src/lab/kind/bundle.js';
import { NODE_IMAGE_TAG, NODE_MAJOR } from '../../../src/lab/kind/versions.js';
import { isRoot, ROOT } from '../../helpers.js';
import { startDockerd, type TestDockerd } from '../../lab/kind/dockerd.js';
import { corruptCopy, makeLocalBundle } from './local-bundle.js';
import { uploadAsVagrant, vagrantConfig, type VagrantConfig } from './vagrant.js';

const MOUNT_POINTS = ['/vagrant', '/natscope-bundle'];
// what provisioning writes to; everything else it only reads
const OVERLAYS = ['/etc', '/usr/local', '/opt', '/var/lib', '/var/cache/natscope', '/root', '/home'];
const PRIVATE_FILES = ['/proc/sys/fs/inotify/max_user_watches', '/proc/sys/fs/inotify/max_user_instances'];
const ISOLATE = join(import.meta.dirname, 'isolate.sh');

let tmp: string;
let dockerd: TestDockerd;
let bundleDir: string;
let manifest: BundleManifest;
let vagrant: VagrantConfig;
const made: string[] = [];

const upper = (scratch: string, dir: string, ...rest: string[]) =>
  join(scratch, 'upper', dir.replaceAll('/', '_'), ...rest);

// `natscope lab up --lab kind` recorded; every other natscope command is the installed one.
function labUpStub(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'natscope'),
    `#!/bin/bash
# natscope lab up --lab kind needs a kind cluster (privileged containers,
# refused on the build machines): recorded, not run.
if [ "$*" = "lab up --lab kind" ]; then
  echo "$*" >> "$(dirname "$0")/lab-up.calls"
  echo "[lab up] (stand-in) the kind lab is not brought up in this test"
  exit 0
fi
exec /usr/local/bin/natscope "$@"
`,
    { mode: 0o755 },
  );
}

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

// One provisioning, as Vagrant would run it, in a namespace whose writes go to `scratch`.
async function provisionAsVagrant(scratch: string, bundle: string): Promise<Run> {
  const p = vagrant.provisioners[0]!;
  const argv = uploadAsVagrant(p, join(scratch, 'upload'));
  const stub = join(scratch, 'stub');
  labUpStub(stub);
  const cwd = join(scratch, 'ssh-home');
  mkdirSync(cwd, { recursive: true });
  mkdirSync(join(scratch, 'tmp'), { recursive: true });
  const folder = (guest: string) => vagrant.syncedFolders.find((f) => f.guest === guest)!;
  const isolate = [
    ...OVERLAYS.flatMap((d) => ['--overlay', d]),
    '--bind',
    ROOT,
    folder('/vagrant').guest,
    '--bind',
    bundle,
    folder('/natscope-bundle').guest,
    ...PRIVATE_FILES.flatMap((f) => ['--private-file', f]),
    '--useradd',
    'vagrant',
  ];
  const started = performance.now();
  const r = await execa(
    'unshare',
    ['--mount', '--net', '--propagation', 'private', '--', 'bash', ISOLATE, scratch, ...isolate, '--', ...argv],
    {
      cwd,
      reject: false,
      extendEnv: false,
      env: {
        PATH: `${stub}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
        HOME: '/root',
        LANG: 'C.UTF-8',
        TMPDIR: join(scratch, 'tmp'),
        ...dockerd.env,
        ...p.env,
      },
      timeout: 900_000,
    },
  );
  return {
    exitCode: r.exitCode ?? -1,
    stdout: String(r.stdout),
    stderr: String(r.stderr),
    seconds: (performance.now() - started) / 1000,
  };
}

const docker = (args: string[]) => execa('docker', args, { env: { ...process.env, ...dockerd.env }, reject: false });

describe.skipIf(!isRoot)('provision.sh as Vagrant runs it, from an offline bundle, with no network', () => {
  beforeAll(async () => {
    const taken = MOUNT_POINTS.filter((m) => existsSync(m));
    if (taken.length > 0) throw new Error(`${taken.join(', ')} exist on this machine: the test needs them free`);
    tmp = await mkdtemp(join(tmpdir(), 'natscope-provision-'));
    dockerd = await startDockerd();
    bundleDir = join(tmp, 'bundle');
    manifest = await makeLocalBundle({
      dir: bundleDir,
      scratch: join(tmp, 'build'),
      arch: hostArch(),
      dockerEnv: dockerd.env,
    });
    vagrant = vagrantConfig({ VAGRANT_NATSCOPE_BUNDLE: bundleDir });
    for (const m of MOUNT_POINTS) {
      mkdirSync(m);
      made.push(m);
    }
  }, 600_000);

  afterAll(async () => {
    for (const m of made) rmdirSync(m);
    await dockerd?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 120_000);

  test('the Vagrantfile passes the project, the install folder, the user, --at-boot and the bundle, and syncs both folders', () => {
    expect(vagrant.provisioners).toHaveLength(1);
    expect(vagrant.provisioners[0]!.path).toBe('scripts/provision/provision.sh');
    expect(vagrant.provisioners[0]!.args).toEqual([
      '--source',
      '/vagrant',
      '--install-dir',
      '/opt/natscope',
      '--user',
      'vagrant',
      '--at-boot',
      '--bundle',
      '/natscope-bundle',
    ]);
    expect(vagrant.syncedFolders).toEqual([
      { host: '.', guest: '/vagrant' },
      { host: bundleDir, guest: '/natscope-bundle' },
    ]);
  });

  let first: Run;
  const scratch = () => join(tmp, 'vm');

  test('provisions everything from the bundle alone: every step, no network, nothing outside the namespace', async () => {
    first = await provisionAsVagrant(scratch(), bundleDir);
    expect(first.stderr + first.stdout).not.toMatch(/provision: /);
    expect(first.exitCode).toBe(0);
    for (let n = 1; n <= 9; n++) expect(first.stdout).toMatch(new RegExp(`\\] ${n}/9 `));
    expect(first.stdout).toContain(`offline bundle /natscope-bundle (checksums verified)`);
    expect(first.stdout).toContain(`${NODE_IMAGE_TAG} loaded from the bundle (${manifest.nodeImageId})`);
    expect(first.stdout).toMatch(
      new RegExp(`Node\\.js ${manifest.nodejsVersion.replaceAll('.', '\\.')} at /usr/local/bin/node`),
    );
    expect(first.stdout).toContain('blackhole 10.96.0.0/16');
    expect(first.stdout).toContain('natscope-kind-lab.service enabled');
    expect(first.stdout).toMatch(/done\.\n/);
  }, 900_000);

  test('installs kind and kubectl from the bundle, Node.js from its tarball, natscope built in /opt/natscope and on PATH', () => {
    const s = scratch();
    expect(readFileSync(upper(s, '/usr/local', 'bin', 'kind'))).toEqual(
      readFileSync(join(bundleDir, manifest.kindFile)),
    );
    expect(readFileSync(upper(s, '/usr/local', 'bin', 'kubectl'))).toEqual(
      readFileSync(join(bundleDir, manifest.kubectlFile)),
    );
    const nodeDir = manifest.nodejsFile.replace(/\.tar\.xz$/, '');
    expect(readlinkSync(upper(s, '/usr/local', 'bin', 'node'))).toBe(`/usr/local/lib/nodejs/${nodeDir}/bin/node`);
    expect(readlinkSync(upper(s, '/usr/local', 'bin', 'npm'))).toBe(`/usr/local/lib/nodejs/${nodeDir}/bin/npm`);
    expect(manifest.nodejsVersion.startsWith(`v${NODE_MAJOR}.`)).toBe(true);
    expect(readlinkSync(upper(s, '/usr/local', 'bin', 'natscope'))).toBe('/opt/natscope/dist/src/main.js');
    expect(existsSync(upper(s, '/opt', 'natscope', 'dist', 'src', 'main.js'))).toBe(true);
    expect(existsSync(upper(s, '/opt', 'natscope', 'build', 'natscope-net'))).toBe(true);
    // npm ci from the bundle's cache: the lock file's packages, this platform's optional ones
    const lock = JSON.parse(readFileSync(upper(s, '/opt', 'natscope', 'node_modules', '.package-lock.json'), 'utf8'));
    expect(Object.keys(lock.packages)).toContain('node_modules/execa');
    expect(
      existsSync(upper(s, '/opt', 'natscope', 'node_modules', '@typescript', `typescript-linux-${process.arch}`)),
    ).toBe(true);
    // the project's own files were copied, not its host-built ones
    expect(existsSync(upper(s, '/opt', 'natscope', '.git'))).toBe(false);
  });

  test('loads the node image into Docker under the pinned tag, with the image ID the manifest names', async () => {
    const id = await docker(['image', 'inspect', '--format', '{{.Id}}', NODE_IMAGE_TAG]);
    expect(id.stdout.trim()).toBe(manifest.nodeImageId);
  });

  test('blackholes the Service CIDR, and the boot unit adds it again before re-staging the lab', () => {
    const routes = JSON.parse(readFileSync(join(scratch(), 'blackhole-routes.json'), 'utf8'));
    expect(routes).toEqual([{ type: 'blackhole', dst: '10.96.0.0/16', flags: [] }]);
    const unit = readFileSync(upper(scratch(), '/etc', 'systemd', 'system', 'natscope-kind-lab.service'), 'utf8');
    expect(unit).toMatch(/^ExecStartPre=\/\S*\/ip route replace blackhole 10\.96\.0\.0\/16$/m);
    expect(unit).toContain('ExecStart=/usr/local/bin/natscope lab up --lab kind');
    expect(
      readlinkSync(
        upper(scratch(), '/etc', 'systemd', 'system', 'multi-user.target.wants', 'natscope-kind-lab.service'),
      ),
    ).toBe('/etc/systemd/system/natscope-kind-lab.service');
  });

  test("raises the inotify limits kind needs, gives the user Docker and the lab's kubeconfig, and asks for the lab once", () => {
    expect(readFileSync(upper(scratch(), '/etc', 'sysctl.d', '99-natscope-kind.conf'), 'utf8')).toMatch(
      /^fs\.inotify\.max_user_watches = (\d+)\nfs\.inotify\.max_user_instances = (\d+)\n$/,
    );
    const files = join(scratch(), 'files');
    expect(Number(readFileSync(join(files, '_proc_sys_fs_inotify_max_user_watches'), 'utf8'))).toBeGreaterThanOrEqual(
      524288,
    );
    expect(Number(readFileSync(join(files, '_proc_sys_fs_inotify_max_user_instances'), 'utf8'))).toBeGreaterThanOrEqual(
      512,
    );
    expect(readFileSync(upper(scratch(), '/etc', 'group'), 'utf8')).toMatch(/^docker:x:\d+:(.*,)?vagrant(,.*)?$/m);
    expect(readFileSync(upper(scratch(), '/home', 'vagrant', '.kube', 'config'), 'utf8')).toContain('kind-natscope');
    expect(readFileSync(join(scratch(), 'stub', 'lab-up.calls'), 'utf8')).toBe('lab up --lab kind\n');
  });

  test('a second run (vagrant provision) succeeds, reuses what is installed and does not load the image again', async () => {
    const again = await provisionAsVagrant(scratch(), bundleDir);
    expect(again.stderr + again.stdout).not.toMatch(/provision: /);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain(`${NODE_IMAGE_TAG} already loaded (${manifest.nodeImageId})`);
    expect(again.seconds).toBeLessThan(first.seconds);
    expect(readFileSync(join(scratch(), 'stub', 'lab-up.calls'), 'utf8')).toBe(
      'lab up --lab kind\nlab up --lab kind\n',
    );
  }, 900_000);

  test('a corrupt bundle stops provisioning before it installs anything: one line saying which file, and the fix', async () => {
    const corrupt = join(tmp, 'corrupt-bundle');
    await corruptCopy(bundleDir, corrupt, manifest.kindFile);
    const s = join(tmp, 'vm-corrupt');
    const r = await provisionAsVagrant(s, corrupt);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `provision: the bundle's ${manifest.kindFile} does not match its SHA256SUMS (a corrupt or incomplete copy)`,
      "  fix: copy the bundle again from the instructor's copy (or make a new one: natscope workshop bundle DIR), or provision without --bundle",
    ]);
    expect(existsSync(upper(s, '/usr/local', 'bin'))).toBe(false);
    expect(existsSync(upper(s, '/opt', 'natscope'))).toBe(false);
  }, 300_000);
});
