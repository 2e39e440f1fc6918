// The command registry, nothing else: each command lives in commands/<name>.ts
// as a plain async function with a typed options object, imported only when
// it runs (so `natscope --help` stays fast and needs nothing installed).

import { Command, InvalidArgumentError, Option } from 'commander';
import { PREFIX_RULE, isValidPrefix } from './lab/prefix.js';
import { DEFAULT_DETAIL_PER_SECOND, parseDetail } from './tracer/detail.js';
import type { NatscopeError } from './errors.js';

export async function run(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  await program.parseAsync(argv);
  return exitCode;
}

type SetExit = (code: number) => void;

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number.');
  return n;
}

function prefix(value: string): string {
  if (!isValidPrefix(value)) throw new InvalidArgumentError(`use ${PREFIX_RULE}.`);
  return value;
}

const prefixOption = (description = 'name prefix of everything the lab creates') =>
  new Option('--prefix <prefix>', description).argParser(prefix).default('natscope-');

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number ≥ 0.');
  return n;
}

const vmOption = () =>
  new Option(
    '--vm <mode>',
    'where the kernel side runs: auto (native if kernel function probes attach, else the micro-VM), on, off',
  )
    .choices(['auto', 'on', 'off'])
    .default('auto');

// events per CPU and second reported whole; past it the probes only count (0 = all)
const detailOption = () =>
  new Option(
    '--detail <n|all>',
    `events per CPU and second reported whole (in tens: kept per tenth of a second), the rest counted in the kernel; drops and rewrites have their own (default ${DEFAULT_DETAIL_PER_SECOND}; all: every event)`,
  ).argParser((value: string) => {
    try {
      return parseDetail(value);
    } catch (error) {
      throw new InvalidArgumentError(`${(error as Error).message}; ${(error as NatscopeError).hint ?? ''}`);
    }
  });

const labOption = () =>
  new Option('--lab <backend>', 'which lab: netns (one Linux host) or kind (a kind cluster)')
    .choices(['netns', 'kind'])
    .default('netns');

export function buildProgram(setExit: SetExit): Command {
  const program = new Command('natscope')
    .description('See how Kubernetes Service NAT really behaves in the kernel: DNAT, SNAT, and where replies die.')
    .version('0.1.0')
    .showHelpAfterError('(natscope --help lists the commands)')
    .configureOutput({ outputError: (text, write) => write(text) })
    .exitOverride()
    .addHelpText(
      'after',
      `
Try the following:
  $ sudo natscope demo                  # the incident, step by step, proved by kernel events
  $ sudo natscope doctor                # what this machine can trace
  $ sudo natscope lab up && sudo natscope lab request mysql
  $ sudo natscope trace --probes drop   # tracepoints only: works where function probes are locked down
  $ natscope replay test/fixtures/recordings/incident.jsonl`,
    );

  program
    .command('doctor')
    .description('check what this machine can trace and what to fix')
    .option('--json', 'one JSON object with every check')
    .addHelpText('after', '\nExamples:\n  $ sudo natscope doctor\n  $ sudo natscope doctor --json | jq .checks')
    .action(async (opts: { json?: boolean }) => {
      const { doctor } = await import('./commands/doctor.js');
      setExit(await doctor({ json: Boolean(opts.json) }));
    });

  program
    .command('trace')
    .description('stream NAT, conntrack and drop events from the kernel')
    .option('--probes <list>', 'probe families: nat,conntrack,drop,rewrite', 'nat,conntrack,drop')
    .option('--json', 'JSON Lines on stdout (the event stream)')
    .option('--record <file>', 'also write the event stream to FILE')
    .addOption(new Option('--duration <seconds>', 'stop after this long').argParser(positiveNumber))
    .option('--all-netns', 'keep events from namespaces the lab does not own')
    .addOption(detailOption())
    .addOption(prefixOption())
    .addOption(vmOption())
    .addOption(labOption())
    .addOption(
      new Option('--attach-timeout <seconds>', 'how long bpftrace may take to attach')
        .argParser(positiveNumber)
        .default(90),
    )
    .addHelpText(
      'after',
      `
Examples:
  $ sudo natscope trace                           # default probes on the lab (micro-VM if function probes are locked down)
  $ sudo natscope trace --probes drop --all-netns # tracepoints only, every namespace
  $ sudo natscope trace --json --record run.jsonl | jq 'select(.kind=="nat")'
  $ sudo natscope trace --json --detail all       # every event whole, even under load (costs the traced node more)`,
    )
    .action(async (opts) => {
      const { trace } = await import('./commands/trace.js');
      setExit(
        await trace({
          probes: opts.probes,
          json: Boolean(opts.json),
          record: opts.record,
          durationS: opts.duration,
          allNetns: Boolean(opts.allNetns),
          detail: opts.detail,
          vm: opts.vm,
          attachTimeoutS: opts.attachTimeout,
          prefix: opts.prefix,
          lab: opts.lab,
        }),
      );
    });

  program
    .command('replay')
    .description('print a recorded event stream (no root needed)')
    .argument('<file>', 'a JSONL recording (natscope trace --record, demo --record), or - for standard input')
    .option('--json', 'JSON Lines on stdout')
    .addOption(
      new Option('--speed <n>', 'pace: 1 = as recorded, 10 = ten times faster, 0 = at once')
        .argParser(nonNegativeNumber)
        .default(0),
    )
    .option('--flows', 'after the events, one line per correlated flow')
    .addHelpText(
      'after',
      '\nExamples:\n  $ natscope replay test/fixtures/recordings/incident.jsonl --flows\n  $ natscope replay run.jsonl --json | jq -c "select(.kind==\\"drop\\")"\n  $ sudo natscope trace --json | natscope replay - --flows',
    )
    .action(async (file: string, opts) => {
      const { replay } = await import('./commands/replay.js');
      setExit(await replay({ file, json: Boolean(opts.json), speed: opts.speed, flows: Boolean(opts.flows) }));
    });

  program
    .command('tui')
    .description('the live screen: DNAT and SNAT side by side, drops, each flow told hop by hop')
    .option('--replay <file>', 'play a recording instead of tracing (no root needed)')
    .addOption(
      new Option('--speed <n>', 'replay pace: 1 = as recorded, 0 = at once').argParser(nonNegativeNumber).default(1),
    )
    .option('--probes <list>', 'probe families to trace live', 'nat,conntrack,drop')
    .addOption(detailOption())
    .addOption(prefixOption())
    .addOption(vmOption())
    .addOption(labOption())
    .addHelpText(
      'after',
      `
Keys: r request  m masqueradeAll  c clusterCIDR  p pause  / filter  ↑↓ jk select  Enter details  s save  ? help  q quit

Examples:
  $ sudo natscope tui                                        # live, on the netns lab
  $ natscope tui --replay test/fixtures/recordings/incident.jsonl`,
    )
    .action(async (opts) => {
      const { tui } = await import('./commands/tui.js');
      setExit(
        await tui({
          replay: opts.replay,
          speed: opts.speed,
          probes: opts.probes,
          detail: opts.detail,
          prefix: opts.prefix,
          vm: opts.vm,
          lab: opts.lab,
        }),
      );
    });

  program
    .command('demo')
    .description('the incident, step by step: every claim checked against what the kernel did in this run')
    .addOption(labOption())
    .addOption(vmOption())
    .option('--auto', 'no pauses (CI, recording); exit 0 only if every check passed')
    .option('--json', 'one JSON line per step: {"step","title","ok","evidence"}')
    .addOption(
      new Option('--step <n>', 'start at step N (the lab is brought to the state it needs)').argParser(positiveNumber),
    )
    .option('--record <file>', 'keep the event stream of this run')
    .option('--replay <file>', 'tell the story from a recording (no root needed)')
    .addOption(prefixOption())
    .addHelpText(
      'after',
      `
Examples:
  $ sudo natscope demo                      # interactive: Enter next, b back, q quit
  $ sudo natscope demo --auto --json        # for CI: one verdict per step
  $ natscope demo --replay test/fixtures/recordings/incident.jsonl --auto`,
    )
    .action(async (opts) => {
      const { demo } = await import('./commands/demo.js');
      setExit(
        await demo({
          lab: opts.lab,
          vm: opts.vm,
          auto: Boolean(opts.auto),
          json: Boolean(opts.json),
          step: opts.step,
          record: opts.record,
          replay: opts.replay,
          prefix: opts.prefix,
        }),
      );
    });

  const lab = program
    .command('lab')
    .description("the incident's lab: office, vpn, two nodes, nginx and mysql behind ClusterIPs");
  const labCommon = (c: Command) => c.addOption(prefixOption()).addOption(vmOption()).addOption(labOption());
  const common = (opts: { prefix: string; vm: 'auto' | 'on' | 'off'; lab: 'netns' | 'kind' }) => ({
    prefix: opts.prefix,
    vm: opts.vm,
    lab: opts.lab,
  });
  labCommon(
    lab
      .command('up')
      .description('bring the lab up (cleans a stale one first), kube-proxy in iptables mode')
      .option('--masquerade-all', 'start with kube-proxy masqueradeAll: true (the fix)')
      .option('--cluster-cidr <cidr>', 'start with a kube-proxy clusterCIDR (the other fix)')
      .option('--json', 'print the lab status as JSON'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo natscope lab up\n  $ sudo natscope lab up --vm off           # the lab on this host even if function probes cannot attach here\n  $ sudo natscope lab up --masquerade-all',
    )
    .action(async (opts) => {
      const { up } = await import('./commands/lab.js');
      setExit(
        await up({
          ...common(opts),
          masqueradeAll: Boolean(opts.masqueradeAll),
          clusterCIDR: opts.clusterCidr ?? null,
          json: Boolean(opts.json),
        }),
      );
    });
  labCommon(lab.command('down').description('take the lab down: namespaces, processes, rules; safe to run any time'))
    .addHelpText('after', '\nExamples:\n  $ sudo natscope lab down\n  $ sudo natscope lab down --lab kind')
    .action(async (opts) => {
      const { down } = await import('./commands/lab.js');
      setExit(await down(common(opts)));
    });
  labCommon(
    lab
      .command('status')
      .description('hosts, pods, Services and kube-proxy options')
      .option('--json', 'the stable JSON status for scripts'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo natscope lab status\n  $ sudo natscope lab status --json | jq .kubeProxy',
    )
    .action(async (opts) => {
      const { status } = await import('./commands/lab.js');
      setExit(await status({ ...common(opts), json: Boolean(opts.json) }));
    });
  labCommon(
    lab
      .command('request')
      .description('one TCP request from the office host: prints the outcome, the latency and the peer the pod saw')
      .argument('<target>', 'a Service (nginx, mysql) or a pod (pod/nginx, pod/mysql)')
      .addOption(new Option('--timeout <seconds>', 'give up after this long').argParser(positiveNumber).default(3))
      .option('--json', 'the request event as JSON'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo natscope lab request nginx       # answered: its pod is on node1\n  $ sudo natscope lab request mysql       # times out: its pod is on node2\n  $ sudo natscope lab request pod/mysql   # answered: pod IPs always work',
    )
    .action(async (target: string, opts) => {
      const { request } = await import('./commands/lab.js');
      setExit(await request({ ...common(opts), target, timeoutS: opts.timeout, json: Boolean(opts.json) }));
    });
  labCommon(
    lab
      .command('load')
      .description(
        'as many connections as possible from the office to a target: connections per second (each from its own source address and port)',
      )
      .argument('<target>', 'a Service or pod, as for request')
      .addOption(new Option('--seconds <n>', 'how long').argParser(positiveNumber).default(5))
      .addOption(new Option('--workers <n>', 'parallel connection loops').argParser(positiveNumber).default(4))
      .option('--json', 'the result as JSON'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo natscope lab load nginx\n  $ sudo natscope lab set masquerade-all on && sudo natscope lab load nginx   # the price of SNAT',
    )
    .action(async (target: string, opts) => {
      const { load } = await import('./commands/lab.js');
      setExit(
        await load({ ...common(opts), target, seconds: opts.seconds, workers: opts.workers, json: Boolean(opts.json) }),
      );
    });
  labCommon(
    lab
      .command('ping')
      .description('ping a Service or pod from the office host')
      .argument('<target>', 'a Service or pod, as for request')
      .option('--json', 'the result as JSON'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo natscope lab ping mysql       # no answer: nothing owns a ClusterIP in iptables mode\n  $ sudo natscope lab ping pod/mysql   # answered',
    )
    .action(async (target: string, opts) => {
      const { ping } = await import('./commands/lab.js');
      setExit(await ping({ ...common(opts), target, json: Boolean(opts.json) }));
    });
  labCommon(
    lab
      .command('set')
      .description('change a kube-proxy option on both nodes (a full re-sync, like a restarted kube-proxy)')
      .argument('<setting>', 'masquerade-all or cluster-cidr')
      .argument('<value>', 'on|off, or a CIDR|none')
      .option('--json', 'the new options and the re-sync time as JSON'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo natscope lab set masquerade-all on\n  $ sudo natscope lab set cluster-cidr 10.244.0.0/16\n  $ sudo natscope lab set cluster-cidr none',
    )
    .action(async (key: string, value: string, opts) => {
      const { set } = await import('./commands/lab.js');
      setExit(await set({ ...common(opts), key, value, json: Boolean(opts.json) }));
    });
  labCommon(
    lab.command('rules').description("a node's nat table (iptables-save -t nat)").argument('<node>', 'node1 or node2'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo natscope lab rules node1\n  $ sudo natscope lab rules node1 | grep KUBE-MARK-MASQ',
    )
    .action(async (node: string, opts) => {
      const { rules } = await import('./commands/lab.js');
      setExit(await rules({ ...common(opts), node }));
    });
  labCommon(
    lab
      .command('routes')
      .description("a host's routing table (ip route)")
      .argument('<host>', 'office, vpn, node1 or node2'),
  )
    .addHelpText('after', '\nExamples:\n  $ sudo natscope lab routes vpn      # the Service CIDR goes to node1 only')
    .action(async (host: string, opts) => {
      const { routes } = await import('./commands/lab.js');
      setExit(await routes({ ...common(opts), host }));
    });
  labCommon(
    lab
      .command('conntrack')
      .description("a node's conntrack table (conntrack -L)")
      .argument('<node>', 'node1, node2 or vpn')
      .option('--json', 'the entries as JSON'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo natscope lab conntrack node1   # [UNREPLIED] entries of the broken requests',
    )
    .action(async (node: string, opts) => {
      const { conntrack } = await import('./commands/lab.js');
      setExit(await conntrack({ ...common(opts), node, json: Boolean(opts.json) }));
    });

  program
    .command('agent', { hidden: true })
    .description('the kernel side, serving commands and events as JSON Lines on stdio (used inside the micro-VM)')
    .option('--stdio', 'serve on stdin/stdout')
    .addOption(prefixOption())
    .option('--masquerade-all')
    .option('--cluster-cidr <cidr>')
    .option('--probes <list>')
    .option('--all-netns')
    .addOption(detailOption())
    .addOption(new Option('--attach-timeout <seconds>').argParser(positiveNumber))
    .action(async (opts) => {
      const { agent } = await import('./commands/agent.js');
      setExit(
        await agent({
          prefix: opts.prefix,
          masqueradeAll: Boolean(opts.masqueradeAll),
          clusterCIDR: opts.clusterCidr ?? null,
          probes: opts.probes ?? null,
          allNetns: Boolean(opts.allNetns),
          detail: opts.detail,
          attachTimeoutS: opts.attachTimeout,
        }),
      );
    });
  program
    .command('session', { hidden: true })
    .command('serve')
    .description('keep a micro-VM lab up and serve it on a socket (started by lab up)')
    .addOption(prefixOption())
    .option('--masquerade-all')
    .option('--cluster-cidr <cidr>')
    .action(async (opts) => {
      const { sessionServe } = await import('./commands/agent.js');
      setExit(
        await sessionServe({
          prefix: opts.prefix,
          masqueradeAll: Boolean(opts.masqueradeAll),
          clusterCIDR: opts.clusterCidr ?? null,
        }),
      );
    });

  const vm = program
    .command('vm')
    .description('the throw-away micro-VM that runs the real probes where kernel function probes are locked down');
  vm.command('setup')
    .description('install qemu, busybox-static, kmod and fetch the VM kernel (idempotent)')
    .addHelpText('after', '\nExamples:\n  $ sudo natscope vm setup')
    .action(async () => {
      const { vmSetup } = await import('./commands/vm.js');
      setExit(await vmSetup());
    });
  vm.command('run')
    .description("boot the micro-VM, run a command as root in it, power off; exits with the command's code")
    .argument('<command...>', 'the command and its arguments (after --)')
    .addOption(
      new Option('--timeout <seconds>', 'give up after this long (exit 124)').argParser(positiveNumber).default(300),
    )
    .option(
      '--share <dir>',
      'mount this host folder read-write at the same path in the VM (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option('-q, --quiet', 'no progress lines')
    .addHelpText(
      'after',
      `
Exit codes: the command's own; 124 if it timed out; 125 if the VM failed.

Examples:
  $ sudo natscope vm run -- uname -r
  $ sudo natscope vm run --share "$PWD/out" -- natscope trace --duration 20 --record "$PWD/out/run.jsonl"`,
    )
    .action(async (argv: string[], opts) => {
      const { vmRun } = await import('./commands/vm.js');
      setExit(await vmRun({ argv, timeoutS: opts.timeout, shares: opts.share, quiet: Boolean(opts.quiet) }));
    });

  return program;
}
