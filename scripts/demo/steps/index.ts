// The walkthrough's steps, in order (docs/workshop/ has one page per step).

import type { Step } from '../context.js';
import { setup } from './01-setup.js';
import { symptom } from './02-symptom.js';
import { boundary } from './03-boundary.js';
import { traceIt } from './04-trace.js';
import { why } from './05-why.js';
import { pingLies } from './06-ping.js';
import { fix } from './07-fix.js';
import { confirm } from './08-confirm.js';
import { price } from './09-price.js';
import { cleanup } from './10-cleanup.js';

export const STEPS: Step[] = [setup, symptom, boundary, traceIt, why, pingLies, fix, confirm, price, cleanup];
