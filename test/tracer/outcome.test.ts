import { describe, expect, test } from 'vitest';
import {
  attachTimeoutError,
  type BpftraceExit,
  exitedHow,
  explainBpftraceFailure,
  isReportedError,
  stopSignal,
  type TracerEnding,
  tracerEnded,
} from '../../src/tracer/outcome.js';
import { featuresOf, parseBpftraceVersion, supportOf } from '../../src/tracer/version.js';

const version = parseBpftraceVersion('bpftrace v0.17.0')!;
const bpftrace = { binary: '/usr/bin/bpftrace', version, features: featuresOf(version), support: supportOf(version) };
const exit: BpftraceExit = { exitCode: 1, signal: null, errorCode: null, message: 'Command failed with exit code 1' };
const ending: TracerEnding = { exit, attached: true, stopping: false, bpftrace, stderr: '', probes: ['nat', 'drop'] };

// What bpftrace 0.17 prints (on stderr) as the fake in test/fixtures/bin says.
const MEMLOCK =
  'ERROR: Unknown error -1: couldn\'t set RLIMIT_MEMLOCK for bpftrace. If your program is not loading, you can try "ulimit -l 8192" to fix the problem';
const KFUNC = '/tmp/natscope-trace-x/natscope.bt:12:1-29: ERROR: kfunc/kretfunc not available for your kernel version.';

describe('how a bpftrace run ended', () => {
  test('stopped by natscope: nothing to say', () => {
    expect(tracerEnded({ ...ending, stopping: true, exit: { ...exit, exitCode: 0 } })).toBeNull();
  });

  test('stopped on its own once attached: the stream says how', () => {
    expect(tracerEnded(ending)).toEqual({ streamError: 'bpftrace stopped on its own: exited with code 1' });
    expect(tracerEnded({ ...ending, exit: { ...exit, exitCode: null, signal: 'SIGKILL' } })).toEqual({
      streamError: 'bpftrace stopped on its own: killed by SIGKILL',
    });
  });

  test('never attached because the binary is missing: says so and how to install it', () => {
    const ended = tracerEnded({ ...ending, attached: false, exit: { ...exit, exitCode: null, errorCode: 'ENOENT' } });
    expect(ended && 'startFailed' in ended && ended.startFailed).toMatchObject({
      message: 'bpftrace not found (/usr/bin/bpftrace)',
      hint: expect.stringContaining('apt-get install bpftrace'),
    });
  });

  test('never attached because it crashed: named as a crash, even when natscope was stopping it', () => {
    const ended = tracerEnded({
      ...ending,
      attached: false,
      stopping: true,
      exit: { ...exit, exitCode: null, signal: 'SIGSEGV' },
    });
    expect(ended && 'startFailed' in ended && ended.startFailed.message).toBe(
      "bpftrace 0.17.0 crashed (SIGSEGV) while compiling or attaching natscope's probes",
    );
  });

  test("never attached: its stderr explains why, else the runner's message", () => {
    const refused = tracerEnded({ ...ending, attached: false, stderr: `${MEMLOCK}\n${KFUNC}\n` });
    expect(refused && 'startFailed' in refused && refused.startFailed.message).toBe(
      'the kernel refused a function probe: /tmp/natscope-trace-x/natscope.bt:12:1-29: ERROR: kfunc/kretfunc not available for your kernel version.',
    );
    const silent = tracerEnded({ ...ending, attached: false });
    expect(silent && 'startFailed' in silent && silent.startFailed.message).toBe(
      'bpftrace failed: Command failed with exit code 1',
    );
  });
});

describe("explaining bpftrace's failure", () => {
  test('not root, whatever the kernel said: run with sudo', () => {
    const error = explainBpftraceFailure(
      'ERROR: bpftrace currently only supports running as the root user.\n',
      ['nat'],
      1,
      true,
    );
    expect(error.message).toBe('bpftrace needs root: bpftrace currently only supports running as the root user.');
    expect(error.hint).toBe('run natscope with sudo');
    // permission denied means "not root" only to a user who is not
    expect(explainBpftraceFailure('ERROR: Permission denied\n', ['nat'], 1, false).hint).toBe('run natscope with sudo');
    expect(explainBpftraceFailure('ERROR: Permission denied\n', ['nat'], 1, true).message).toBe(
      'bpftrace failed: Permission denied',
    );
  });

  test('a refused function probe offers the micro-VM; with tracepoints only, the doctor', () => {
    expect(explainBpftraceFailure(KFUNC, ['nat', 'drop'], 1, true).hint).toMatch(/--vm .* --probes drop/);
    expect(explainBpftraceFailure("Error attaching probe: 'kprobe:x'", ['drop'], 1, true).hint).toBe(
      'see "natscope doctor"',
    );
  });

  test('a missing tracepoint asks for tracefs; with no error line, the last line or the exit code', () => {
    expect(explainBpftraceFailure('ERROR: tracepoint not found: skb:kfree_skb', ['drop'], 1, true).hint).toMatch(
      /mount -t tracefs/,
    );
    expect(explainBpftraceFailure('warming up\nsomething broke\n', ['nat'], 2, true).message).toBe(
      'bpftrace failed: something broke',
    );
    expect(explainBpftraceFailure('', ['nat'], 2, true).message).toBe('bpftrace failed: exited with code 2');
  });

  test("bpftrace 0.17's start-up noise is no error; an ERROR line is", () => {
    expect(isReportedError(MEMLOCK)).toBe(false);
    expect(isReportedError('Attaching 12 probes...')).toBe(false);
    expect(isReportedError(KFUNC)).toBe(true);
    expect(isReportedError('a line without the word')).toBe(false);
  });
});

describe('stopping and waiting for bpftrace', () => {
  test('an attached bpftrace is asked to stop; one still compiling is killed', () => {
    expect(stopSignal(true)).toBe('SIGTERM');
    expect(stopSignal(false)).toBe('SIGKILL');
  });

  test('the attach timeout is said in whole seconds with the option that raises it', () => {
    expect(attachTimeoutError(500).message).toBe('bpftrace did not attach its probes within 1 s');
    expect(attachTimeoutError(90_000).hint).toMatch(/--attach-timeout/);
    expect(exitedHow(null, null)).toBe('exited');
  });
});
