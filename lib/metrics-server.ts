import http from 'node:http';
import { registry } from './metrics.ts';

/**
 * Serves /metrics on a port of its own, for Prometheus on the internal network: the worker has no
 * HTTP API, and the API's public port must not expose its internals to everyone.
 */
export function serveMetrics(port: number, host = '0.0.0.0'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry
      .metrics()
      .then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body))
      .catch(() => res.writeHead(500).end());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
