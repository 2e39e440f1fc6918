// The event streams the probes write, declared once: each stream's value
// fields in the order the probe stores them (its header documents each;
// test/tracer/streams.test.ts holds the two side by side), and the kernel
// maps it keeps. The reader's indices (`NAT.manip` …) come from here, so
// a field is read by name, never by a number written elsewhere.

export const PROBE_FAMILIES = ['nat', 'conntrack', 'drop', 'rewrite'] as const;
export type ProbeFamily = (typeof PROBE_FAMILIES)[number];
export type StreamName = 'nat' | 'ct-new' | 'ct-destroy' | 'drop' | 'rewrite';

// Values of one event, in order. Every value is a number except the
// drop's location (bpftrace prints the kernel symbol as text).
export const FIELDS = {
  nat: [
    't',
    'netns',
    'ct',
    'manip',
    'l4',
    'osrc',
    'osport',
    'odst',
    'odport',
    'rsrc',
    'rsport',
    'rdst',
    'rdport',
    'verdict',
  ],
  conntrack: [
    't',
    'netns',
    'ct',
    'status',
    'l4',
    'osrc',
    'osport',
    'odst',
    'odport',
    'rsrc',
    'rsport',
    'rdst',
    'rdport',
  ],
  drop: ['t', 'netns', 'reason', 'location', 'l4', 'src', 'sport', 'dst', 'dport', 'tcpflags', 'ifindex'],
  rewrite: ['t', 'netns', 'manip', 'dir', 'l4', 'bsrc', 'bsport', 'bdst', 'bdport', 'asrc', 'asport', 'adst', 'adport'],
} as const;

type Layout = keyof typeof FIELDS;

// Field name → its index in an event's values.
function indices<L extends Layout>(layout: L): { [F in (typeof FIELDS)[L][number]]: number } {
  return Object.fromEntries(FIELDS[layout].map((f, i) => [f, i])) as { [F in (typeof FIELDS)[L][number]]: number };
}

export const NAT = indices('nat');
export const CONNTRACK = indices('conntrack');
export const DROP = indices('drop');
export const REWRITE = indices('rewrite');

export interface StreamInfo {
  probe: ProbeFamily;
  // the layout of its events' values
  fields: readonly string[];
  // the one value that is not read as a plain number: the conntrack
  // address (above 2^53: read from its digits) or the drop's location
  // symbol (text); -1 for none
  textField: number;
  // per-CPU sequence counters (@x_seq[cpu])
  sequenceMap: string;
  // the two event buffers (@x_a, @x_b), keyed [cpu, seq]
  buffers: [string, string];
  // the two count maps of events past the detail budget (@x_over_a, @x_over_b),
  // keyed [netns] or [netns, by]
  counts: [string, string];
  // what a count map's second key is
  countedBy: 'manip' | 'reason' | null;
  // the per-CPU counts of events kept whole this flush, per buffer side: the
  // detail budget's. nat and conntrack share one; drops have their own, so
  // busy NAT never hides them, and so do rewrites, one per packet
  budgets: [string, string];
}

function stream(
  probe: ProbeFamily,
  prefix: string,
  layout: Layout,
  textField: number,
  countedBy: StreamInfo['countedBy'],
): StreamInfo {
  const budget = probe === 'drop' ? '@drop_detail' : probe === 'rewrite' ? '@rw_detail' : '@detail';
  return {
    probe,
    fields: FIELDS[layout],
    textField,
    sequenceMap: `@${prefix}_seq`,
    buffers: [`@${prefix}_a`, `@${prefix}_b`],
    counts: [`@${prefix}_over_a`, `@${prefix}_over_b`],
    countedBy,
    budgets: [`${budget}_a`, `${budget}_b`],
  };
}

// The maps the probe programs keep (see the probes' headers).
export const STREAMS: Record<StreamName, StreamInfo> = {
  nat: stream('nat', 'nat', 'nat', NAT.ct, 'manip'),
  'ct-new': stream('conntrack', 'ctn', 'conntrack', CONNTRACK.ct, null),
  'ct-destroy': stream('conntrack', 'ctd', 'conntrack', CONNTRACK.ct, null),
  drop: stream('drop', 'drop', 'drop', DROP.location, 'reason'),
  rewrite: stream('rewrite', 'rw', 'rewrite', -1, 'manip'),
};

// What the composed program prints after each flush's buffers, followed by
// two kernel times (CLOCK_MONOTONIC, bpftrace's nsecs): the tick that
// printed them, and the hand-over before it, when the probes switched to
// the other buffers: `natscope-flush 65366720170211 65366670162744`. The
// flush holds the events up to the hand-over (a probe that chose its
// buffer just before may add a later one), and every later flush only
// events after it. Recordings made before carry the tick's time alone
// (every later flush then holds events after the previous marker's tick),
// or the word alone.
export const FLUSH_MARKER = 'natscope-flush';

// How often the buffered events are printed (each buffer fills this long;
// the detail budget is per CPU and fill). A live view sees them up to this
// plus FLUSH_TICK_MS after they happened.
export const FLUSH_INTERVAL_MS = 100;
// The flush runs twice as often: one tick hands the filling buffer over, the
// next prints it (see the composed flush, src/tracer/probes.ts).
export const FLUSH_TICK_MS = FLUSH_INTERVAL_MS / 2;
