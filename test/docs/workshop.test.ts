// The workshop pages teach configuration people will copy into real
// clusters: the YAML they show must be what kube-proxy reads, and each page
// must say what each lab prints.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { YAML } from 'zx';
import { ROOT } from '../helpers.js';

const DOCS = join(ROOT, 'docs');
const pages = [...readdirSync(join(DOCS, 'workshop')).map((f) => join('workshop', f)), 'kind-lab.md'].map((file) => ({
  file,
  text: readFileSync(join(DOCS, file), 'utf8'),
}));

const yamlBlocks = (text: string) => [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe('the workshop docs', () => {
  test('every YAML block parses, and masqueradeAll appears only under iptables: or nftables:, as kube-proxy reads it', () => {
    const blocks = pages.flatMap((p) => yamlBlocks(p.text).map((y) => ({ file: p.file, y })));
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const { file, y } of blocks) {
      const doc: unknown = YAML.parse(y);
      expect(typeof doc === 'object' && doc !== null, file).toBe(true);
      const top = doc as Record<string, unknown>;
      expect(Object.keys(top), file).not.toContain('masqueradeAll');
      for (const mode of ['iptables', 'nftables']) {
        const block = top[mode];
        if (block !== undefined) expect(block, `${file} ${mode}`).toHaveProperty('masqueradeAll');
      }
    }
    const fix = pages.find((p) => p.file === 'workshop/07-fix.md')!;
    const [iptables, nftables] = yamlBlocks(fix.text).map((y) => YAML.parse(y));
    expect(iptables).toEqual({ mode: 'iptables', iptables: { masqueradeAll: true } });
    expect(nftables).toEqual({ mode: 'nftables', nftables: { masqueradeAll: true } });
  });

  test('no page tells a reader to set a bare masqueradeAll in config.conf', () => {
    for (const p of pages) {
      for (const line of p.text.split('\n')) {
        if (/set masqueradeAll: true in config\.conf|config\.conf: masqueradeAll: true/.test(line)) {
          throw new Error(`${p.file}: ${line}`);
        }
      }
    }
  });

  test("the walkthrough's pages say what each lab prints: netns and kind", () => {
    for (const p of pages.filter((x) => /workshop\/(0[1-9]|10)-/.test(x.file))) {
      expect(p.text, p.file).toMatch(/netns lab/);
      expect(p.text, p.file).toMatch(/kind lab|--lab kind/);
    }
  });

  test("the attendee's one-line check is given where the options are introduced and where the fix is", () => {
    const check =
      "kubectl -n kube-system get cm kube-proxy -o yaml | grep -E 'clusterCIDR|detectLocalMode|masqueradeAll'";
    for (const f of ['workshop/01-setup.md', 'workshop/07-fix.md'])
      expect(pages.find((p) => p.file === f)!.text).toContain(check);
  });
});
