// natscope's own version, as its package.json says: one reader for the CLI's
// --version and the workshop bundle's manifest.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './paths.js';

export function natscopeVersion(): string {
  const value: unknown = JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8'));
  const v = typeof value === 'object' && value !== null && 'version' in value ? value.version : undefined;
  return typeof v === 'string' ? v : 'unknown';
}
