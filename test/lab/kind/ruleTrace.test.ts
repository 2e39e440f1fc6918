// trace --rules on the kind lab, against the fake tools: which namespaces
// (by the containers' PIDs) get natscope's trace table and an nft listener,
// where the request runs and from which port, and that tables and listeners
// go on every way out. The fake kernel traces only the readiness probes (the
// real traces are ruleTrace.lab.test.ts's).

import { readFileSync, readdirSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { traceRules } from '../../../src/commands/traceRules.js';
import { imageTag } from '../../../src/lab/kind/image.js';
import { editKubeProxyConfig } from '../../../src/lab/kind/kubeproxy-config.js';
import { openKindLab } from '../../../src/lab/kind/lab.js';
import { TRACED_PORTS } from '../../../src/ruletrace/tracedRequest.js';
import { asNatscopeError } from '../../helpers.js';
import { type Fakes, labIsUp, order, output, useFakes } from './fakes.js';

// each traced run starts some twenty fake tool processes
const SLOW = 60_000;
const STAGED = editKubeProxyConfig(output('kube-proxy-config.conf'), { masqueradeAll: false, clusterCIDR: null });
let f: Fakes;

beforeEach(async () => {
  f = useFakes({}, { waitS: 3 });
  await labIsUp(f, await imageTag(), STAGED);
});
afterEach(() => f.restore());

const netns = (pid: number | undefined) => `--net=/proc/${pid}/ns/net`;

// the fake nsenter processes of this test still running an nft listener
function listenersLeft(): number[] {
  const left: number[] = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (argv.includes('monitor') && env.includes(`NATSCOPE_FAKE_DIR=${f.dir}`)) left.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return left;
}

function nftCalls(what: RegExp): string[] {
  return f
    .lines()
    .filter((l) => l.startsWith('nsenter --net=') && what.test(l))
    .map((l) => l.split(' ')[1] ?? '');
}

describe('trace --rules on the kind lab', () => {
  test(
    "a Service request is traced in the office's, the vpn's, node1's and the pod's node's namespaces, sent from the traced port, and every table removed after",
    async () => {
      const lab = await openKindLab();
      const pids = f.world().pids;
      const r = await lab.ruleTrace('mysql', 2000);
      const hosts = [pids.office, pids.vpn, pids['natscope-worker'], pids['natscope-worker2']].map(netns);
      expect(nftCalls(/ nft -a monitor trace$/).sort()).toEqual([...hosts].sort());
      expect(nftCalls(/ nft -f -$/).sort()).toEqual([...hosts].sort());
      expect(nftCalls(/ nft delete table ip natscope-trace$/).sort()).toEqual([...hosts].sort());
      expect(f.lines().some((l) => l.includes(netns(pids['natscope-control-plane'])))).toBe(false);

      // the table marks the request's flow and node1's masqueraded leg to the mysql pod
      const sport = r.request.sport ?? 0;
      expect(sport).toBeGreaterThanOrEqual(TRACED_PORTS.min);
      expect(sport).toBeLessThanOrEqual(TRACED_PORTS.max);
      const script = f.calls().find((c) => c.tool === 'nsenter' && c.args.at(-1) === '-')?.stdin ?? '';
      expect(script).toContain(`ip saddr 192.168.10.10 tcp sport ${sport} meta nftrace set 1`);
      expect(script).toContain('ip saddr 172.18.0.3 ip daddr 10.244.1.2 tcp dport 3306 meta nftrace set 1');

      // the request program runs in the office's namespace, from that port, between the tables' loading and removal
      const lines = f.lines();
      const request = new RegExp(
        `^nsenter --target ${pids.office} --net -- \\S+natscope-net request --proto mysql --timeout-ms 2000 --sport ${sport} 10\\.96\\.207\\.61 3306$`,
      );
      expect(order(lines, [/ nft -a monitor trace$/, / nft -f -$/, request, / nft delete table/])).not.toContain(-1);
      expect(r.request).toMatchObject({ target: 'mysql', outcome: 'timeout', src: '192.168.10.10' });

      // nodes named as kind names them, with their part in the lab, in the order the request crosses them
      expect(Object.keys(r.skipped)).toEqual(['office', 'vpn', 'natscope-worker (node1)', 'natscope-worker2 (node2)']);
      expect(Object.values(r.skipped)).toEqual([0, 0, 0, 0]);
      // the readiness probes are no part of the path
      expect(r.rulePath.packets).toEqual([]);
      expect(r.rulePath.kubeProxy).toEqual({ mode: 'iptables', masqueradeAll: false, clusterCIDR: null });
      expect(listenersLeft()).toEqual([]);
    },
    SLOW,
  );

  test(
    "a pod's own address is traced in the office, the vpn and the pod's node only, with no masqueraded leg",
    async () => {
      const lab = await openKindLab();
      const pids = f.world().pids;
      const r = await lab.ruleTrace('pod/nginx', 2000);
      expect(r.request.outcome).toBe('answered');
      expect(Object.keys(r.skipped)).toEqual(['office', 'vpn', 'natscope-worker (node1)']);
      expect(nftCalls(/ nft -f -$/).sort()).toEqual([pids.office, pids.vpn, pids['natscope-worker']].map(netns).sort());
      const script = f.calls().find((c) => c.tool === 'nsenter' && c.args.at(-1) === '-')?.stdin ?? '';
      expect(script).not.toContain('172.18.0.3');
    },
    SLOW,
  );

  test(
    'a table the vpn refuses fails the trace with nft’s reason, sends no request, and removes the tables and listeners',
    async () => {
      f.update({ nftRefuses: 'vpn' });
      const lab = await openKindLab();
      const pids = f.world().pids;
      await expect(lab.ruleTrace('mysql', 2000)).rejects.toThrow(
        `nft in /proc/${pids.vpn}/ns/net failed (exit 1): netlink: Error: cache initialization failed: Operation not permitted`,
      );
      expect(f.lines().some((l) => / request /.test(l))).toBe(false);
      const hosts = [pids.office, pids.vpn, pids['natscope-worker'], pids['natscope-worker2']].map(netns);
      expect(nftCalls(/ nft delete table ip natscope-trace$/).sort()).toEqual([...hosts].sort());
      expect(listenersLeft()).toEqual([]);
    },
    SLOW,
  );

  test(
    "a listener that ends early in node2's namespace fails the trace, sends no request, and removes the tables and listeners",
    async () => {
      f.update({ nftMonitorEnds: 'natscope-worker2' });
      const lab = await openKindLab();
      const pids = f.world().pids;
      const err = await lab.ruleTrace('mysql', 2000).catch((e: unknown) => e);
      expect(err).toMatchObject({
        message: `nft monitor trace in /proc/${pids['natscope-worker2']}/ns/net ended early`,
        hint: `run it yourself to see why: sudo nsenter --net=/proc/${pids['natscope-worker2']}/ns/net nft monitor trace`,
      });
      expect(f.lines().some((l) => / request /.test(l))).toBe(false);
      expect(nftCalls(/ nft delete table ip natscope-trace$/)).toHaveLength(4);
      expect(listenersLeft()).toEqual([]);
    },
    SLOW,
  );

  test(
    'an office container that is not running is said before anything runs in a namespace',
    async () => {
      const lab = await openKindLab();
      const w = f.world();
      const office = w.containers['natscope-office'];
      if (!office) throw new Error('no office in the fake world');
      f.update({ containers: { ...w.containers, 'natscope-office': { ...office, running: false } } });
      await lab.refresh();
      await expect(lab.ruleTrace('mysql', 2000)).rejects.toThrow('the natscope-office container is not running');
      expect(f.lines().some((l) => l.startsWith('nsenter'))).toBe(false);
    },
    SLOW,
  );

  test(
    '--vm on with the kind lab is a usage error: the kind lab runs on this machine',
    async () => {
      const err = await traceRules({
        target: 'mysql',
        timeoutS: 3,
        json: false,
        prefix: 'natscope-',
        vm: 'on',
        lab: 'kind',
      }).catch((e: unknown) => e);
      expect(err).toMatchObject({
        message: "the kind lab runs on this machine's Docker, not in the micro-VM",
        exitCode: 2,
      });
    },
    SLOW,
  );

  test(
    "nodes whose kube-proxy rules are iptables-legacy: traced with xt TRACE, each namespace's logger set to nfnetlink_log and put back when its listener fails; nothing is left",
    async () => {
      f.update({ kubeProxyBackend: 'legacy', nodeAlternative: 'legacy' });
      const lab = await openKindLab();
      const pids = f.world().pids;
      const hosts = [pids.office, pids.vpn, pids['natscope-worker'], pids['natscope-worker2']].map(netns);
      // the fake machine has no nflog listener: tcpdump ends at once
      const e = asNatscopeError(await lab.ruleTrace('mysql', 2000).catch((x: unknown) => x));
      expect(e.message).toMatch(/^tcpdump -i nflog:0 in \/proc\/\d+\/ns\/net ended early$/);
      const set = (to: string) => nftCalls(new RegExp(` sysctl -q -w net\\.netfilter\\.nf_log\\.2=${to}$`)).sort();
      expect(set('nfnetlink_log')).toEqual([...hosts].sort());
      expect(set('nf_log_ipv4')).toEqual([...hosts].sort());
      expect(nftCalls(/ iptables-legacy -w 10 -t raw -S$/).sort()).toEqual([...hosts].sort());
      // each logger put back after it was set, and every table loaded was removed
      const lines = f.lines();
      for (const h of hosts) {
        const setAt = lines.indexOf(`nsenter ${h} -- sysctl -q -w net.netfilter.nf_log.2=nfnetlink_log`);
        const backAt = lines.indexOf(`nsenter ${h} -- sysctl -q -w net.netfilter.nf_log.2=nf_log_ipv4`);
        expect(setAt).toBeGreaterThanOrEqual(0);
        expect(backAt).toBeGreaterThan(setAt);
      }
      expect(nftCalls(/ nft delete table ip natscope-trace$/).sort()).toEqual([...hosts].sort());
      expect(f.lines().some((l) => / request /.test(l))).toBe(false);
      expect(f.lines().some((l) => / nft -a monitor trace$/.test(l))).toBe(false);
    },
    SLOW,
  );
});
