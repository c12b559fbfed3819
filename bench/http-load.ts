import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { sleep } from './stats.ts';

export interface Reply {
  status: number;
  body: string;
}

/** One GET on a keep-alive agent, the body read whole. */
export function httpGet(
  agent: http.Agent,
  url: URL,
  path: string,
  headers: Record<string, string>,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: url.hostname, port: url.port, path, method: 'GET', headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export interface LoadPhase {
  concurrency: number;
  /** Seconds run before measuring, not counted. */
  warmup: number;
  seconds: number;
  /** The i-th request: where it goes, with which headers. */
  request: (i: number) => { path: string; headers: Record<string, string> };
  /** Whether an answer counts as a success. */
  succeeded: (reply: Reply) => boolean;
  /** Called as the measured window opens and closes, e.g. to read CPU counters. */
  onWindow?: (edge: 'start' | 'end') => void;
}

export interface LoadResult {
  latencies: number[];
  ok: number;
  errors: Record<string, number>;
  seconds: number;
}

/** `concurrency` closed-loop clients, each on one keep-alive connection, for warm-up plus `seconds`. */
export async function closedLoop(baseUrl: string, phase: LoadPhase): Promise<LoadResult> {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: phase.concurrency });
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  const fail = (key: string) => void (errors[key] = (errors[key] ?? 0) + 1);
  let ok = 0;
  let measuring = false;
  let stop = false;
  let next = 0;
  const clients = Array.from({ length: phase.concurrency }, async () => {
    while (!stop) {
      const { path, headers } = phase.request(next++);
      const t0 = performance.now();
      try {
        const reply = await httpGet(agent, url, path, headers);
        if (!measuring) continue;
        if (phase.succeeded(reply)) {
          ok++;
          latencies.push(performance.now() - t0);
        } else fail(`http_${reply.status}`);
      } catch (err) {
        if (measuring) fail((err as NodeJS.ErrnoException).code ?? (err as Error).message);
      }
    }
  });
  await sleep(phase.warmup * 1000);
  measuring = true;
  phase.onWindow?.('start');
  const started = performance.now();
  await sleep(phase.seconds * 1000);
  measuring = false;
  phase.onWindow?.('end');
  const seconds = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(clients);
  agent.destroy();
  return { latencies, ok, errors, seconds };
}
