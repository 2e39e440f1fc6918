// Which bpftrace natscope is talking to, and the one place that knows how
// the versions it supports (0.17 to 0.23) differ. Facts from bpftrace's
// CHANGELOG and source for 0.18-0.23; 0.17.0 (Debian 12) and 0.23.2
// (Debian 13) are also run by the tests, in the micro-VM.

import { constants as osConstants } from 'node:os';
import { execa } from 'execa';
import { NatscopeError } from '../errors.js';

export interface BpftraceVersion {
  major: number;
  minor: number;
  patch: number;
}

// Older ones lack what the probes use (kfunc on module functions, tuples of
// uint64 in maps as the parser reads them): never run, so refused.
export const OLDEST_SUPPORTED: BpftraceVersion = { major: 0, minor: 17, patch: 0 };
// The newest minor release whose changes natscope has read and adapted to.
export const NEWEST_KNOWN: BpftraceVersion = { major: 0, minor: 23, patch: 99 };
// Versions the test suite runs natscope's probes on (the micro-VM stacks).
export const TESTED_VERSIONS: readonly string[] = Object.freeze(['0.17.0', '0.23.2']);

export function formatVersion(v: BpftraceVersion): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

export function compareVersions(a: BpftraceVersion, b: BpftraceVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

// `bpftrace --version` prints "bpftrace v0.23.2" (distributions may add a
// suffix: "v0.20.2-dirty", "v0.17.0-3").
export function parseBpftraceVersion(text: string): BpftraceVersion | null {
  const m = /\bv?(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

// `bpftrace --info` has a Build section with "LLVM: 19.1.7" (0.23) or
// "LLVM: 14.0.6" (0.17).
export function parseLlvmVersion(info: string): string | null {
  return /^\s*LLVM:\s*([\w.+-]+)/m.exec(info)?.[1] ?? null;
}

export interface BpftraceFeatures {
  // where bpftrace writes __BPFTRACE_NOTIFY_PROBES_ATTACHED: stderr up to
  // 0.22, stdout (between its JSON lines) from 0.23
  attachNotice: 'stderr' | 'stdout';
  // the map size variable: BPFTRACE_MAP_KEYS_MAX up to 0.19; 0.20 renamed it
  // BPFTRACE_MAX_MAP_KEYS and warns on every start when the old one is set
  mapKeysEnv: 'BPFTRACE_MAP_KEYS_MAX' | 'BPFTRACE_MAX_MAP_KEYS';
  // 0.23 checks more BPF helpers at run time by default and reports a failed
  // map update or delete as a {"type": "helper_error"} line
  reportsHelperErrors: boolean;
}

export function featuresOf(v: BpftraceVersion): BpftraceFeatures {
  const atLeast = (minor: number) => compareVersions(v, { major: 0, minor, patch: 0 }) >= 0;
  return {
    attachNotice: atLeast(23) ? 'stdout' : 'stderr',
    mapKeysEnv: atLeast(20) ? 'BPFTRACE_MAX_MAP_KEYS' : 'BPFTRACE_MAP_KEYS_MAX',
    reportsHelperErrors: atLeast(23),
  };
}

// Compile (parse, type-check against BTF, generate code) without attaching
// or running: `--emit-elf` means the same from 0.17 to 0.23 (`-d` changed
// meaning in 0.22).
export function compileOnlyArgs(elfOut: string): string[] {
  return ['--emit-elf', elfOut];
}

export const SUPPORT_LEVELS = ['tested', 'supported', 'newer', 'too-old'] as const;
export type Support = (typeof SUPPORT_LEVELS)[number];

// How natscope stands with a version: run by the tests, inside the range
// it adapts to, newer than it knows (tried, with a warning), or refused.
export function supportOf(v: BpftraceVersion): Support {
  if (compareVersions(v, OLDEST_SUPPORTED) < 0) return 'too-old';
  if (TESTED_VERSIONS.includes(formatVersion(v))) return 'tested';
  return compareVersions(v, NEWEST_KNOWN) > 0 ? 'newer' : 'supported';
}

export interface DetectedBpftrace {
  binary: string;
  version: BpftraceVersion;
  features: BpftraceFeatures;
  support: Support;
}

const detected = new Map<string, Promise<DetectedBpftrace>>();

// The bpftrace at `binary`, asked once per process. Refuses (one line and
// its fix) a bpftrace that is missing, does not answer --version, or is
// older than the oldest supported.
export function detectBpftrace(binary: string): Promise<DetectedBpftrace> {
  let found = detected.get(binary);
  if (!found) {
    found = askVersion(binary);
    detected.set(binary, found);
    // a failure is not remembered: it may be mended (installed) meanwhile
    found.catch(() => detected.delete(binary));
  }
  return found;
}

const VERSION_TIMEOUT_MS = 60_000;

async function askVersion(binary: string): Promise<DetectedBpftrace> {
  // generous: the first run in the micro-VM reads bpftrace and its LLVM
  // (about 100 MB) from a cold disk under emulation, which on a busy host
  // has taken over 10 s; the bound is there for a bpftrace that hangs
  const result = await execa(binary, ['--version'], { reject: false, timeout: VERSION_TIMEOUT_MS, stdin: 'ignore' });
  if ('code' in result && result.code === 'ENOENT') {
    throw new NatscopeError(`bpftrace not found (${binary})`, {
      hint: 'install it: apt-get install bpftrace (npm run setup does this)',
    });
  }
  const version = parseBpftraceVersion(`${result.stdout}\n${result.stderr}`);
  if (result.timedOut) {
    throw new NatscopeError(`${binary} --version did not finish in ${VERSION_TIMEOUT_MS / 1000} s`, {
      hint: 'check that bpftrace runs at all (bpftrace --version); on a busy machine, try again when it is quieter',
    });
  }
  if (result.exitCode !== 0 || version === null) {
    const said = `${result.stdout}`.trim().split('\n')[0] || `exit code ${result.exitCode ?? result.signal}`;
    throw new NatscopeError(`${binary} --version did not give a bpftrace version (${said.slice(0, 80)})`, {
      hint: 'reinstall bpftrace (apt-get install --reinstall bpftrace), or point NATSCOPE_BPFTRACE at a working one',
    });
  }
  const support = supportOf(version);
  if (support === 'too-old') {
    throw new NatscopeError(
      `bpftrace ${formatVersion(version)} is older than ${formatVersion(OLDEST_SUPPORTED)}, the oldest natscope supports`,
      {
        hint: 'install bpftrace 0.17 or newer (Debian 12 and Ubuntu 24.04 ship one), or use the micro-VM: --vm on',
      },
    );
  }
  return { binary, version, features: featuresOf(version), support };
}

// The environment bpftrace runs with: the attach notice, ring/perf buffer
// pages, and the map size under the name this version reads (both names
// would make 0.20+ warn on every start).
export function bpftraceEnv(
  features: BpftraceFeatures,
  settings: { attachNotice: string; perfPages: number; mapKeys: number },
): Record<string, string> {
  return {
    [settings.attachNotice]: '1',
    BPFTRACE_PERF_RB_PAGES: String(settings.perfPages),
    [features.mapKeysEnv]: String(settings.mapKeys),
  };
}

// Signals a bpftrace dies of when natscope stops it, or its output pipe closes.
const STOPPING = new Set(['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGPIPE', 'SIGHUP']);

function signalOf(signal: string | undefined, exitCode: number | undefined): string | null {
  if (signal) return signal;
  // a shell in between reports a signal death as 128 + its number
  if (exitCode === undefined || exitCode <= 128 || exitCode > 128 + 64) return null;
  const found = Object.entries(osConstants.signals).find(([, n]) => n === exitCode - 128);
  return found ? found[0] : null;
}

// A bpftrace that crashed before its probes attached (0.23 built with LLVM
// 19 segfaults compiling some constructs: natscope's probes avoid those it
// is known to), said as such rather than as an empty error.
export function crashError(
  bpftrace: DetectedBpftrace,
  signal: string | undefined,
  exitCode: number | undefined,
): NatscopeError | null {
  const name = signalOf(signal, exitCode);
  if (name === null || STOPPING.has(name)) return null;
  const version = formatVersion(bpftrace.version);
  return new NatscopeError(`bpftrace ${version} crashed (${name}) while compiling or attaching natscope's probes`, {
    hint: `run "natscope doctor" to see which probe it fails on; natscope is tested with bpftrace ${TESTED_VERSIONS.join(' and ')}: install one of those, or trace in the micro-VM (--vm on)`,
  });
}
