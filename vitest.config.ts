import { defineConfig } from 'vitest/config';

// Three kinds of tests, one command (npm test):
//   unit  test/**/*.test.ts      no root, no kernel: parsers, models, frontends
//   lab   test/**/*.lab.test.ts  root: network namespaces, iptables, tracepoints on this host
//   vm    test/**/*.vm.test.ts   root: the real probes, in the throw-away micro-VM (Debian 12's stack);
//         vm-debian13 runs the end-to-end (both proxy modes), walkthrough, doctor and legacy rule-tracing ones again on Debian 13's
// Lab and VM tests touch shared kernel state, so their files run one at a time.
// Every project shares one temporary root for the run, checked for leftovers
// at its end (test/globalSetup.ts).
const globalSetup = ['test/globalSetup.ts'];

export default defineConfig({
  test: {
    // a forgotten .only would silently skip the rest of the suite
    allowOnly: false,
    projects: [
      {
        test: {
          globalSetup,
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.lab.test.ts', 'test/**/*.vm.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          globalSetup,
          name: 'lab',
          include: ['test/**/*.lab.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          globalSetup,
          name: 'vm',
          include: ['test/**/*.vm.test.ts'],
          fileParallelism: false,
          testTimeout: 900_000,
          hookTimeout: 900_000,
          // the micro-VM's default stack: Debian 12's kernel 6.1, this host's bpftrace (src/vm/stack.ts)
          env: { NATSCOPE_VM_STACK: 'debian12' },
        },
      },
      {
        // the same real-kernel tests on the second stack: Debian 13's kernel 6.12 and bpftrace 0.23
        test: {
          name: 'vm-debian13',
          include: [
            'test/e2e/incident.vm.test.ts',
            'test/e2e/incident-nftables.vm.test.ts',
            'test/commands/demo.vm.test.ts',
            'test/e2e/demo-nftables.vm.test.ts',
            'test/commands/doctor.vm.test.ts',
            'test/ruletrace/legacyTrace.vm.test.ts',
          ],
          fileParallelism: false,
          testTimeout: 900_000,
          hookTimeout: 900_000,
          env: { NATSCOPE_VM_STACK: 'debian13' },
          // a group of its own, run alone after the unit tests (vitest runs groups one after another, and
          // the lab and vm files, one at a time, last): two micro-VMs at once would starve each other
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
