// A TCP-to-unix-socket relay, run by chroot-root.sh inside a network
// namespace that has only loopback: connections to 127.0.0.1:PORT there go
// to the unix socket SOCKET (a path, so reachable from any network
// namespace), where the test's proxy on the host's network answers.
//
//   node relay.mjs PORT SOCKET

import { connect, createServer } from 'node:net';

const [port, socket] = process.argv.slice(2);
if (!/^\d+$/.test(port ?? '') || !socket) {
  process.stderr.write('usage: node relay.mjs PORT SOCKET\n');
  process.exit(2);
}

createServer((client) => {
  const upstream = connect(socket);
  client.pipe(upstream).pipe(client);
  // one side failing ends both
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
}).listen(Number(port), '127.0.0.1');
