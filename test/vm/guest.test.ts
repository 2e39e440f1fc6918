import { describe, expect, test } from 'vitest';
import { GUEST_NODE, guestArgv, guestEnv, guestFiles, guestScript } from '../../src/vm/guest.js';
import { GUEST_SCRIPT } from '../../src/vm/initramfs.js';

const request = {
  argv: ['/usr/bin/node', '/src/natscope/dist/src/main.js', 'trace', '--for', '2s'],
  ownRoot: false,
  execPath: '/usr/bin/node',
  hostEnv: { HOME: '/home/me', NATSCOPE_DEBUG: '1', NATSCOPE_CACHE: '/var/cache/natscope', NATSCOPE_QUIET: undefined },
  env: {},
  cwd: '/home/me/work dir',
  shares: ['/home/me/results'],
  readOnlyShares: [] as string[],
};

describe("what the micro-VM's guest is handed", () => {
  test('the guest script runs the command from NUL-separated arguments and records its exit code', () => {
    const g = guestScript();
    expect(g).toContain('mapfile -d \'\' -t ARGV < "$R/argv"');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the guest's bash, verbatim
    expect(g).toContain('"${ARGV[@]}" < /dev/ttyS1 > /dev/ttyS1 2> /dev/ttyS2');
    expect(g).toContain('echo $? > "$R/rc"');
    expect(g).toContain('echo o > /proc/sysrq-trigger');
  });

  test("natscope starting itself runs on the guest root's Node.js when the stack has a root of its own", () => {
    const argv = ['/opt/node-v20/bin/node', '/src/natscope/dist/src/main.js', 'agent'];
    expect(guestArgv(argv, true, '/opt/node-v20/bin/node')).toEqual([GUEST_NODE, ...argv.slice(1)]);
    // the host's root: this Node.js is there too
    expect(guestArgv(argv, false, '/opt/node-v20/bin/node')).toEqual(argv);
    // another command is left alone
    expect(guestArgv(['uname', '-r'], true, '/opt/node-v20/bin/node')).toEqual(['uname', '-r']);
  });

  test("natscope's own settings reach the guest, but not its cache folder, and the caller's environment wins", () => {
    const env = guestEnv(request.hostEnv, { TERM: 'xterm', EXTRA: 'x y' });
    expect(env.NATSCOPE_DEBUG).toBe('1');
    expect(env).not.toHaveProperty('NATSCOPE_CACHE');
    expect(env).not.toHaveProperty('NATSCOPE_QUIET');
    expect(env).not.toHaveProperty('HOME', '/home/me');
    expect(env.HOME).toBe('/root');
    expect(env.NATSCOPE_IN_VM).toBe('1');
    expect(env.TERM).toBe('xterm');
    expect(env.EXTRA).toBe('x y');
  });

  test('the run folder holds the script and NUL-separated lists that keep every other byte of an argument', () => {
    const files = guestFiles({ ...request, argv: ['printf', '%s\\n', 'it\'s a "quoted" $HOME; rm -rf /'] });
    expect(Object.keys(files).sort()).toEqual(
      [GUEST_SCRIPT, 'argv', 'cwd', 'env', 'link', 'ports', 'roshares', 'shares'].sort(),
    );
    expect(files[GUEST_SCRIPT]).toBe(guestScript());
    expect(files.argv).toBe('printf\0%s\\n\0it\'s a "quoted" $HOME; rm -rf /\0');
    expect(files.cwd).toBe('/home/me/work dir');
    expect(files.shares).toBe('/home/me/results\0');
    expect(files.roshares).toBe('');
    expect(files.ports).toBe('');
    expect(files.link).toBe('');
    expect(files.env?.split('\0')).toContain('NATSCOPE_DEBUG=1');
    expect(files.env?.endsWith('\0')).toBe(true);
  });

  test("under a stack's own root the argument list names the guest's Node.js and natscope's checkout is shared read-only", () => {
    const files = guestFiles({ ...request, ownRoot: true, readOnlyShares: ['/src/natscope'] });
    expect(files.argv?.split('\0')[0]).toBe(GUEST_NODE);
    expect(files.roshares).toBe('/src/natscope\0');
  });

  test('the virtio-serial ports to link are a NUL-separated list of names', () => {
    expect(guestFiles({ ...request, ports: ['natscope.out', 'natscope.err'] }).ports).toBe(
      'natscope.out\0natscope.err\0',
    );
  });

  test('a link to another micro-VM is a flag the script reads: non-empty when plugged in', () => {
    expect(guestFiles({ ...request, link: true }).link).toBe('1');
  });
});
