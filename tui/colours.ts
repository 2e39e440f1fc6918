// One colour per lab host, the same on every pane, so an eye can follow
// node1 from the DNAT pane to the flow path. The incident's four hosts
// have fixed colours (the docs and screenshots use them); pods and hosts of
// other labs take the remaining ones in the order the lab lists them.

import type { LabStatus } from '../src/events/types.js';
import type { Colour } from './text.js';

const FIXED: Record<string, Colour> = { office: 'cyan', vpn: 'magenta', node1: 'green', node2: 'yellow' };
const SPARE: Colour[] = ['light-blue', 'light-magenta', 'light-cyan', 'light-green', 'light-yellow', 'blue'];

export type Palette = (host: string) => Colour | undefined;

export function palette(lab: LabStatus | null): Palette {
  const colours = new Map<string, Colour>(Object.entries(FIXED));
  const names = lab ? [...Object.keys(lab.hosts), ...lab.pods.map((p) => p.name)] : [];
  let next = 0;
  for (const name of names) {
    if (!colours.has(name)) colours.set(name, SPARE[next++ % SPARE.length]!);
  }
  return (host) => colours.get(host);
}

// NO_COLOR (https://no-color.org): present and not empty means no colour.
// A terminal with fewer than 8 colours (TERM=dumb, vt100) gets none either.
export function colourWanted(env: NodeJS.ProcessEnv, terminalColours: number | undefined): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return (terminalColours ?? 0) >= 8;
}
