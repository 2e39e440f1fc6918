// What the command definitions share: the options several commands take,
// the parsers that check an option's value once (so a command receives
// typed, valid options), and how an action hands back its exit code.

import { InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { PLACEMENTS } from '../agent/placement.js';
import { NatscopeError } from '../errors.js';
import { IPTABLES_BACKENDS, LAB_BACKENDS, PROXY_MODES } from '../events/types.js';
import { DEFAULT_PREFIX, PREFIX_RULE, isValidPrefix } from '../lab/prefix.js';
import { DEFAULT_DETAIL_PER_SECOND, parseDetail } from '../tracer/detail.js';
import { ATTACH_TIMEOUT_MS, VM_ATTACH_TIMEOUT_MS } from '../tracer/outcome.js';

// An action's exit code, for the entry point to exit with.
export type SetExit = (code: number) => void;

// A NatscopeError from a shared parser, as commander's own "invalid argument" line.
function asArgumentError<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      if (error instanceof NatscopeError) throw new InvalidArgumentError(`${error.message}; ${error.hint ?? ''}`);
      throw error;
    }
  };
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError('expected a positive number.');
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number ≥ 0.');
  return n;
}

// A whole number in [min, max], written as digits.
export function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    }
    return n;
  };
}

function prefix(value: string): string {
  if (!isValidPrefix(value)) throw new InvalidArgumentError(`use ${PREFIX_RULE}.`);
  return value;
}

export const prefixOption = (description = 'name prefix of everything the lab creates') =>
  new Option('--prefix <prefix>', description).argParser(prefix).default(DEFAULT_PREFIX);

export const vmOption = () =>
  new Option(
    '--vm <mode>',
    'where the kernel side runs: auto (native if kernel function probes attach, else the micro-VM), on, off; the micro-VM runs the stack NATSCOPE_VM_STACK names (debian12, the default, or debian13)',
  )
    .choices(PLACEMENTS)
    .default('auto' as const);

export const labOption = () =>
  new Option('--lab <backend>', 'which lab: netns (one Linux host) or kind (a kind cluster)')
    .choices(LAB_BACKENDS)
    .default('netns' as const);

// the iptables kube-proxy's iptables-mode rules are written with (the netns lab's; default: this host's)
export const iptablesOption = () =>
  new Option(
    '--iptables <backend>',
    "the iptables the lab's nodes use: nft or legacy (default: this host's iptables); trace --rules reads legacy rules with xt TRACE",
  ).choices(IPTABLES_BACKENDS);

export const proxyModeOption = () =>
  new Option('--proxy-mode <mode>', "kube-proxy's mode on the lab's nodes: iptables or nftables")
    .choices(PROXY_MODES)
    .default('iptables' as const);

// events per CPU and second reported whole; past it the probes only count
export const detailOption = () =>
  new Option(
    '--detail <n|all>',
    `events per CPU and second reported whole (in tens: kept per tenth of a second), the rest counted in the kernel; drops and rewrites have their own (default ${DEFAULT_DETAIL_PER_SECOND}; all: every event)`,
  ).argParser(asArgumentError(parseDetail));

export const attachTimeoutOption = (description = 'how long bpftrace may take to attach') =>
  new Option('--attach-timeout <seconds>', description).argParser(positiveNumber);

// the option of the commands that trace the lab (trace, tui, demo): no default of its own, so each place has its own
export const labAttachTimeoutOption = () =>
  attachTimeoutOption(
    `how long bpftrace may take to attach (default: ${ATTACH_TIMEOUT_MS / 1000} s on this host, ${VM_ATTACH_TIMEOUT_MS / 1000} s in the micro-VM)`,
  );
