// Whether bpftrace has attached every probe, from its attach notice (its
// BEGIN runs before probes attach, so it cannot tell): bpftrace up to 0.22
// prints the notice on stderr, 0.23 on stdout between the JSON lines,
// where parse.ts reads it as an 'attach-notice' record. Once attached, the
// errors bpftrace prints on stderr are reported as they come; the start of
// its stderr is kept to explain a bpftrace that never attached.

import { isReportedError } from './outcome.js';
import { ATTACH_NOTICE } from './parse.js';

// How much of bpftrace's stderr is kept to explain a failure.
const STDERR_KEPT = 65536;

export class AttachWatch {
  attached = false;
  // the start of bpftrace's stderr
  stderr = '';

  // A chunk of stderr: whether it brought the notice, and the errors to report (once attached,
  // the notice's own chunk included).
  onStderr(text: string): { attachedNow: boolean; errors: string[] } {
    if (this.stderr.length < STDERR_KEPT) this.stderr += text;
    const attachedNow = !this.attached && text.includes(ATTACH_NOTICE);
    if (attachedNow) this.attached = true;
    if (!this.attached) return { attachedNow, errors: [] };
    const errors = text
      .split('\n')
      .filter(isReportedError)
      .map((line) => line.trim());
    return { attachedNow, errors };
  }

  // The notice on stdout (bpftrace 0.23).
  onStdoutNotice(): void {
    this.attached = true;
  }
}
