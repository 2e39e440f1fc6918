import { claim, type Step } from '../context.js';

export const cleanup: Step = {
  n: 10,
  title: 'Clean up',
  purpose: 'Stop the probes and take the lab down, if this walkthrough brought it up.',
  lookAt: 'nothing left behind: no namespace, no process, no rule.',
  hint: 'natscope lab down removes a lab whatever state it is in',
  needs: null,
  async run(ctx) {
    const { removed, kept } = await ctx.close();
    if (kept) ctx.out.say(kept);
    else ctx.out.block(removed.map((r) => `    removed ${r}`));
    return {
      claims: [claim('the tracer stopped and the lab is gone (or left as it was found)', kept !== null || removed.length > 0 || ctx.mode === 'replay', 'nothing was removed')],
      evidence: { removed, kept },
    };
  },
};
