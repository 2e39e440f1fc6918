// What the Vagrantfile configures, read by loading it with a recorder of
// Vagrant's DSL (vagrantfile.rb), and the command Vagrant's shell
// provisioner runs for it. Vagrant (plugins/provisioners/shell/
// provisioner.rb) reads the script's contents, uploads them alone to
// upload_path (default /tmp/vagrant-shell) and runs
// `chmod +x '<upload_path>' && <env> <upload_path> "arg" …` as root in the
// SSH user's login shell: the script's own folder is not there.

import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ROOT } from '../../helpers.js';

export interface ShellProvisioner {
  name: string;
  path: string;
  args: string[];
  env: Record<string, string>;
}

export interface SyncedFolder {
  host: string;
  guest: string;
}

export interface VagrantConfig {
  provisioners: ShellProvisioner[];
  syncedFolders: SyncedFolder[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] => {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Error(`not a list of strings: ${v}`);
  return v;
};

// The Vagrantfile as Vagrant would load it, with `env` as the host's environment.
export function vagrantConfig(env: Record<string, string> = {}): VagrantConfig {
  const json = execFileSync('ruby', [join(import.meta.dirname, 'vagrantfile.rb'), join(ROOT, 'Vagrantfile')], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
  });
  const configs: unknown = JSON.parse(json);
  if (!Array.isArray(configs) || configs.length !== 1 || !isRecord(configs[0])) throw new Error(json);
  const c = configs[0];
  const provisioners = (Array.isArray(c.provisioners) ? c.provisioners : []).map((p: unknown) => {
    if (!isRecord(p) || p.type !== 'shell' || typeof p.path !== 'string' || typeof p.name !== 'string')
      throw new Error(`not a shell provisioner with a path: ${JSON.stringify(p)}`);
    const e = isRecord(p.env) ? p.env : {};
    return {
      name: p.name,
      path: p.path,
      args: strings(p.args ?? []),
      env: Object.fromEntries(Object.entries(e).map(([k, v]) => [k, String(v)])),
    };
  });
  const syncedFolders = (Array.isArray(c.synced_folders) ? c.synced_folders : []).map((f: unknown) => {
    if (!isRecord(f) || typeof f.host !== 'string' || typeof f.guest !== 'string') throw new Error(JSON.stringify(f));
    return { host: f.host, guest: f.guest };
  });
  return { provisioners, syncedFolders };
}

// The provisioner's script uploaded as Vagrant does: its contents alone, at
// `uploadDir`/vagrant-shell, made executable; returns the command to run.
export function uploadAsVagrant(p: ShellProvisioner, uploadDir: string): string[] {
  mkdirSync(uploadDir, { recursive: true });
  const upload = join(uploadDir, 'vagrant-shell');
  // Vagrant replaces Windows line endings unless binary: true
  writeFileSync(upload, readFileSync(join(ROOT, p.path), 'utf8').replace(/\r\n?$/gm, '\n'));
  chmodSync(upload, 0o755);
  return [upload, ...p.args];
}
