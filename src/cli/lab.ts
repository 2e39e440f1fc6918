// natscope lab up|down|status|request|load|ping|set|rules|routes|conntrack:
// how they are spelled. Every subcommand takes the same three options that
// say which lab (--prefix, --vm, --lab).

import { type Command, Option, type OptionValues } from '@commander-js/extra-typings';
import type { LabCommonOptions } from '../commands/lab.js';
import {
  integerIn,
  labOption,
  positiveNumber,
  prefixOption,
  iptablesOption,
  proxyModeOption,
  type SetExit,
  vmOption,
} from './common.js';

function whichLab<Args extends unknown[], Opts extends OptionValues>(c: Command<Args, Opts>) {
  return c.addOption(prefixOption()).addOption(vmOption()).addOption(labOption());
}

// as many parallel connection loops as natscope's load helper runs
const MAX_LOAD_WORKERS = 64;

// the lab a subcommand's options name
const place = (opts: LabCommonOptions): LabCommonOptions => ({
  prefix: opts.prefix,
  vm: opts.vm,
  lab: opts.lab,
});

export function registerLab(program: Command, setExit: SetExit): void {
  const lab = program
    .command('lab')
    .description("the incident's lab: office, vpn, two nodes, nginx and mysql behind ClusterIPs");
  // in this order in the help
  registerLifecycle(lab, setExit);
  registerTraffic(lab, setExit);
  registerNodeState(lab, setExit);
}

// up, down, status: the lab itself.
function registerLifecycle(lab: Command, setExit: SetExit): void {
  whichLab(
    lab
      .command('up')
      .description('bring the lab up (cleans a stale one first), kube-proxy in iptables or nftables mode')
      .addOption(proxyModeOption())
      .addOption(iptablesOption())
      .option('--masquerade-all', 'start with kube-proxy masqueradeAll: true (the fix)')
      .option('--cluster-cidr <cidr>', 'start with a kube-proxy clusterCIDR (the other fix)')
      .option('--json', 'print the lab status as JSON'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo natscope lab up\n  $ sudo natscope lab up --vm off           # the lab on this host even if function probes cannot attach here\n  $ sudo natscope lab up --masquerade-all\n  $ sudo natscope lab up --proxy-mode nftables   # kube-proxy in nftables mode: table ip kube-proxy, one nft -f per node\n  $ sudo natscope lab up --iptables legacy       # nodes on iptables-legacy (trace --rules then reads xt TRACE)',
    )
    .action(async (opts) => {
      const { up } = await import('../commands/lab.js');
      setExit(
        await up({
          ...place(opts),
          masqueradeAll: Boolean(opts.masqueradeAll),
          clusterCIDR: opts.clusterCidr ?? null,
          proxyMode: opts.proxyMode,
          iptables: opts.iptables,
          json: Boolean(opts.json),
        }),
      );
    });

  whichLab(lab.command('down').description('take the lab down: namespaces, processes, rules; safe to run any time'))
    .addHelpText('after', '\nExamples:\n  $ sudo natscope lab down\n  $ sudo natscope lab down --lab kind')
    .action(async (opts) => {
      const { down } = await import('../commands/lab.js');
      setExit(await down(place(opts)));
    });

  whichLab(
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
      const { status } = await import('../commands/lab.js');
      setExit(await status({ ...place(opts), json: Boolean(opts.json) }));
    });
}

// request, load, ping: traffic from the office host.
function registerTraffic(lab: Command, setExit: SetExit): void {
  whichLab(
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
    .action(async (target, opts) => {
      const { request } = await import('../commands/lab.js');
      setExit(await request({ ...place(opts), target, timeoutS: opts.timeout, json: Boolean(opts.json) }));
    });

  whichLab(
    lab
      .command('load')
      .description(
        'as many connections as possible from the office to a target: connections per second (each from its own source address and port)',
      )
      .argument('<target>', 'a Service or pod, as for request')
      .addOption(new Option('--seconds <n>', 'how long').argParser(positiveNumber).default(5))
      .addOption(
        new Option('--workers <n>', `parallel connection loops (1 to ${MAX_LOAD_WORKERS})`)
          .argParser(integerIn(1, MAX_LOAD_WORKERS))
          .default(4),
      )
      .option('--json', 'the result as JSON'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo natscope lab load nginx\n  $ sudo natscope lab set masquerade-all on && sudo natscope lab load nginx   # the price of SNAT',
    )
    .action(async (target, opts) => {
      const { load } = await import('../commands/lab.js');
      setExit(
        await load({ ...place(opts), target, seconds: opts.seconds, workers: opts.workers, json: Boolean(opts.json) }),
      );
    });

  whichLab(
    lab
      .command('ping')
      .description('ping a Service or pod from the office host')
      .argument('<target>', 'a Service or pod, as for request')
      .option('--json', 'the result as JSON'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo natscope lab ping mysql       # iptables mode: no answer (nothing owns a ClusterIP); nftables mode: node1 rejects it\n  $ sudo natscope lab ping pod/mysql   # answered',
    )
    .action(async (target, opts) => {
      const { ping } = await import('../commands/lab.js');
      setExit(await ping({ ...place(opts), target, json: Boolean(opts.json) }));
    });
}

// set, rules, routes, conntrack: kube-proxy's options on the nodes, and the tables they make.
function registerNodeState(lab: Command, setExit: SetExit): void {
  whichLab(
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
    .action(async (key, value, opts) => {
      const { set } = await import('../commands/lab.js');
      setExit(await set({ ...place(opts), key, value, json: Boolean(opts.json) }));
    });

  whichLab(
    lab
      .command('rules')
      .description(
        "a node's kube-proxy rules: its nat table (iptables-save -t nat) in iptables mode, table ip kube-proxy (nft list table) in nftables mode; the vpn's filter table",
      )
      .argument('<node>', 'node1, node2 or vpn'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo natscope lab rules node1\n  $ sudo natscope lab rules node1 | grep KUBE-MARK-MASQ        # iptables mode\n  $ sudo natscope lab rules node1 | grep mark-for-masquerade   # nftables mode',
    )
    .action(async (node, opts) => {
      const { rules } = await import('../commands/lab.js');
      setExit(await rules({ ...place(opts), node }));
    });

  whichLab(
    lab
      .command('routes')
      .description("a host's routing table (ip route)")
      .argument('<host>', 'office, vpn, node1 or node2'),
  )
    .addHelpText('after', '\nExamples:\n  $ sudo natscope lab routes vpn      # the Service CIDR goes to node1 only')
    .action(async (host, opts) => {
      const { routes } = await import('../commands/lab.js');
      setExit(await routes({ ...place(opts), host }));
    });

  whichLab(
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
    .action(async (node, opts) => {
      const { conntrack } = await import('../commands/lab.js');
      setExit(await conntrack({ ...place(opts), node, json: Boolean(opts.json) }));
    });
}
