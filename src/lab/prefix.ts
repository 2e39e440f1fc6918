// The prefix of every name a lab creates (namespaces, containers, files):
// checked once, the same way for both labs, before anything uses it.

import { NatscopeError } from '../errors.js';

// Every name a lab creates starts with this unless --prefix says otherwise.
export const DEFAULT_PREFIX = 'natscope-';

const PREFIX_PATTERN = /^[a-z0-9][a-z0-9-]{0,23}$/;

export const PREFIX_RULE = 'lower-case letters, digits and "-", up to 24 characters (default natscope-)';

export function isValidPrefix(prefix: string): boolean {
  return PREFIX_PATTERN.test(prefix);
}

export function checkPrefix(prefix: string): void {
  if (!isValidPrefix(prefix))
    throw new NatscopeError(`invalid prefix "${prefix}"`, { hint: `use ${PREFIX_RULE}`, exitCode: 2 });
}
