// A benchmark's result: named figures printed by `npm run bench`.

export interface Figure {
  // e.g. "tui: render cost per frame"
  name: string;
  value: number;
  unit: string;
  // a one-line target, e.g. "≥ 500000", checked by eye, never by a timed test
  target?: string;
  // where it was measured: native or micro-VM (TCG)
  where: 'native' | 'micro-vm';
  note?: string;
}

export function formatFigure(f: Figure): string {
  const value = Number.isInteger(f.value) ? String(f.value) : f.value.toFixed(f.value < 10 ? 2 : 1);
  const target = f.target ? `  (target ${f.target})` : '';
  const note = f.note ? `  ${f.note}` : '';
  return `${f.name.padEnd(58)} ${`${value} ${f.unit}`.padStart(18)}  [${f.where}]${target}${note}`;
}
