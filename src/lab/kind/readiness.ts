// Before the lab is declared ready: proof, from the pods' side, that the
// office client reaches them with its own address, and that the staged
// kube-proxy options behave as the incident says. Docker's NAT rules in the
// VM's namespace (and br_netfilter, which makes the VM's netfilter see
// bridged traffic) could otherwise masquerade the office silently and hide
// the incident. Checked:
//   pod/nginx, pod/mysql   answered; the pod saw the office client's own IP
//   nginx (ClusterIP)      answered (its pod is on node1, where the VPN routes)
//   mysql (ClusterIP)      incident staged: no answer, and node2's conntrack
//                          entry shows the office client as the source, so
//                          the node1 → node2 leg was not NATed by Docker;
//                          a fix staged: answered, the pod saw node1
// The checks' own traces (drop counter, conntrack entries) are cleared.

import { NatscopeError } from '../../errors.js';
import { cidrContains, parseCidr } from '../../events/tuple.js';
import type { KubeProxyConfig, RequestEvent } from '../../events/types.js';
import type { ConntrackEntry } from '../conntrack.js';

export interface ReadinessProbe {
  request(target: string): Promise<RequestEvent>;
  conntrack(role: 'node1' | 'node2'): Promise<ConntrackEntry[]>;
  node1Ip: string;
  mysqlPodIp: string;
  officeIp: string;
  officeCidr: string;
  log(line: string): void;
}

const NAT_HINT =
  'look for MASQUERADE/SNAT rules that match the office network in the VM (sudo iptables-save -t nat) and check br_netfilter (sysctl net.bridge.bridge-nf-call-iptables); or pick another office network: NATSCOPE_KIND_OFFICE_CIDR=192.168.77.0/24';

function peerIp(r: RequestEvent): string | null {
  return r.peer ? r.peer.slice(0, r.peer.lastIndexOf(':')) : null;
}

// Whether kube-proxy SNATs an office client's connection to a ClusterIP.
export function masqueradesOffice(config: KubeProxyConfig, officeIp: string): boolean {
  if (config.masqueradeAll) return true;
  const cidr = config.clusterCIDR ? parseCidr(config.clusterCIDR) : null;
  return cidr !== null && !cidrContains(cidr, officeIp);
}

async function expectOfficeSeen(p: ReadinessProbe, target: string): Promise<void> {
  const r = await p.request(target);
  if (r.outcome !== 'answered') {
    throw new NatscopeError(`office → ${target} (${r.dst}:${r.dport}) got no answer (${r.outcome})`, {
      hint: 'check the routes: natscope lab rules vpn --lab kind, and docker exec <node> ip route',
    });
  }
  if (peerIp(r) !== p.officeIp) {
    throw new NatscopeError(
      `the ${r.pod ?? target} pod saw ${r.peer}, not the office client ${p.officeIp}: something NATs traffic between the office and the cluster`,
      { hint: NAT_HINT },
    );
  }
  p.log(`${target}: answered by ${r.pod} on ${r.node}, which saw the office client's own address ${r.peer}`);
}

export async function proveReadiness(p: ReadinessProbe, config: KubeProxyConfig): Promise<void> {
  await expectOfficeSeen(p, 'pod/nginx');
  await expectOfficeSeen(p, 'pod/mysql');
  const masq = masqueradesOffice(config, p.officeIp);
  const nginx = await p.request('nginx');
  if (nginx.outcome !== 'answered') {
    throw new NatscopeError(
      `office → nginx ClusterIP ${nginx.dst}:${nginx.dport} got no answer (${nginx.outcome}), though its pod is on node1`,
      {
        hint: "check the vpn's route for the Service CIDR (natscope lab status --lab kind) and kube-proxy on node1 (natscope lab rules node1 --lab kind)",
      },
    );
  }
  const mysql = await p.request('mysql');
  if (masq) {
    if (mysql.outcome !== 'answered' || peerIp(mysql) !== p.node1Ip) {
      throw new NatscopeError(
        `with kube-proxy masquerading, office → mysql ClusterIP should be answered and its pod should see node1 (${p.node1Ip}); got ${mysql.outcome}${mysql.peer ? `, peer ${mysql.peer}` : ''}`,
        {
          hint: 'natscope lab rules node1 --lab kind shows what kube-proxy wrote',
        },
      );
    }
    p.log(`mysql: answered; its pod saw node1's address ${mysql.peer} (kube-proxy masquerades: the fix is in place)`);
    return;
  }
  if (mysql.outcome === 'answered') {
    throw new NatscopeError(
      `office → mysql ClusterIP was answered although kube-proxy does not masquerade the office: the incident is not visible (the pod saw ${mysql.peer})`,
      { hint: NAT_HINT },
    );
  }
  // What node2 received on the DNATed leg: the office client's own address, or Docker's NAT.
  const toPod = (await p.conntrack('node2')).filter((e) => e.orig.dst === p.mysqlPodIp && e.orig.dport === mysql.dport);
  const seen = toPod.find((e) => e.orig.sport === mysql.sport && e.orig.src === p.officeIp);
  if (!seen) {
    // a masquerade keeps the source port when it can: this request's entry first, then any other
    const natted =
      toPod.find((e) => e.orig.sport === mysql.sport && e.orig.src !== p.officeIp) ??
      toPod.find((e) => e.orig.src !== p.officeIp);
    if (natted) {
      throw new NatscopeError(
        `node2 saw the office's connection to mysql coming from ${natted.orig.src}:${natted.orig.sport}, not from ${p.officeIp}: something NATs traffic between the nodes`,
        { hint: NAT_HINT },
      );
    }
    throw new NatscopeError(
      `office → mysql ClusterIP: node2 has no conntrack entry for the connection from port ${mysql.sport}: node1 did not forward it`,
      {
        hint: "natscope lab rules node1 --lab kind (the DNAT) and the nodes' routes (docker exec <node1> ip route)",
      },
    );
  }
  p.log(
    `mysql: no answer (the incident); node2 got the DNATed SYN from the office's own address ${seen.orig.src}:${seen.orig.sport}`,
  );
}
