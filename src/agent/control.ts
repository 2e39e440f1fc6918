// The two labs as the commands see them: how each is brought up, taken
// down, reached by the lab subcommands, and opened with a tracer for a
// frontend. The choice between them is made here, once (--lab).

import type { IptablesBackend, LabBackend, LabStatus, ProxyMode } from '../events/types.js';
import type { AgentClient } from './client.js';
import type { Placement, Where } from './placement.js';
import type { Session, SessionOptions } from './session.js';

// Which lab, and where to look for it.
export interface LabPlace {
  prefix: string;
  vm: Placement;
}

export interface LabUpRequest extends LabPlace {
  masqueradeAll: boolean;
  clusterCIDR: string | null;
  proxyMode: ProxyMode;
  // the netns lab's iptables (default: that of the machine the lab runs on)
  iptables?: IptablesBackend;
  log: (line: string) => void;
}

export interface LabControl {
  // lab up: the lab's status once it is up, and where it runs
  up(request: LabUpRequest): Promise<{ status: LabStatus; where: Where }>;
  // lab down: what was removed (nothing: no lab was up)
  down(place: LabPlace): Promise<string[]>;
  // lab request, set, rules, …: a client for the lab that is up
  connect(place: LabPlace): Promise<AgentClient>;
  // trace, tui, demo: the lab (brought up if asked) and a tracer
  open(options: SessionOptions): Promise<Session>;
}

export async function labControl(backend: LabBackend): Promise<LabControl> {
  switch (backend) {
    case 'netns':
      return (await import('./netnsControl.js')).netnsControl;
    case 'kind':
      return (await import('./kindControl.js')).kindControl;
  }
}

export async function openSession(options: SessionOptions): Promise<Session> {
  return (await labControl(options.lab)).open(options);
}
