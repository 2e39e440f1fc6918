// natscope cluster trace | tui | diagnose: how they are spelled. The three
// take the same options for which nodes to trace and the node pods that
// trace them, built once here so their spelling and help cannot drift apart.

import { type Command, Option, type OptionValues } from '@commander-js/extra-typings';
import { DEFAULT_CLIENT_IMAGE } from '../cluster/clientPod.js';
import { DEFAULT_IMAGE, DEFAULT_NAMESPACE } from '../cluster/nodePods.js';
import type { ClusterSessionOptions } from '../cluster/session.js';
import { attachTimeoutOption, detailOption, integerIn, positiveNumber, type SetExit } from './common.js';

// Which cluster, and which of its nodes: every cluster command's first options.
function whichNodes<Args extends unknown[], Opts extends OptionValues>(c: Command<Args, Opts>) {
  return c
    .option('--context <name>', "the kubeconfig context (default: kubectl's current one)")
    .option('--nodes <list>', 'the nodes to trace, comma-separated (default: every node, at most 10)');
}

const imageOption = () =>
  new Option('--image <image>', "the node pods' image: it must have bpftrace 0.17 or newer and sh").default(
    DEFAULT_IMAGE,
  );

// The nodes and how their pods are made, as cluster trace and cluster tui take them.
function nodePods<Args extends unknown[], Opts extends OptionValues>(c: Command<Args, Opts>) {
  return whichNodes(c)
    .option(
      '--namespace <name>',
      'where natscope creates its node pods (privileged pods must be allowed there)',
      DEFAULT_NAMESPACE,
    )
    .addOption(imageOption())
    .option('--probes <list>', 'probe families: nat,conntrack,drop,rewrite', 'nat,conntrack,drop');
}

// how long the node pods live on their own; `defaultNote` says what without the option
const ttlOption = (defaultNote: string) =>
  new Option(
    '--ttl <seconds>',
    `the node pods end themselves after this long, even if natscope is killed (${defaultNote})`,
  ).argParser(positiveNumber);

// How long the node pods may take to start and bpftrace to attach: every cluster command's last options.
function podTimeouts<Args extends unknown[], Opts extends OptionValues>(c: Command<Args, Opts>) {
  return c
    .addOption(attachTimeoutOption().default(120))
    .addOption(
      new Option('--ready-timeout <seconds>', 'how long the node pods may take to start (pulling the image)')
        .argParser(positiveNumber)
        .default(180),
    );
}

// What nodePods, --ttl, --detail and podTimeouts gave, as a cluster session takes it.
const sessionOptions = (opts: {
  context?: string;
  nodes?: string;
  namespace: string;
  image: string;
  ttl?: number;
  detail?: number;
  attachTimeout: number;
  readyTimeout: number;
}): ClusterSessionOptions => ({
  context: opts.context,
  nodes: opts.nodes,
  namespace: opts.namespace,
  image: opts.image,
  ttlS: opts.ttl,
  detail: opts.detail,
  attachTimeoutS: opts.attachTimeout,
  readyTimeoutS: opts.readyTimeout,
});

export function registerCluster(program: Command, setExit: SetExit): void {
  const cluster = program
    .command('cluster')
    .description("trace a real cluster's nodes through kubectl (bpftrace in a short-lived pod per node)");
  const trace = nodePods(
    cluster
      .command('trace')
      .description(
        'stream NAT, conntrack and drop events from the nodes of the current kubectl context, with Kubernetes names',
      ),
  )
    .option('--json', 'JSON Lines on stdout (the event stream, with a names field)')
    .addOption(new Option('--duration <seconds>', 'stop after this long').argParser(positiveNumber))
    .addOption(ttlOption('default: --duration + 300, or 4 h'))
    .addOption(detailOption());
  podTimeouts(trace)
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
          ...sessionOptions(opts),
          probes: opts.probes,
          durationS: opts.duration,
          json: Boolean(opts.json),
        }),
      );
    });
  const tui = nodePods(
    cluster
      .command('tui')
      .description("the live screen on a real cluster's nodes: the stream cluster trace prints, drawn by natscope tui"),
  )
    .addOption(ttlOption('default 4 h'))
    .addOption(detailOption());
  podTimeouts(tui)
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
      setExit(await clusterTui({ ...sessionOptions(opts), probes: opts.probes }));
    });
  const diagnose = whichNodes(
    cluster
      .command('diagnose')
      .description(
        "one connection to a Service, traced on every node: answered, or where it died and why (the DNAT's node, SNAT, drops)",
      )
      .argument('<svc/NAME>', 'the Service, as kubectl names it (svc/mysql)')
      .option('-n, --namespace <name>', "the Service's namespace", 'default')
      .addOption(
        new Option('--port <port>', "the Service's TCP port (default: its first)").argParser(integerIn(1, 65535)),
      )
      .option('--from-pod <name>', 'watch this pod (in -n) connect, instead of sending a request')
      .option(
        '--from-ip <address>',
        'watch this client address (e.g. an office behind a VPN) connect, instead of sending a request',
      )
      .addOption(
        new Option('--wait <seconds>', "with --from-*: how long to wait for the client's traffic")
          .argParser(positiveNumber)
          .default(60),
      )
      .option(
        '--client-image <image>',
        "the request pod's image (it needs busybox: sh, ip, sed, nc, timeout)",
        DEFAULT_CLIENT_IMAGE,
      ),
  )
    .option(
      '--pods-namespace <name>',
      'where natscope creates its node pods and the request pod (privileged pods must be allowed there)',
      DEFAULT_NAMESPACE,
    )
    .addOption(imageOption())
    .option('--probes <list>', 'probe families: nat,conntrack,drop', 'nat,conntrack,drop')
    .option('--json', 'the diagnosis as one JSON object on stdout');
  podTimeouts(diagnose)
    .addHelpText(
      'after',
      `
Exit status: 0 when the connection was answered, 1 otherwise (the verdict says why), 2 for bad input.
A node sees only its own kernel: what happens outside the traced nodes (a VPN, a cloud firewall) is
named as unseen, never guessed.

Examples:
  $ natscope cluster diagnose svc/mysql                       # one request from a pod, then the verdict
  $ natscope cluster diagnose svc/mysql --from-ip 192.168.10.10 --json   # wait for an office client's traffic
  $ kubectl natscope diagnose svc/api -n shop --context prod`,
    )
    .action(async (target, opts) => {
      const { clusterDiagnose } = await import('../commands/clusterDiagnose.js');
      setExit(
        await clusterDiagnose({
          target,
          serviceNamespace: opts.namespace,
          port: opts.port,
          fromPod: opts.fromPod,
          fromIp: opts.fromIp,
          waitS: opts.wait,
          clientImage: opts.clientImage,
          context: opts.context,
          nodes: opts.nodes,
          namespace: opts.podsNamespace,
          image: opts.image,
          probes: opts.probes,
          json: Boolean(opts.json),
          // the node pods end themselves well after a diagnosis (it takes a minute or two)
          ttlS: Math.ceil(opts.wait) + 600,
          attachTimeoutS: opts.attachTimeout,
          readyTimeoutS: opts.readyTimeout,
        }),
      );
    });
}
