// natscope tui: the live screen (tui/). DNAT and SNAT side by side, drops
// with their reason, each flow told hop by hop; keys send requests and
// change kube-proxy. With --replay it plays a recording and needs no root.

import type { Placement } from '../agent/session.js';

export interface TuiCommandOptions {
  replay?: string;
  speed: number;
  probes: string;
  detail?: number;
  prefix: string;
  vm: Placement;
  lab: 'netns' | 'kind';
}

export async function tui(options: TuiCommandOptions): Promise<number> {
  const { runTui } = await import('../../tui/run.js');
  return runTui(options);
}
