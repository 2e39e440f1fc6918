import { describe, expect, test } from 'vitest';
import {
  compileOnlyArgs,
  crashError,
  type DetectedBpftrace,
  featuresOf,
  parseBpftraceVersion,
  parseLlvmVersion,
  supportOf,
} from '../../src/tracer/version.js';

const v = (text: string) => parseBpftraceVersion(text)!;

function detected(text: string): DetectedBpftrace {
  const version = v(text);
  return { binary: 'bpftrace', version, features: featuresOf(version), support: supportOf(version) };
}

describe("bpftrace's version and what it changes", () => {
  test('the version is read from what --version prints, distribution suffixes and all', () => {
    expect(v('bpftrace v0.23.2')).toEqual({ major: 0, minor: 23, patch: 2 });
    expect(v('bpftrace v0.20.2-dirty\n')).toEqual({ major: 0, minor: 20, patch: 2 });
    expect(v('bpftrace v0.17.0-3')).toEqual({ major: 0, minor: 17, patch: 0 });
    expect(parseBpftraceVersion('bpftrace, a tracer')).toBeNull();
  });

  test("LLVM's version is read from --info's build section, as 0.17 and 0.23 print it", () => {
    expect(parseLlvmVersion('Build\n  version: v0.23.2\n  LLVM: 19.1.7\n  bfd: yes\n')).toBe('19.1.7');
    expect(parseLlvmVersion('Build\n  version: v0.17.0\n  LLVM: 14.0.6\n  unsafe uprobe: no\n')).toBe('14.0.6');
    expect(parseLlvmVersion('no build section')).toBeNull();
  });

  test('the attach notice moves to stdout in 0.23; the map size variable is renamed in 0.20', () => {
    expect(featuresOf(v('v0.17.0'))).toEqual({
      attachNotice: 'stderr',
      mapKeysEnv: 'BPFTRACE_MAP_KEYS_MAX',
      reportsHelperErrors: false,
    });
    // Ubuntu 24.04's
    expect(featuresOf(v('v0.20.2'))).toMatchObject({ attachNotice: 'stderr', mapKeysEnv: 'BPFTRACE_MAX_MAP_KEYS' });
    expect(featuresOf(v('v0.22.1'))).toMatchObject({ attachNotice: 'stderr' });
    expect(featuresOf(v('v0.23.2'))).toEqual({
      attachNotice: 'stdout',
      mapKeysEnv: 'BPFTRACE_MAX_MAP_KEYS',
      reportsHelperErrors: true,
    });
  });

  test('tested, supported, newer and too old are told apart', () => {
    expect(supportOf(v('v0.17.0'))).toBe('tested');
    expect(supportOf(v('v0.23.2'))).toBe('tested');
    expect(supportOf(v('v0.20.2'))).toBe('supported');
    expect(supportOf(v('v0.23.5'))).toBe('supported');
    expect(supportOf(v('v0.24.0'))).toBe('newer');
    expect(supportOf(v('v0.16.0'))).toBe('too-old');
  });

  test('compiling without attaching uses --emit-elf, which means the same from 0.17 to 0.23', () => {
    expect(compileOnlyArgs('/tmp/x.o')).toEqual(['--emit-elf', '/tmp/x.o']);
  });

  test('a crash is told from a stop: SIGSEGV (or 139 through a shell) is a crash, SIGTERM and SIGPIPE are not', () => {
    const b = detected('bpftrace v0.23.2');
    expect(crashError(b, 'SIGSEGV', undefined)?.message).toBe(
      "bpftrace 0.23.2 crashed (SIGSEGV) while compiling or attaching natscope's probes",
    );
    expect(crashError(b, undefined, 139)?.message).toMatch(/crashed \(SIGSEGV\)/);
    expect(crashError(b, undefined, 134)?.message).toMatch(/crashed \(SIGABRT\)/);
    expect(crashError(b, 'SIGTERM', undefined)).toBeNull();
    expect(crashError(b, 'SIGPIPE', undefined)).toBeNull();
    expect(crashError(b, undefined, 1)).toBeNull();
  });
});
