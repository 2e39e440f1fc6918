// The walkthrough runner (a zx script at heart: chalk for the story,
// question for the pauses, spinner for the slow steps). It runs the steps
// in order, prints each step's purpose, the commands it runs, what to look
// at, and every claim with ✓ or ✗ (and what was seen instead), pausing
// between steps when a person is watching.

import { chalk, question, spinner } from 'zx';
import { jsonLine, safeLine, safeText } from '../../src/util/terminal.js';
import type { Claim, DemoContext, KubeProxyState, Narrator, Step, StepText } from './context.js';
import { latestConfig, proxyMode, setKubeProxy, toldIn } from './context.js';
import { STEPS } from './steps/index.js';
import { describeError } from '../../src/errors.js';

export interface StepResult {
  step: number;
  title: string;
  ok: boolean;
  claims: Claim[];
  evidence: unknown;
}

export interface WalkthroughOptions {
  interactive: boolean;
  json: boolean;
  startAt: number;
  write: (text: string) => void;
}

const WIDTH = 78;

export function wrap(text: string, indent = ''): string {
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = indent;
    for (const word of paragraph.split(/\s+/).filter(Boolean)) {
      if (line.length + word.length + 1 > WIDTH && line.trim()) {
        out.push(line.trimEnd());
        line = indent;
      }
      line += `${word} `;
    }
    out.push(line.trimEnd());
  }
  return out.join('\n');
}

// What the steps say quotes the recording or the lab (a conntrack line, a
// pod's answer): made safe for a terminal here, before any colour is added.
export function narrator(write: (t: string) => void, quiet: boolean): Narrator {
  if (quiet) return { say: () => undefined, command: () => undefined, block: () => undefined };
  return {
    say: (text) => write(`${wrap(safeText(text), '  ')}\n`),
    command: (line) => write(`${chalk.dim('  $')} ${chalk.cyan(safeLine(line))}\n`),
    block: (lines) => write(`${lines.map(safeLine).join('\n')}\n`),
  };
}

function header(step: Step, text: StepText, total: number): string {
  const title = ` Step ${step.n}/${total} · ${text.title} `;
  return `\n${chalk.bold(`━━${title}${'━'.repeat(Math.max(2, WIDTH - title.length - 2))}`)}\n`;
}

// Brings the lab to the options a step needs (when jumping to it).
async function prepare(ctx: DemoContext, needs: KubeProxyState | null): Promise<void> {
  if (!needs || ctx.mode === 'replay') return;
  const now = latestConfig(ctx);
  if (now?.masqueradeAll !== needs.masqueradeAll) await setKubeProxy(ctx, { masqueradeAll: needs.masqueradeAll });
  if (now?.clusterCIDR !== needs.clusterCIDR) await setKubeProxy(ctx, { clusterCIDR: needs.clusterCIDR });
}

async function runStep(ctx: DemoContext, step: Step, options: WalkthroughOptions): Promise<StepResult> {
  const show = !options.json;
  const text = toldIn(step, proxyMode(ctx));
  if (show) {
    options.write(header(step, text, STEPS.length));
    options.write(`${wrap(text.purpose, '  ')}\n`);
  }
  let claims: Claim[];
  let evidence: unknown;
  try {
    const run = () => step.run(ctx);
    const outcome = await (step.n === 9 && options.interactive ? spinner('measuring…', run) : run());
    claims = outcome.claims;
    evidence = outcome.evidence;
  } catch (error) {
    claims = [{ text: 'the step ran', ok: false, saw: describeError(error) }];
    evidence = { error: describeError(error) };
  }
  const ok = claims.every((c) => c.ok);
  if (show) {
    options.write(`${wrap(`Look at: ${text.lookAt}`, '  ')}\n`);
    for (const c of claims) {
      options.write(
        c.ok
          ? `  ${chalk.green('✓')} ${safeLine(c.text)}\n`
          : `  ${chalk.red('✗')} ${safeLine(c.text)}\n      ${chalk.red(`saw instead: ${safeLine(c.saw ?? 'nothing')}`)}\n`,
      );
    }
    if (!ok) options.write(`  ${chalk.yellow(`hint: ${text.hint}`)}\n`);
  }
  const result: StepResult = { step: step.n, title: text.title, ok, claims, evidence };
  if (options.json) options.write(`${jsonLine({ step: step.n, title: text.title, ok, evidence, claims })}\n`);
  return result;
}

export async function runWalkthrough(ctx: DemoContext, options: WalkthroughOptions): Promise<StepResult[]> {
  const results = new Map<number, StepResult>();
  let index = Math.max(0, options.startAt - 1);
  let jumped = index > 0;
  try {
    while (index < STEPS.length) {
      const step = STEPS[index]!;
      if (jumped) await prepare(ctx, step.needs);
      jumped = false;
      results.set(step.n, await runStep(ctx, step, options));
      if (!options.interactive || index === STEPS.length - 1) {
        index++;
        continue;
      }
      const answer = (await question(chalk.dim('\n  Enter: next · b: back · q: quit  '))).trim().toLowerCase();
      if (answer === 'q') break;
      if (answer === 'b') {
        index = Math.max(0, index - 1);
        jumped = true;
      } else index++;
    }
  } finally {
    // whatever happened, the last step's cleanup runs (idempotent)
    if (!results.has(STEPS.length)) await ctx.close().catch(() => undefined);
  }
  const all = [...results.values()].sort((a, b) => a.step - b.step);
  if (!options.json) {
    const passed = all.filter((r) => r.ok).length;
    options.write(
      `\n${passed === all.length ? chalk.green('✓') : chalk.red('✗')} ${passed}/${all.length} steps verified against this run's events.\n`,
    );
  }
  return all;
}
