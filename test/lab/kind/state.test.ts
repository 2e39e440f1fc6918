import { describe, expect, test } from 'vitest';
import { ownsCluster, type KindState } from '../../../src/lab/kind/state.js';

const state = (over: Partial<KindState>): KindState => ({
  version: 1,
  backend: 'kind',
  prefix: 'natscope-',
  cluster: 'natscope',
  createdCluster: true,
  createStartedAt: '2026-11-26T08:00:00.000Z',
  controlPlaneId: 'aaa',
  officeCIDR: '192.168.10.0/24',
  image: null,
  complete: true,
  updatedAt: '',
  ...over,
});

describe('whether natscope created the kind cluster it finds', () => {
  test("only the control-plane container natscope noted down is natscope's", () => {
    expect(ownsCluster(state({}), { id: 'aaa', created: '2026-11-26T08:00:30Z' })).toBe(true);
    // same name, recreated by someone else
    expect(ownsCluster(state({}), { id: 'bbb', created: '2026-11-26T09:00:00Z' })).toBe(false);
  });

  test("stopped before noting the ID: a container created after natscope started creating is natscope's", () => {
    expect(ownsCluster(state({ controlPlaneId: null }), { id: 'x', created: '2026-11-26T08:00:20Z' })).toBe(true);
    expect(ownsCluster(state({ controlPlaneId: null }), { id: 'x', created: '2026-11-25T08:00:00Z' })).toBe(false);
  });

  test('no record, or a record of reusing, owns nothing', () => {
    expect(ownsCluster(null, { id: 'aaa', created: '2026-11-26T08:00:30Z' })).toBe(false);
    expect(ownsCluster(state({ createdCluster: false }), { id: 'aaa', created: '2026-11-26T08:00:30Z' })).toBe(false);
    expect(ownsCluster(state({}), null)).toBe(false);
  });
});
