// kube-proxy's configuration as kubeadm stores it: the `config.conf` key of
// the kube-system/kube-proxy ConfigMap, a KubeProxyConfiguration
// (kubeproxy.config.k8s.io/v1alpha1) that kubeadm marshals as block YAML,
// keys sorted, two-space indents. The lab changes two values in place, as a
// person with `kubectl edit` would, so the rest stays byte for byte:
//   clusterCIDR             top level ("" = none: the no-op local detector)
//   <mode>.masqueradeAll    under the block of the mode kube-proxy runs in:
//                           iptables.masqueradeAll, or nftables.masqueradeAll
//                           in nftables mode (the other one is left untouched:
//                           kube-proxy reads only its mode's)
// A top-level `masqueradeAll:` is not kube-proxy's: it decodes unknown
// fields leniently and ignores them (readKubeProxySettings reports one).

import { NatscopeError } from '../../errors.js';
import type { KubeProxyConfig, ProxyMode } from '../../events/types.js';

const API_VERSION = 'kubeproxy.config.k8s.io/v1alpha1';

function unquote(value: string): string {
  const v = value.replace(/\s+#.*$/, '').trim();
  if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) return v.slice(1, -1);
  return v;
}

interface Located {
  index: number;
  indent: string;
  value: string;
}

function topLevel(lines: string[], key: string): Located | null {
  const re = new RegExp(`^${key}:(.*)$`);
  for (let i = 0; i < lines.length; i++) {
    const m = re.exec(lines[i]!);
    if (m) return { index: i, indent: '', value: m[1]! };
  }
  return null;
}

// A key one level under a top-level block key (`iptables:` → `  masqueradeAll:`).
function nested(
  lines: string[],
  block: string,
  key: string,
): { block: Located | null; found: Located | null; childIndent: string } {
  const head = topLevel(lines, block);
  if (!head) return { block: null, found: null, childIndent: '  ' };
  if (head.value.trim() !== '') {
    throw new NatscopeError(
      `kube-proxy's config.conf writes "${block}:" inline (${head.value.trim()}); natscope edits only kubeadm's block style`,
      {
        hint: 'edit it by hand: kubectl -n kube-system edit configmap kube-proxy',
      },
    );
  }
  let childIndent = '';
  for (let i = head.index + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    const indent = /^(\s*)/.exec(line)![1]!;
    if (indent === '') break;
    if (!childIndent) childIndent = indent;
    if (indent !== childIndent) continue;
    const m = new RegExp(`^\\s+${key}:(.*)$`).exec(line);
    if (m) return { block: head, found: { index: i, indent, value: m[1]! }, childIndent };
  }
  return { block: head, found: null, childIndent: childIndent || '  ' };
}

function checkApiVersion(lines: string[]): void {
  const v = topLevel(lines, 'apiVersion');
  if (v && unquote(v.value) !== API_VERSION) {
    throw new NatscopeError(`kube-proxy's config.conf is ${unquote(v.value)}; natscope knows ${API_VERSION}`, {
      hint: 'edit it by hand: kubectl -n kube-system edit configmap kube-proxy',
    });
  }
}

// kube-proxy's mode as config.conf states it ("" is iptables on Linux); a
// mode the lab does not model (ipvs) is refused.
function proxyModeOf(lines: string[]): ProxyMode {
  const mode = topLevel(lines, 'mode');
  const value = mode ? unquote(mode.value) : '';
  if (value === '' || value === 'iptables') return 'iptables';
  if (value === 'nftables') return 'nftables';
  throw new NatscopeError(`kube-proxy runs in ${value} mode; the lab needs iptables or nftables mode`, {
    hint: 'recreate the lab: sudo natscope lab down --lab kind && sudo natscope lab up --lab kind [--proxy-mode nftables]',
  });
}

// The mode and the two options the incident is about, as the ConfigMap states them.
export function readKubeProxyConfig(text: string): KubeProxyConfig {
  const lines = text.split('\n');
  checkApiVersion(lines);
  const mode = proxyModeOf(lines);
  const cidr = topLevel(lines, 'clusterCIDR');
  const masq = nested(lines, mode, 'masqueradeAll').found;
  const cidrValue = cidr ? unquote(cidr.value) : '';
  return {
    mode,
    masqueradeAll: masq ? unquote(masq.value) === 'true' : false,
    clusterCIDR: cidrValue === '' || cidrValue === 'null' ? null : cidrValue,
  };
}

// How kube-proxy tells a pod's own traffic from an off-cluster client's
// (KubeProxyConfiguration.detectLocalMode; "" means the default, ClusterCIDR).
export const DETECT_LOCAL_MODES = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'] as const;
export type DetectLocalMode = (typeof DETECT_LOCAL_MODES)[number];

// Everything in config.conf that decides whether an off-cluster client is masqueraded.
export interface KubeProxySettings {
  // "" is kube-proxy's default (iptables on Linux)
  mode: string;
  iptablesMasqueradeAll: boolean;
  nftablesMasqueradeAll: boolean;
  // the one the running mode reads
  masqueradeAll: boolean;
  clusterCIDR: string | null;
  // as written ("" = unset) and as kube-proxy applies it
  detectLocalModeWritten: string;
  detectLocalMode: DetectLocalMode | null;
  bridgeInterface: string;
  interfaceNamePrefix: string;
  // a top-level `masqueradeAll:`, which kube-proxy ignores
  ignoredTopLevelMasqueradeAll: string | null;
}

// config.conf read as kube-proxy would, for any mode (readKubeProxyConfig is the lab's narrower view).
export function readKubeProxySettings(text: string): KubeProxySettings {
  const lines = text.split('\n');
  checkApiVersion(lines);
  const value = (l: Located | null) => (l ? unquote(l.value) : '');
  const mode = value(topLevel(lines, 'mode'));
  const iptablesMasq = value(nested(lines, 'iptables', 'masqueradeAll').found) === 'true';
  const nftablesMasq = value(nested(lines, 'nftables', 'masqueradeAll').found) === 'true';
  const cidr = value(topLevel(lines, 'clusterCIDR'));
  const written = value(topLevel(lines, 'detectLocalMode'));
  const top = topLevel(lines, 'masqueradeAll');
  return {
    mode,
    iptablesMasqueradeAll: iptablesMasq,
    nftablesMasqueradeAll: nftablesMasq,
    masqueradeAll: mode === 'nftables' ? nftablesMasq : iptablesMasq,
    clusterCIDR: cidr === '' || cidr === 'null' ? null : cidr,
    detectLocalModeWritten: written,
    detectLocalMode: written === '' ? 'ClusterCIDR' : (DETECT_LOCAL_MODES.find((m) => m === written) ?? null),
    bridgeInterface: value(nested(lines, 'detectLocal', 'bridgeInterface').found),
    interfaceNamePrefix: value(nested(lines, 'detectLocal', 'interfaceNamePrefix').found),
    ignoredTopLevelMasqueradeAll: top ? unquote(top.value) : null,
  };
}

function yamlString(value: string | null): string {
  return value === null || value === '' ? '""' : value;
}

// config.conf with clusterCIDR and the masqueradeAll of kube-proxy's mode
// (iptables.masqueradeAll or nftables.masqueradeAll) set; every other line unchanged.
export function editKubeProxyConfig(
  text: string,
  want: { masqueradeAll: boolean; clusterCIDR: string | null },
): string {
  const lines = text.split('\n');
  checkApiVersion(lines);
  const cidr = topLevel(lines, 'clusterCIDR');
  const cidrLine = `clusterCIDR: ${yamlString(want.clusterCIDR)}`;
  if (cidr) lines[cidr.index] = cidrLine;
  else lines.splice(insertionPoint(lines, 'clusterCIDR'), 0, cidrLine);

  const mode = proxyModeOf(lines);
  const { block, found, childIndent } = nested(lines, mode, 'masqueradeAll');
  const masqLine = `${childIndent}masqueradeAll: ${want.masqueradeAll}`;
  if (found) lines[found.index] = masqLine;
  else if (block) lines.splice(block.index + 1, 0, masqLine);
  else lines.splice(insertionPoint(lines, mode), 0, `${mode}:`, masqLine);
  return lines.join('\n');
}

// Where a missing top-level key goes to keep kubeadm's sorted order.
function insertionPoint(lines: string[], key: string): number {
  for (let i = 0; i < lines.length; i++) {
    const m = /^([A-Za-z][\w]*):/.exec(lines[i]!);
    if (m && m[1]! > key) return i;
  }
  const last = lines.length > 0 && lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
  return last;
}

export function sameKubeProxy(a: KubeProxyConfig, b: KubeProxyConfig): boolean {
  return a.masqueradeAll === b.masqueradeAll && (a.clusterCIDR ?? null) === (b.clusterCIDR ?? null);
}
