import { claim, type Step } from '../context.js';

export const cleanup: Step = {
  n: 10,
  title: 'Clean up',
  purpose: 'Stop the probes and take the lab down, if this walkthrough brought it up.',
  lookAt: 'nothing left behind: no namespace, no process, no rule.',
  hint: 'natscope lab down removes a lab whatever state it is in',
  needs: null,
  async run(ctx) {
    const { removed, kept, left } = await ctx.close();
    ctx.out.block(removed.map((r) => `    removed ${r}`));
    if (kept) ctx.out.say(kept);
    return {
      claims: [
        claim('nothing this walkthrough started is left running', left.length === 0, `still there: ${left.join(', ')}`),
      ],
      evidence: { removed, kept, left },
    };
  },
};
