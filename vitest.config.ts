import { defineConfig } from 'vitest/config';

// Three kinds of tests, one command (npm test):
//   unit  test/**/*.test.ts      no root, no kernel: parsers, models, frontends
//   lab   test/**/*.lab.test.ts  root: network namespaces, iptables, tracepoints on this host
//   vm    test/**/*.vm.test.ts   root: the real probes, in the throw-away micro-VM
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
        },
      },
    ],
  },
});
