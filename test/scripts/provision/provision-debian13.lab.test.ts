// provision.sh run for real on a Debian 13 root (the closest stack to the
// workshop's Ubuntu 24.04 this network reaches), the way Vagrant runs it:
// its contents alone uploaded to /tmp/vagrant-shell, run as root from the
// SSH user's home with the Vagrantfile's own arguments, the project at
// /vagrant (synced as the libvirt provider's rsync does, with the
// Vagrantfile's excludes) and the offline bundle at /natscope-bundle.
//
// The root is a Debian 13 root in a chroot on this host's kernel
// (chroot-root.sh): a writable overlay over natscope's cached debian13 root
// filesystem (debootstrap minbase; the cache is only read), in mount, network
// and PID namespaces of its own. Its apt steps are real: apt-get downloads
// from Debian's archive (http://deb.debian.org/debian trixie main) and
// installs with dpkg. The root has no network but a relay to the test's
// proxy, which lets through deb.debian.org alone and records every request:
// what needs other hosts (kind's release, the node image, kubectl's and
// NodeSource's repositories, nodejs.org) comes from the bundle, built here
// (local-bundle.ts: real Node.js 24 and npm packages and a real docker save;
// stand-ins for kind and kubectl). The Docker engine is the test's own
// (dockerd.ts), its socket bound in as /run/docker.sock.
// Made like a Vagrant box before provisioning: systemd's package (systemctl;
// nothing boots it in a chroot), the vagrant user, and policy-rc.d, Debian's
// way of saying that installing a package must not start its service here.
// Not run: `natscope lab up --lab kind` (kind needs privileged containers),
// recorded by a stand-in instead.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { BundleManifest } from '../../../src/lab/kind/bundle-manifest.js';
import { NODE_IMAGE_TAG, NODE_MAJOR } from '../../../src/lab/kind/versions.js';
import { ensureRootfs } from '../../../src/vm/rootfs.js';
import { isRoot, ROOT } from '../../helpers.js';
import { startDockerd, type TestDockerd } from '../../lab/kind/dockerd.js';
import { type ArchiveProxy, startArchiveProxy } from './archive-proxy.js';
import { makeLocalBundle } from './local-bundle.js';
import { uploadAsVagrant, vagrantConfig, type VagrantConfig } from './vagrant.js';

const CHROOT = join(import.meta.dirname, 'chroot-root.sh');
const ARCHIVE_HOST = 'deb.debian.org';
// the proxy, as the root sees it (its own loopback, relayed to the test)
const PROXY_PORT = '3142';
const STUB_DIR = '/run/natscope-test/stub';
const PRIVATE_FILES = ['/proc/sys/fs/inotify/max_user_watches', '/proc/sys/fs/inotify/max_user_instances'];
// what provision.sh itself installs with apt (its first two steps); on
// Debian 13 the Docker client is docker-cli, which docker.io only recommends
const PROVISION_PACKAGES = ['ca-certificates', 'curl', 'gnupg', 'rsync', 'xz-utils', 'docker.io', 'docker-cli'];
const PATH = `${STUB_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

let tmp: string;
let lower: string;
let lowerStatus: string;
let dockerd: TestDockerd;
let proxy: ArchiveProxy;
let bundleDir: string;
let projectDir: string;
let manifest: BundleManifest;
let vagrant: VagrantConfig;
const hostInotify: Record<string, string> = {};

const scratch = () => join(tmp, 'root');
const upper = (...parts: string[]) => join(scratch(), 'upper', ...parts);
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

interface InRoot {
  cwd?: string;
  env?: Record<string, string>;
  // the relay to the archive proxy (apt's only way out)
  archive?: boolean;
  binds?: string[];
  // where the namespace's blackhole routes go after the command
  routes?: string;
}

// A command inside the Debian 13 root; its writes persist in scratch()/upper.
async function inRoot(command: string[], o: InRoot = {}): Promise<Run> {
  const started = performance.now();
  const r = await execa(
    'unshare',
    [
      '--mount',
      '--net',
      '--pid',
      '--fork',
      '--kill-child',
      '--propagation',
      'private',
      '--',
      'bash',
      CHROOT,
      scratch(),
      lower,
      ...PRIVATE_FILES.flatMap((f) => ['--private-file', f]),
      ...(o.archive ? ['--relay', PROXY_PORT, proxy.socket] : []),
      ...(o.binds ?? []),
      ...(o.cwd ? ['--cwd', o.cwd] : []),
      ...(o.routes ? ['--routes', o.routes] : []),
      '--',
      ...command,
    ],
    {
      reject: false,
      extendEnv: false,
      env: {
        PATH,
        HOME: '/root',
        LANG: 'C.UTF-8',
        ...(o.archive ? { http_proxy: `http://127.0.0.1:${PROXY_PORT}` } : {}),
        ...o.env,
      },
      timeout: 1_200_000,
    },
  );
  return {
    exitCode: r.exitCode ?? -1,
    stdout: String(r.stdout),
    stderr: String(r.stderr),
    seconds: (performance.now() - started) / 1000,
  };
}

// the end of what a failed run printed, for the assertion's message
const tail = (r: Run) => `${r.stdout.split('\n').slice(-15).join('\n')}\n${r.stderr.split('\n').slice(-15).join('\n')}`;

async function mustInRoot(command: string[], o: InRoot = {}): Promise<string> {
  const r = await inRoot(command, o);
  if (r.exitCode !== 0) throw new Error(`${command.join(' ')} in the Debian 13 root: exit ${r.exitCode}\n${r.stderr}`);
  return r.stdout;
}

// dpkg's own answer for each package: "name version status"
// (dpkg-query's own ${field} format, not a template)
// biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format
const DPKG_FORMAT = '-f=${Package} ${Version} ${db:Status-Abbrev}\\n';
async function dpkgStatus(packages: string[]): Promise<Map<string, string>> {
  const r = await inRoot(['dpkg-query', '-W', DPKG_FORMAT, ...packages]);
  const found = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const [name, version, status] = line.trim().split(/\s+/);
    if (name && version && status) found.set(name, `${version} ${status}`);
  }
  return found;
}

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

// One provisioning as Vagrant runs it; the proxy's requests it made are returned with it.
async function provisionAsVagrant(): Promise<Run & { requests: ArchiveProxy['requests'] }> {
  const p = vagrant.provisioners[0]!;
  // Vagrant's upload_path, /tmp/vagrant-shell: the root's /tmp is scratch()/tmp
  const [, ...args] = uploadAsVagrant(p, join(scratch(), 'tmp'));
  const stub = join(tmp, 'stub');
  labUpStub(stub);
  const folder = (guest: string) => vagrant.syncedFolders.find((f) => f.guest === guest)!.guest;
  const before = proxy.requests.length;
  const r = await inRoot(['/tmp/vagrant-shell', ...args], {
    archive: true,
    cwd: '/home/vagrant',
    routes: join(tmp, 'blackhole-routes.json'),
    env: { NATSCOPE_PROVISION_ANY_OS: '1', ...p.env },
    binds: [
      '--bind',
      projectDir,
      folder('/vagrant'),
      '--bind',
      bundleDir,
      folder('/natscope-bundle'),
      '--bind-rw',
      join(dockerd.dir, 'docker.sock'),
      '/run/docker.sock',
      '--bind-rw',
      stub,
      STUB_DIR,
    ],
  });
  return { ...r, requests: proxy.requests.slice(before) };
}

const docker = (args: string[]) => execa('docker', args, { env: { ...process.env, ...dockerd.env }, reject: false });

describe.skipIf(!isRoot)(
  'provision.sh on a Debian 13 root, as Vagrant runs it: apt from Debian’s archive, the rest from the bundle',
  () => {
    beforeAll(async () => {
      // natscope's cached Debian 13 root filesystem (built once: natscope vm setup --stack debian13)
      lower = await ensureRootfs('debian13', () => {});
      lowerStatus = sha256(join(lower, 'var', 'lib', 'dpkg', 'status'));
      for (const f of PRIVATE_FILES) hostInotify[f] = readFileSync(f, 'utf8');
      tmp = await mkdtemp(join(tmpdir(), 'natscope-provision13-'));
      dockerd = await startDockerd();
      proxy = await startArchiveProxy(join(tmp, 'archive.sock'), ARCHIVE_HOST);
      bundleDir = join(tmp, 'bundle');
      manifest = await makeLocalBundle({
        dir: bundleDir,
        scratch: join(tmp, 'build'),
        arch: 'amd64',
        dockerEnv: dockerd.env,
      });
      vagrant = vagrantConfig({ VAGRANT_NATSCOPE_BUNDLE: bundleDir });
      // the project as the libvirt provider syncs it: rsync with the Vagrantfile's excludes
      projectDir = join(tmp, 'vagrant');
      await execa('rsync', [
        '-a',
        ...['.git', 'node_modules', 'dist', 'build', '.vagrant'].flatMap((e) => ['--exclude', `/${e}`]),
        `${ROOT}/`,
        `${projectDir}/`,
      ]);
      // the box: systemctl, the vagrant user, no services started by package installs
      const box = await inRoot(
        [
          'bash',
          '-euc',
          `printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends systemd >/dev/null
useradd --create-home --shell /bin/bash vagrant`,
        ],
        { archive: true },
      );
      if (box.exitCode !== 0) throw new Error(`making the Debian 13 root a box failed:\n${box.stderr}`);
    }, 900_000);

    afterAll(async () => {
      // every mount lived in the namespaces of chroot-root.sh, gone with its last process
      await proxy?.close();
      await dockerd?.stop();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    }, 120_000);

    let first: Run & { requests: ArchiveProxy['requests'] };
    let before: Map<string, string>;

    test('the Debian 13 root starts with none of what provisioning installs: no Docker, curl, gnupg, rsync, ca-certificates, Node.js 24', async () => {
      expect(readFileSync(join(lower, 'etc', 'os-release'), 'utf8')).toMatch(/^VERSION_ID="13"$/m);
      before = await dpkgStatus([...PROVISION_PACKAGES, 'gcc', 'nodejs']);
      for (const p of PROVISION_PACKAGES) expect(before.get(p) ?? 'absent').not.toMatch(/ ii$/);
      expect(before.get('gcc') ?? 'absent').not.toMatch(/ ii$/);
      expect(await mustInRoot(['node', '--version'])).toMatch(/^v20\./);
    });

    test('provisions the root: every step, apt from Debian’s archive alone, the rest from the bundle', async () => {
      first = await provisionAsVagrant();
      expect(first.stderr + first.stdout).not.toMatch(/provision: /);
      expect(first.exitCode, tail(first)).toBe(0);
      for (let n = 1; n <= 9; n++) expect(first.stdout).toMatch(new RegExp(`\\] ${n}/9 `));
      expect(first.stdout).toContain('Debian GNU/Linux 13 (trixie), amd64');
      expect(first.stdout).toContain('offline bundle /natscope-bundle (checksums verified)');
      expect(first.stdout).toMatch(/done\.\n/);
      // apt really ran: the packages it fetched, every one from Debian's archive, none refused
      const debs = first.requests.filter((r) => r.path.endsWith('.deb')).map((r) => r.path.split('/').pop()!);
      for (const p of PROVISION_PACKAGES) expect(debs.some((d) => d.startsWith(`${p}_`))).toBe(true);
      expect(first.requests.filter((r) => r.host !== ARCHIVE_HOST || r.status !== 200)).toEqual([]);
    }, 1_200_000);

    test('dpkg has docker.io and its client, ca-certificates, curl, gnupg and rsync installed, and setup.sh’s C compiler', async () => {
      const after = await dpkgStatus([...PROVISION_PACKAGES, 'gcc', 'bpftrace']);
      for (const p of [...PROVISION_PACKAGES, 'gcc', 'bpftrace']) expect(after.get(p)).toMatch(/ ii$/);
      expect(await mustInRoot(['docker', '--version'])).toMatch(/^Docker version \d+\./);
      expect(await mustInRoot(['curl', '--version'])).toMatch(/^curl \d+\./);
    });

    test('Node.js 24 comes from the bundle’s tarball under /usr/local and runs in the root; Debian’s Node.js 20 stays', async () => {
      const name = manifest.nodejsFile.replace(/\.tar\.xz$/, '');
      expect((await mustInRoot(['readlink', '-f', '/usr/local/bin/node'])).trim()).toBe(
        `/usr/local/lib/nodejs/${name}/bin/node`,
      );
      expect((await mustInRoot(['node', '--version'])).trim()).toBe(manifest.nodejsVersion);
      expect(manifest.nodejsVersion.startsWith(`v${NODE_MAJOR}.`)).toBe(true);
      expect((await mustInRoot(['/usr/bin/node', '--version'])).trim()).toMatch(/^v20\./);
    });

    test('natscope is built in /opt/natscope and `natscope --version` runs inside the root', async () => {
      const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
      expect((await mustInRoot(['natscope', '--version'])).trim()).toBe(pkg.version);
      expect((await mustInRoot(['readlink', '/usr/local/bin/natscope'])).trim()).toBe('/opt/natscope/dist/src/main.js');
      // the lab's C helper, compiled in the root by its own gcc
      expect(existsSync(upper('opt', 'natscope', 'build', 'natscope-net'))).toBe(true);
      expect(existsSync(upper('opt', 'natscope', '.git'))).toBe(false);
    });

    test('kind and kubectl are the bundle’s, and the node image is loaded into Docker under the pinned tag', async () => {
      expect(sha256(upper('usr', 'local', 'bin', 'kind'))).toBe(sha256(join(bundleDir, manifest.kindFile)));
      expect(sha256(upper('usr', 'local', 'bin', 'kubectl'))).toBe(sha256(join(bundleDir, manifest.kubectlFile)));
      expect(await mustInRoot(['kind', 'version'])).toContain(manifest.kindVersion);
      const id = await docker(['image', 'inspect', '--format', '{{.Id}}', NODE_IMAGE_TAG]);
      expect(id.stdout.trim()).toBe(manifest.nodeImageId);
    });

    test('the inotify limits are raised, never lowered, in the root only; the Service CIDR is blackholed; the boot unit is enabled', () => {
      const conf = readFileSync(upper('etc', 'sysctl.d', '99-natscope-kind.conf'), 'utf8');
      const m = /^fs\.inotify\.max_user_watches = (\d+)\nfs\.inotify\.max_user_instances = (\d+)\n$/.exec(conf);
      expect(m).not.toBeNull();
      const watches = Number(hostInotify[PRIVATE_FILES[0]!]);
      const instances = Number(hostInotify[PRIVATE_FILES[1]!]);
      expect(Number(m![1])).toBe(Math.max(watches, 524288));
      expect(Number(m![2])).toBe(Math.max(instances, 512));
      const files = join(scratch(), 'files');
      expect(Number(readFileSync(join(files, '_proc_sys_fs_inotify_max_user_watches'), 'utf8'))).toBe(Number(m![1]));
      expect(Number(readFileSync(join(files, '_proc_sys_fs_inotify_max_user_instances'), 'utf8'))).toBe(Number(m![2]));
      for (const f of PRIVATE_FILES) expect(readFileSync(f, 'utf8')).toBe(hostInotify[f]);
      expect(JSON.parse(readFileSync(join(tmp, 'blackhole-routes.json'), 'utf8'))).toEqual([
        { type: 'blackhole', dst: '10.96.0.0/16', flags: [] },
      ]);
      // an absolute link, read as it is (on this host it would point outside the root)
      expect(
        readlinkSync(upper('etc', 'systemd', 'system', 'multi-user.target.wants', 'natscope-kind-lab.service')),
      ).toBe('/etc/systemd/system/natscope-kind-lab.service');
      expect(readFileSync(upper('etc', 'group'), 'utf8')).toMatch(/^docker:x:\d+:(.*,)?vagrant(,.*)?$/m);
      expect(readFileSync(join(tmp, 'stub', 'lab-up.calls'), 'utf8')).toBe('lab up --lab kind\n');
    });

    test('a second run (vagrant provision) succeeds quicker, downloads and installs nothing, loads nothing again', async () => {
      const installed = await dpkgStatus([]);
      const again = await provisionAsVagrant();
      expect(again.stderr + again.stdout).not.toMatch(/provision: /);
      expect(again.exitCode, tail(again)).toBe(0);
      expect(again.stdout).toContain(`${NODE_IMAGE_TAG} already loaded (${manifest.nodeImageId})`);
      expect(again.requests.filter((r) => r.path.endsWith('.deb'))).toEqual([]);
      expect(await dpkgStatus([])).toEqual(installed);
      expect(again.seconds).toBeLessThan(first.seconds);
      expect(readFileSync(join(tmp, 'stub', 'lab-up.calls'), 'utf8')).toBe('lab up --lab kind\nlab up --lab kind\n');
    }, 1_200_000);

    test('the cached Debian 13 root filesystem is only read: its dpkg database is unchanged', () => {
      expect(sha256(join(lower, 'var', 'lib', 'dpkg', 'status'))).toBe(lowerStatus);
    });
  },
);
