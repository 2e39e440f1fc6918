// natscope tui: the live screen (tui/). DNAT and SNAT side by side, drops
// with their reason, each flow told hop by hop; keys send requests and
// change kube-proxy. With --replay it plays a recording and needs no root.

import type { TuiOptions } from '../../tui/run.js';

// the screen's own options, less the terminal (tests bring their own)
export type TuiCommandOptions = Omit<TuiOptions, 'io'>;

export async function tui(options: TuiCommandOptions): Promise<number> {
  const { runTui } = await import('../../tui/run.js');
  return runTui(options);
}
