// Installs the Debian/Ubuntu packages a step needs, only those missing, so
// every setup path can run twice. Used by `natscope vm setup`; the
// shell bootstrap (scripts/setup.sh) does the same before Node exists.

import { execa } from 'execa';
import { NatscopeError } from '../errors.js';

export async function missingPackages(packages: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const pkg of packages) {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    const result = await execa('dpkg-query', ['-W', '-f=${Status}', pkg], { reject: false });
    if (!/install ok installed/.test(result.stdout)) missing.push(pkg);
  }
  return missing;
}

export async function ensurePackages(packages: string[], log: (line: string) => void): Promise<void> {
  const missing = await missingPackages(packages);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new NatscopeError(`missing packages: ${missing.join(' ')}`, {
      hint: `sudo apt-get install ${missing.join(' ')}`,
    });
  }
  log(`installing ${missing.join(' ')} (apt-get)`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    execa('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env, reject: false });
  let result = await install();
  if (result.exitCode !== 0) {
    // a fresh machine has no package lists yet
    await execa('apt-get', ['update', '-q'], { env, reject: false });
    result = await install();
  }
  if (result.exitCode !== 0) {
    const last = result.stderr.trim().split('\n').pop() ?? '';
    throw new NatscopeError(`apt-get could not install ${missing.join(' ')}: ${last}`, {
      hint: `run: sudo apt-get update && sudo apt-get install ${missing.join(' ')}`,
    });
  }
}
