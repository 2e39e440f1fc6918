// bpftrace in the micro-VM with its output on virtio-serial ports, for a
// parser on the host (src/agent/vmTracer.ts). Runs in the guest: it composes
// the program for the guest's bpftrace and kernel, frames the run on both
// ports (src/vm/portFrames.ts) and hands the ports to bpftrace as its stdout
// and stderr, so no byte of its output passes through a process of
// natscope's in the guest. When bpftrace exits, the end lines say how.

import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ChildProcess, spawn } from 'node:child_process';
import { NatscopeError, describeError } from '../errors.js';
import { bpftraceBinary, bpftraceInvocation, loadModules } from '../tracer/bpftrace.js';
import { findEnum, VMLINUX_BTF } from '../tracer/btf.js';
import type { BpftraceExit } from '../tracer/outcome.js';
import type { ProbeFamily } from '../tracer/parse.js';
import { composeProgram, needsFunctionProbes } from '../tracer/probes.js';
import { detectBpftrace, formatVersion } from '../tracer/version.js';
import { deferred } from '../util/deferred.js';
import { killGroup } from '../util/process.js';
import { makeRunDir, removeRunDir } from '../util/rundir.js';
import { beginLine, endLine, type RunHeader } from './portFrames.js';
import { guestPortPath, TRACE_PORTS } from './ports.js';

export interface PortTracerRequest {
  probes: ProbeFamily[];
  // netns inode → host name, as the guest's resolver has them
  hosts: [number, string][];
  detail?: number;
  bufferEvents?: number;
  // bpftrace binary (NATSCOPE_BPFTRACE overrides; tests give a fake)
  bpftrace?: string;
  // where its stdout and stderr go (default: the trace ports; tests give files)
  outputs?: { out: string; err: string };
}

export interface PortTracer {
  pid: number;
  signal(signal: NodeJS.Signals): void;
  // settles once bpftrace has exited and the end lines are written
  done: Promise<BpftraceExit>;
}

// The guest kernel's drop reasons, by BTF name (the host names them with dropReasonsFrom).
async function dropReasonValues(): Promise<[string, number][]> {
  const blob = await readFile(VMLINUX_BTF).catch(() => null);
  const values = blob ? findEnum(blob, 'skb_drop_reason') : null;
  return values ? [...values.entries()] : [];
}

function openPort(path: string): number {
  try {
    return openSync(path, constants.O_WRONLY);
  } catch (cause) {
    throw new NatscopeError(`cannot open the micro-VM port ${path}: ${describeError(cause)}`, {
      hint: 'the VM must be started with its trace ports (src/vm/ports.ts)',
      cause,
    });
  }
}

export async function startBpftraceOnPorts(request: PortTracerRequest): Promise<PortTracer> {
  const found = await detectBpftrace(bpftraceBinary(request.bpftrace));
  if (needsFunctionProbes(request.probes)) await loadModules(request.probes);
  const program = await composeProgram(request.probes, found.version);
  const header: RunHeader = {
    bpftrace: formatVersion(found.version),
    hosts: request.hosts,
    dropReasons: await dropReasonValues(),
  };
  const dir = await makeRunDir('trace');
  const programPath = join(dir, 'natscope.bt');
  await writeFile(programPath, program);
  const { args, env } = bpftraceInvocation(programPath, found.features, {
    detail: request.detail,
    bufferEvents: request.bufferEvents,
  });
  const nonce = randomBytes(16).toString('hex');
  let out = -1;
  let err = -1;
  const closePorts = () => {
    for (const fd of [out, err]) if (fd >= 0) closeSync(fd);
    out = -1;
    err = -1;
  };
  let child: ChildProcess;
  try {
    out = openPort(request.outputs?.out ?? guestPortPath(TRACE_PORTS.out));
    err = openPort(request.outputs?.err ?? guestPortPath(TRACE_PORTS.err));
    writeSync(out, beginLine(nonce, header));
    writeSync(err, beginLine(nonce, null));
    // its own process group (stopped by signal, as a local bpftrace); the ports themselves are its
    // stdout and stderr (node's spawn hands descriptors over as they are; execa would pipe them)
    child = spawn(found.binary, args, { detached: true, stdio: ['ignore', out, err], env: { ...process.env, ...env } });
  } catch (cause) {
    closePorts();
    await removeRunDir(dir);
    throw cause instanceof NatscopeError
      ? cause
      : new NatscopeError(`cannot start bpftrace: ${describeError(cause)}`, { cause });
  }
  const done = deferred<BpftraceExit>();
  let finished = false;
  const finish = async (exit: BpftraceExit) => {
    if (finished) return;
    finished = true;
    const end = endLine(nonce, { exitCode: exit.exitCode, signal: exit.signal });
    try {
      writeSync(out, end);
      writeSync(err, end);
    } finally {
      closePorts();
      await removeRunDir(dir);
      done.resolve(exit);
    }
  };
  // a bpftrace that could not start at all has no 'close' to wait for
  child.on('error', (error: NodeJS.ErrnoException) => {
    if (child.pid === undefined)
      void finish({ exitCode: null, signal: null, errorCode: error.code ?? null, message: error.message });
  });
  child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
    void finish({ exitCode: code, signal, errorCode: null, message: '' });
  });
  return {
    pid: child.pid ?? -1,
    signal: (signal) => killGroup(child, signal),
    done: done.promise,
  };
}
