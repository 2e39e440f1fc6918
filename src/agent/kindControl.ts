// The kind lab (the workshop's real cluster) as the commands see it. It runs
// where its cluster is, on this machine's Docker: never in the micro-VM, so
// its agent is always in this process.

import { NatscopeError } from '../errors.js';
import { inProcessAgent } from './client.js';
import type { LabControl } from './control.js';
import { openInProcess } from './session.js';

const notInVm = () =>
  new NatscopeError("the kind lab runs on this machine's Docker, not in the micro-VM", {
    hint: 'leave out --vm on',
    exitCode: 2,
  });

export const kindControl: LabControl = {
  async up(request) {
    if (request.vm === 'on') throw notInVm();
    const { kindUp } = await import('../lab/kind/lab.js');
    return { status: await kindUp(request), where: 'native' };
  },
  async down(place) {
    const { kindDown } = await import('../lab/kind/lab.js');
    return kindDown(place);
  },
  async connect(place) {
    const { openKindLab } = await import('../lab/kind/lab.js');
    return inProcessAgent({ lab: await openKindLab(place), where: 'native' }).client;
  },
  async open(options) {
    if (options.vm === 'on') throw notInVm();
    const { openKindLab } = await import('../lab/kind/lab.js');
    return openInProcess(await openKindLab(options), false, options.probes, options);
  },
};
