import net from 'node:net';

export interface CuttableProxy {
  /** host:port to give a process instead of the target's. */
  address: string;
  /** Drops every connection through it, and drops new ones at once, until restore(). */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy on loopback in front of a server (PostgreSQL, Temporal), so a test can take that
 * server away from one process, as a network fault or a failover would, while the server itself
 * and everybody else's connections to it stay up.
 */
export async function startCuttableProxy(target: string): Promise<CuttableProxy> {
  const [host, port] = target.split(':') as [string, string];
  const sockets = new Set<net.Socket>();
  let open = true;
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = net.createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(port), host);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      track(socket);
      socket.once('error', drop);
      socket.once('close', drop);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cut: () => {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    restore: () => {
      open = true;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
