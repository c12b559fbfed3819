import net from 'node:net';

function listen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/**
 * `count` distinct loopback ports nobody listens on right now, for servers that cannot bind port 0
 * themselves; all are held open together while they are picked, so none comes out twice. With
 * `below`, only ports under it: Linux hands out ephemeral ports from 32768 up, but Temporal stores
 * membership ports in a PostgreSQL smallint, so those are tried at random under 32768 instead.
 */
export async function freePorts(count: number, { below }: { below?: number } = {}): Promise<number[]> {
  const servers: net.Server[] = [];
  while (servers.length < count) {
    const port = below === undefined ? 0 : below / 2 + Math.floor(Math.random() * (below / 2));
    const server = await listen(port);
    if (server) servers.push(server);
  }
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** A loopback port nobody listens on right now, for a server that cannot bind port 0 itself. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}
