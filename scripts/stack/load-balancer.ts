import http from 'node:http';

export interface LoadBalancer {
  url: string;
  /** Responses each upstream (by port) has begun to send. */
  answered: Map<number, number>;
  close(): Promise<void>;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * What stands in front of the API replicas in production, on loopback: round robin, and a request
 * an upstream could not take goes to the next one. As a reverse proxy does by default, a request
 * that may have reached a replica is retried only when repeating it is harmless (GET: reloading
 * an OAuth redirect delivers it at most once); otherwise the caller gets 502 and decides.
 */
export async function startLoadBalancer(port: number, upstreams: number[]): Promise<LoadBalancer> {
  const agent = new http.Agent({ keepAlive: true });
  const answered = new Map(upstreams.map((p) => [p, 0]));
  let next = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => forward(Buffer.concat(chunks), upstreams.length));

    const forward = (body: Buffer, triesLeft: number) => {
      const upstream = upstreams[next++ % upstreams.length]!;
      const proxied = http.request(
        { host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers: req.headers, agent },
        (upstreamRes) => {
          answered.set(upstream, (answered.get(upstream) ?? 0) + 1);
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          upstreamRes.pipe(res);
          upstreamRes.on('error', () => res.destroy());
        },
      );
      proxied.on('error', (err: NodeJS.ErrnoException) => {
        // Refused, or a kept-alive socket the replica had already closed: the request never got there.
        const neverArrived =
          err.code === 'ECONNREFUSED' || (proxied.reusedSocket && err.code === 'ECONNRESET');
        if (triesLeft > 1 && (neverArrived || IDEMPOTENT.has(req.method ?? ''))) {
          forward(body, triesLeft - 1);
        } else if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'text/plain' }).end(`no API replica answered: ${err.message}`);
        } else {
          res.destroy();
        }
      });
      proxied.end(body);
    };
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    answered,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}
