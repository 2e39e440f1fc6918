// The Vagrantfile, loaded with a recorder of Vagrant's DSL (vagrantfile.rb):
// what it asks provisioning to do with and without an offline bundle, and
// its refusal of a bundle that is not one.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { ROOT } from '../../helpers.js';
import { vagrantConfig } from './vagrant.js';

const BASE = ['--source', '/vagrant', '--install-dir', '/opt/natscope', '--user', 'vagrant', '--at-boot'];

describe('the Vagrantfile', () => {
  test('runs provision.sh with the project at /vagrant, built in /opt/natscope, for the vagrant user, re-staged at boot', () => {
    const c = vagrantConfig();
    expect(c.provisioners).toEqual([{ name: 'natscope', path: 'scripts/provision/provision.sh', args: BASE, env: {} }]);
    expect(c.syncedFolders).toEqual([{ host: '.', guest: '/vagrant' }]);
  });

  test('with VAGRANT_NATSCOPE_BUNDLE it syncs the bundle to /natscope-bundle and passes --bundle', () => {
    const dir = mkdtempSync(join(tmpdir(), 'natscope-vagrant-bundle-'));
    try {
      writeFileSync(join(dir, 'SHA256SUMS'), '');
      const c = vagrantConfig({ VAGRANT_NATSCOPE_BUNDLE: dir });
      expect(c.provisioners[0]!.args).toEqual([...BASE, '--bundle', '/natscope-bundle']);
      expect(c.syncedFolders).toEqual([
        { host: '.', guest: '/vagrant' },
        { host: dir, guest: '/natscope-bundle' },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refuses a VAGRANT_NATSCOPE_BUNDLE that is not a bundle, with the fix, before Vagrant does anything', () => {
    const r = spawnSync('ruby', [join(import.meta.dirname, 'vagrantfile.rb'), join(ROOT, 'Vagrantfile')], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, VAGRANT_NATSCOPE_BUNDLE: '/nonexistent/bundle' },
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      'VAGRANT_NATSCOPE_BUNDLE=/nonexistent/bundle: /nonexistent/bundle is not a natscope bundle (no SHA256SUMS)',
      '  fix: make one with `natscope workshop bundle DIR` on a connected machine, or unset VAGRANT_NATSCOPE_BUNDLE',
    ]);
  });
});
