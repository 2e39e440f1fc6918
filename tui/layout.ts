// How the screen is divided, from its size alone. Side by side needs about
// 100 columns (two NAT panes of 48 with a rule between); narrower terminals
// stack the panes; below the minimum the screen says how big it must be.

export const MIN_COLS = 60;
export const MIN_ROWS = 20;
export const SIDE_BY_SIDE_COLS = 96;

// Rows of content (titles excluded) for each pane.
export interface Layout {
  kind: 'ok';
  cols: number;
  rows: number;
  sideBySide: boolean;
  // one NAT pane's content rows (each of DNAT and SNAT)
  nat: number;
  drops: number;
  flows: number;
}

export type LayoutResult = Layout | { kind: 'too-small'; cols: number; rows: number };

const clamp = (n: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, n));

export function layout(cols: number, rows: number): LayoutResult {
  if (cols < MIN_COLS || rows < MIN_ROWS) return { kind: 'too-small', cols, rows };
  const sideBySide = cols >= SIDE_BY_SIDE_COLS;
  // header (2) + footer (1) + one title row per pane
  const titles = sideBySide ? 3 : 4;
  const body = rows - 3 - titles;
  const flows = clamp(Math.round(body * 0.3), 5, 14);
  const drops = clamp(Math.round(body * 0.22), 3, 12);
  const rest = body - flows - drops;
  const nat = sideBySide ? rest : Math.floor(rest / 2);
  // stacked panes split the NAT rows; an odd row goes to the drops pane
  const spare = sideBySide ? 0 : rest - 2 * nat;
  return { kind: 'ok', cols, rows, sideBySide, nat, drops: drops + spare, flows };
}
