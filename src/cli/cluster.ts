// natscope cluster trace | tui: how they are spelled.

import { type Command, Option } from '@commander-js/extra-typings';
import { DEFAULT_IMAGE, DEFAULT_NAMESPACE } from '../cluster/nodePods.js';
import { attachTimeoutOption, detailOption, positiveNumber, type SetExit } from './common.js';

export function registerCluster(program: Command, setExit: SetExit): void {
  const cluster = program
    .command('cluster')
    .description("trace a real cluster's nodes through kubectl (bpftrace in a short-lived pod per node)");
  cluster
    .command('trace')
    .description(
      'stream NAT, conntrack and drop events from the nodes of the current kubectl context, with Kubernetes names',
    )
    .option('--context <name>', "the kubeconfig context (default: kubectl's current one)")
    .option('--nodes <list>', 'the nodes to trace, comma-separated (default: every node, at most 10)')
    .option(
      '--namespace <name>',
      'where natscope creates its node pods (privileged pods must be allowed there)',
      DEFAULT_NAMESPACE,
    )
    .option('--image <image>', "the node pods' image: it must have bpftrace 0.17 or newer and sh", DEFAULT_IMAGE)
    .option('--probes <list>', 'probe families: nat,conntrack,drop,rewrite', 'nat,conntrack,drop')
    .option('--json', 'JSON Lines on stdout (the event stream, with a names field)')
    .addOption(new Option('--duration <seconds>', 'stop after this long').argParser(positiveNumber))
    .addOption(
      new Option(
        '--ttl <seconds>',
        'the node pods end themselves after this long, even if natscope is killed (default: --duration + 300, or 4 h)',
      ).argParser(positiveNumber),
    )
    .addOption(detailOption())
    .addOption(attachTimeoutOption().default(120))
    .addOption(
      new Option('--ready-timeout <seconds>', 'how long the node pods may take to start (pulling the image)')
        .argParser(positiveNumber)
        .default(180),
    )
    .addHelpText(
      'after',
      `
Needs kubectl and the permissions in deploy/cluster/rbac.yaml (docs/cluster.md); no root here.

Examples:
  $ natscope cluster trace --nodes node-a,node-b                 # every probe on two nodes, Ctrl-C to stop
  $ natscope cluster trace --probes drop --duration 60 --json > drops.jsonl
  $ natscope cluster trace --context prod --namespace natscope --image registry.example/bpftrace:0.23`,
    )
    .action(async (opts) => {
      const { clusterTrace } = await import('../commands/cluster.js');
      setExit(
        await clusterTrace({
          context: opts.context,
          nodes: opts.nodes,
          namespace: opts.namespace,
          image: opts.image,
          probes: opts.probes,
          durationS: opts.duration,
          ttlS: opts.ttl,
          detail: opts.detail,
          json: Boolean(opts.json),
          attachTimeoutS: opts.attachTimeout,
          readyTimeoutS: opts.readyTimeout,
        }),
      );
    });
  cluster
    .command('tui')
    .description("the live screen on a real cluster's nodes: the stream cluster trace prints, drawn by natscope tui")
    .option('--context <name>', "the kubeconfig context (default: kubectl's current one)")
    .option('--nodes <list>', 'the nodes to trace, comma-separated (default: every node, at most 10)')
    .option(
      '--namespace <name>',
      'where natscope creates its node pods (privileged pods must be allowed there)',
      DEFAULT_NAMESPACE,
    )
    .option('--image <image>', "the node pods' image: it must have bpftrace 0.17 or newer and sh", DEFAULT_IMAGE)
    .option('--probes <list>', 'probe families: nat,conntrack,drop,rewrite', 'nat,conntrack,drop')
    .addOption(
      new Option(
        '--ttl <seconds>',
        'the node pods end themselves after this long, even if natscope is killed (default 4 h)',
      ).argParser(positiveNumber),
    )
    .addOption(detailOption())
    .addOption(attachTimeoutOption().default(120))
    .addOption(
      new Option('--ready-timeout <seconds>', 'how long the node pods may take to start (pulling the image)')
        .argParser(positiveNumber)
        .default(180),
    )
    .addHelpText(
      'after',
      `
Keys: p pause  / filter  ↑↓ jk select  Enter details  s save  ? help  q quit (the node pods are deleted)
Needs kubectl and the permissions in deploy/cluster/rbac.yaml (docs/cluster.md); no root here.

Examples:
  $ natscope cluster tui --nodes node-a,node-b
  $ natscope cluster tui --context prod --namespace natscope --probes drop`,
    )
    .action(async (opts) => {
      const { clusterTui } = await import('../commands/clusterTui.js');
      setExit(
        await clusterTui({
          context: opts.context,
          nodes: opts.nodes,
          namespace: opts.namespace,
          image: opts.image,
          probes: opts.probes,
          ttlS: opts.ttl,
          detail: opts.detail,
          attachTimeoutS: opts.attachTimeout,
          readyTimeoutS: opts.readyTimeout,
        }),
      );
    });
}
