import { describe, expect, test } from 'vitest';
import { checkCidr, clusterCidrProblem } from '../../src/lab/clusterCidr.js';
import { asNatscopeError } from '../helpers.js';

function refusal(cidr: string): { message: string; hint: string | undefined; exitCode: number } {
  try {
    checkCidr(cidr);
  } catch (e) {
    const error = asNatscopeError(e);
    return { message: error.message, hint: error.hint, exitCode: error.exitCode };
  }
  throw new Error(`${cidr} was accepted`);
}

describe('the clusterCIDR both labs accept', () => {
  test('a canonical network is accepted as written; none is null', () => {
    for (const ok of ['10.244.0.0/16', '192.168.0.0/24', '10.0.0.0/8', '10.244.1.2/32', '0.0.0.0/1'])
      expect(checkCidr(ok)).toBe(ok);
    expect(checkCidr(null)).toBeNull();
  });

  test('a leading zero (octal to iptables) is refused, naming the network the user meant', () => {
    expect(refusal('010.244.0.0/16')).toEqual({
      message: 'invalid CIDR "010.244.0.0/16": a number with a leading zero (iptables would read 010 as octal 8)',
      hint: 'did you mean 10.244.0.0/16?',
      exitCode: 2,
    });
    expect(refusal('10.244.00.0/16').hint).toBe('did you mean 10.244.0.0/16?');
    expect(refusal('10.244.0.0/016').hint).toBe('did you mean 10.244.0.0/16?');
  });

  test('host bits set are refused with the network to use', () => {
    expect(refusal('10.244.0.1/16')).toEqual({
      message: 'invalid CIDR "10.244.0.1/16": host bits are set',
      hint: 'did you mean 10.244.0.0/16?',
      exitCode: 2,
    });
    expect(refusal('10.244.7.0/20').hint).toBe('did you mean 10.244.0.0/20?');
  });

  test('0.0.0.0/0, which iptables-restore refuses as "! -s 0.0.0.0/0", is refused with what to do instead', () => {
    for (const all of ['0.0.0.0/0', '10.0.0.0/0', '0.0.0.0/00']) {
      expect(refusal(all).message).toBe(
        `invalid CIDR ${JSON.stringify(all)}: it matches every address, so no client would count as outside the cluster`,
      );
      expect(refusal(all).hint).toBe(
        "give the pods' range (e.g. 10.244.0.0/16); to masquerade every client instead: natscope lab set masquerade-all on",
      );
    }
  });

  test('what is not an IPv4 network at all gets the form to write', () => {
    for (const bad of [
      '10.244.0.0',
      '10.244.0.0/33',
      '256.0.0.0/8',
      'fd00::/8',
      '10.244.0.0/16\n-A INPUT',
      ' 10.0.0.0/8',
      '',
    ])
      expect(clusterCidrProblem(bad)).toEqual({
        why: 'not an IPv4 network',
        hint: 'write it as a.b.c.d/n with the host bits zero, e.g. 10.244.0.0/16',
      });
  });

  test('the refusal shows control characters escaped, on one line', () => {
    expect(refusal('10.0.0.0/8\u001b[2J').message).toBe('invalid CIDR "10.0.0.0/8\\u001b[2J": not an IPv4 network');
  });
});
