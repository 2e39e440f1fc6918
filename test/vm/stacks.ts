// The micro-VM stack a test file runs on (NATSCOPE_VM_STACK, set per vitest
// project: vitest.config.ts) and what each stack is, as runs of the suite
// found it: the kernel and bpftrace the guest reports, and the kernel
// function that frees the vpn's dropped SYN-ACK.

import { type Stack, selectedStack } from '../../src/vm/stack.js';

export const STACK: Stack = selectedStack();

export interface StackFacts {
  // uname -r in the guest
  kernel: RegExp;
  bpftrace: string;
  llvm: RegExp;
  node: RegExp;
  // where a netfilter DROP verdict frees the packet on this kernel
  netfilterDropAt: string;
}

export const FACTS: Record<Stack, StackFacts> = {
  debian12: {
    kernel: /^6\.1\.\d+-\d+-amd64$/,
    bpftrace: '0.17.0',
    llvm: /^14\./,
    // this host's own Node.js: the guest shares its root
    node: /^v\d+\./,
    netfilterDropAt: 'nft_do_chain',
  },
  debian13: {
    kernel: /^6\.12\.\d+\+deb13-amd64$/,
    bpftrace: '0.23.2',
    llvm: /^19\./,
    node: /^v20\.19\./,
    netfilterDropAt: 'nft_do_chain',
  },
};

export const EXPECT: StackFacts = FACTS[STACK];

// A test name's stack label: "debian13: kernel 6.12, bpftrace 0.23"
export const STACK_LABEL = `${STACK}: kernel ${STACK === 'debian12' ? '6.1' : '6.12'}, bpftrace ${EXPECT.bpftrace}`;
