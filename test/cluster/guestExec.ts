// Commands run inside a micro-VM from the host, through the VM's exec server
// (test/fixtures/vm/exec-server.cjs): commands on the VM's stdin, their output
// on its trace port (a virtio-serial port: `startVm`'s `ports`); and a Unix
// socket per VM through which the fake kubectl's `exec` reaches it, as a real
// kubectl's reaches a node pod's container (test/fixtures/bin/fake-kubectl.cjs,
// FAKE_KUBECTL_NODE_SOCKETS). Frames are checked as they arrive: the guest's
// output is untrusted like any other.

import { createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import { PassThrough, type Readable } from 'node:stream';
import { z } from 'zod';
import type { VmHandle } from '../../src/vm/run.js';

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const GuestFrameSchema = z.union([
  z.object({ ready: z.literal(true) }).strict(),
  z.object({ id: z.int().min(1), out: b64 }).strict(),
  z.object({ id: z.int().min(1), err: b64 }).strict(),
  z.object({ id: z.int().min(1), exit: z.int().nullable(), signal: z.string().nullable() }).strict(),
]);

// What the fake kubectl sends its relay: the command first, then its stdin.
export const RelayRequestSchema = z.union([
  z.object({ argv: z.array(z.string()).min(1) }).strict(),
  z.object({ in: b64 }).strict(),
  z.object({ eof: z.literal(true) }).strict(),
]);

export interface GuestRun {
  stdout: PassThrough;
  stderr: PassThrough;
  write(bytes: Buffer): void;
  end(): void;
  kill(): void;
  exit: Promise<{ code: number | null; signal: string | null }>;
}

export class GuestExec {
  private nextId = 1;
  private readonly runs = new Map<
    number,
    { run: GuestRun; settle: (e: { code: number | null; signal: string | null }) => void }
  >();
  readonly ready: Promise<void>;
  // what the guest printed that is not a frame (the kernel's or a shell's stray output)
  noise = '';

  constructor(
    private readonly vm: VmHandle,
    // what the exec server writes its frames to: the VM's port, or its stdout
    frames: Readable = vm.stdout,
  ) {
    let isReady: () => void = () => undefined;
    const frameSaysReady = new Promise<void>((resolve) => {
      isReady = resolve;
    });
    // a VM that ends first (a failed boot, a crash) fails every wait on it, rather than leaving it hanging
    const vmEnded = vm.result.then((r) => {
      for (const { run, settle } of this.runs.values()) {
        run.stdout.end();
        run.stderr.end();
        settle({ code: null, signal: 'the micro-VM ended' });
      }
      this.runs.clear();
      throw new Error(`the micro-VM ended (exit ${r.exitCode}, ${r.failure ?? 'no failure'}: ${r.detail ?? ''})`);
    });
    vmEnded.catch(() => undefined);
    this.ready = Promise.race([frameSaysReady, vmEnded]);
    createInterface({ input: frames }).on('line', (line) => {
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        this.noise += `${line}\n`;
        return;
      }
      const frame = GuestFrameSchema.safeParse(json);
      if (!frame.success) {
        this.noise += `${line}\n`;
        return;
      }
      const f = frame.data;
      if ('ready' in f) return isReady();
      const entry = this.runs.get(f.id);
      if (!entry) return;
      if ('out' in f) entry.run.stdout.write(Buffer.from(f.out, 'base64'));
      else if ('err' in f) entry.run.stderr.write(Buffer.from(f.err, 'base64'));
      else {
        this.runs.delete(f.id);
        entry.run.stdout.end();
        entry.run.stderr.end();
        entry.settle({ code: f.exit, signal: f.signal });
      }
    });
  }

  private send(frame: object): void {
    this.vm.stdin.write(`${JSON.stringify(frame)}\n`);
  }

  start(argv: string[]): GuestRun {
    const id = this.nextId++;
    let settle: (e: { code: number | null; signal: string | null }) => void = () => undefined;
    const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      settle = resolve;
    });
    const run: GuestRun = {
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      write: (bytes) => this.send({ id, in: bytes.toString('base64') }),
      end: () => this.send({ id, eof: true }),
      kill: () => this.send({ id, kill: true }),
      exit,
    };
    this.runs.set(id, { run, settle });
    this.send({ id, argv });
    return run;
  }

  // The exec server kills what still runs and exits: the VM powers off.
  quit(): void {
    this.send({ quit: true });
  }

  // A command to its end: its exit code and output (its stdin: `input`, then closed).
  async run(argv: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const r = this.start(argv);
    if (input !== undefined) r.write(Buffer.from(input));
    r.end();
    let stdout = '';
    let stderr = '';
    r.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    r.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const { code } = await r.exit;
    return { code, stdout, stderr };
  }

  // A shell script as root in the guest; throws with its output if it fails.
  async sh(script: string): Promise<string> {
    const r = await this.run(['sh', '-ec', script]);
    if (r.code !== 0) throw new Error(`in the guest, exit ${r.code}: ${script}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  // A Unix socket for the fake kubectl: one connection per `kubectl exec`,
  // JSON lines both ways (RelayRequestSchema in; the guest's frames out, without their ids).
  // A connection that closes early (kubectl killed) kills its command.
  async relay(path: string): Promise<Server> {
    const server = createServer((socket) => {
      let run: GuestRun | null = null;
      let exited = false;
      const reply = (frame: object) => socket.write(`${JSON.stringify(frame)}\n`);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        if (run && !exited) run.kill();
      });
      createInterface({ input: socket }).on('line', (line) => {
        let json: unknown;
        try {
          json = JSON.parse(line);
        } catch {
          return socket.destroy();
        }
        const request = RelayRequestSchema.safeParse(json);
        if (!request.success) return socket.destroy();
        const r = request.data;
        if ('argv' in r) {
          if (run) return socket.destroy();
          const started = this.start(r.argv);
          run = started;
          started.stdout.on('data', (d: Buffer) => reply({ out: d.toString('base64') }));
          started.stderr.on('data', (d: Buffer) => reply({ err: d.toString('base64') }));
          void started.exit.then(({ code, signal }) => {
            exited = true;
            // after the output frames already queued on the socket
            setImmediate(() => socket.end(`${JSON.stringify({ exit: code, signal })}\n`));
          });
        } else if (!run) socket.destroy();
        else if ('in' in r) run.write(Buffer.from(r.in, 'base64'));
        else run.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, resolve);
    });
    return server;
  }
}
