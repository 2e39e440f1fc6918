// One line of a readiness report: natscope doctor's checks and the kind
// lab's preflight print the same shape (and --json the same fields).

import { z } from 'zod';

export const CheckSchema = z.object({
  name: z.string(),
  ok: z.boolean(),
  detail: z.string(),
  fix: z.string().optional(),
  // a line that is not required never fails the report (shown with !)
  required: z.boolean(),
});
export type Check = z.infer<typeof CheckSchema>;
