// placeholder until the kind lab lands
import { NatscopeError } from '../../errors.js';
import type { LabStatus } from '../../events/types.js';
import type { Lab } from '../lab.js';
export async function kindUp(_o: unknown): Promise<LabStatus> { throw new NatscopeError('the kind lab is not built yet'); }
export async function kindDown(_o: unknown): Promise<string[]> { throw new NatscopeError('the kind lab is not built yet'); }
export async function openKindLab(): Promise<Lab> { throw new NatscopeError('the kind lab is not built yet'); }
