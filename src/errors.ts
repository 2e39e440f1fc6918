// Errors a user can act on. The entry point prints `message` and `hint` as one
// line each (no stack) and exits with `exitCode`; anything else is a bug.
export class NatscopeError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(message: string, options: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NatscopeError';
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
  }
}

// Exit codes shared by every command, so scripts can tell failures apart.
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  // like timeout(1)
  timeout: 124,
  // like docker run: the tool's own machinery failed, not the command it ran
  vmFailure: 125,
  interrupted: 130,
} as const;

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

// The errno name a failed system call carries (ENOENT, EPERM, …), if any.
export function errnoOf(error: unknown): string | undefined {
  if (!(error instanceof Error) || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
