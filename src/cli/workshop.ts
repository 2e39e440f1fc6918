// natscope workshop bundle: how it is spelled.

import { type Command, Option } from '@commander-js/extra-typings';
import { BUNDLE_ARCHES } from '../lab/kind/bundle-manifest.js';
import type { SetExit } from './common.js';

export function registerWorkshop(program: Command, setExit: SetExit): void {
  const workshop = program.command('workshop').description("prepare a workshop room's VMs");
  workshop
    .command('bundle')
    .description(
      'save kind, the pinned node image, kubectl, Node.js and the npm packages into DIR, with checksums, so the room provisions with no network (provision.sh --bundle DIR)',
    )
    .argument('<dir>', 'a new or empty folder')
    .addOption(
      new Option('--arch <arch>', "the workshop VMs' architecture (default: this machine's)").choices(BUNDLE_ARCHES),
    )
    .addHelpText(
      'after',
      `
Run it on a connected machine with Docker and Node.js (npm 10 or newer); no
root needed if you may use Docker. NATSCOPE_BUNDLE_MIRROR=URL fetches
https://HOST/PATH as URL/HOST/PATH instead.

Examples:
  $ natscope workshop bundle ../natscope-bundle
  $ natscope workshop bundle ../natscope-bundle-arm64 --arch arm64     # Apple Silicon laptops
  $ VAGRANT_NATSCOPE_BUNDLE=../natscope-bundle vagrant up
  $ sudo bash scripts/provision/provision.sh --bundle ../natscope-bundle`,
    )
    .action(async (dir, opts) => {
      const { workshopBundle } = await import('../commands/workshop.js');
      setExit(await workshopBundle({ dir, arch: opts.arch }));
    });
}
