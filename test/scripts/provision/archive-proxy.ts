// An HTTP proxy on a unix socket that lets through requests to one host
// only (Debian's archive) and records every request it sees. A root with no
// network of its own reaches it through relay.mjs, with apt's ordinary
// http_proxy setting: apt's downloads are real, and anything else the root
// tries to fetch (kind's release, pkgs.k8s.io, NodeSource …) is refused and
// recorded, so a test can show it never happened.

import { Agent, createServer, request, type Server } from 'node:http';

export interface ProxiedRequest {
  method: string;
  host: string;
  path: string;
  status: number;
}

export interface ArchiveProxy {
  socket: string;
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

export async function startArchiveProxy(socket: string, allowedHost: string): Promise<ArchiveProxy> {
  const requests: ProxiedRequest[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const server: Server = createServer((req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      url = new URL('http://invalid/');
    }
    const record = (status: number) =>
      requests.push({ method: req.method ?? '', host: url.host, path: url.pathname, status });
    if (url.protocol !== 'http:' || url.host !== allowedHost || !['GET', 'HEAD'].includes(req.method ?? '')) {
      record(403);
      res.writeHead(403, { 'content-type': 'text/plain' }).end(`only ${allowedHost} is reachable from this root\n`);
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-connection'];
    const upstream = request(url, { method: req.method, headers, agent }, (answer) => {
      record(answer.statusCode ?? 0);
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (error) => {
      record(502);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`${error.message}\n`);
    });
    req.pipe(upstream);
  });
  // CONNECT (https) is refused: the archive is reached over http, as its sources say
  server.on('connect', (req, client) => {
    requests.push({ method: 'CONNECT', host: req.url ?? '', path: '', status: 403 });
    client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, resolve);
  });
  return {
    socket,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
