import type { Prng } from '../../sim/random/prng.ts';
import { apiHeaders, type ChaosStack } from './stack.ts';
import type { SimulatedUser } from './users.ts';

export interface TokenReads {
  /** Answers by status and error code ("200", "503 refresh_unavailable", "unreachable" …). */
  byAnswer: Record<string, number>;
  /** When each 200 came back: recovery after a kill is measured on these. */
  okAt: number[];
  /** 5xx answers other than the documented 503s, with when. */
  unexpected5xx: { at: number; answer: string }[];
}

/** The 503 the token API documents (retry shortly); any other 5xx is a fault. */
const DOCUMENTED_503 = new Set(['refresh_unavailable', 'unavailable']);

/**
 * Services reading users' tokens all the time, as a bot does before each call: `readers` loops,
 * each reading the token of a user that believes it is authorized.
 */
export async function readTokens(
  stack: ChaosStack,
  users: SimulatedUser[],
  rng: Prng,
  readers: number,
  until: () => boolean,
): Promise<TokenReads> {
  const reads: TokenReads = { byAnswer: {}, okAt: [], unexpected5xx: [] };
  const count = (answer: string) => (reads.byAnswer[answer] = (reads.byAnswer[answer] ?? 0) + 1);
  await Promise.all(
    Array.from({ length: readers }, async () => {
      while (!until()) {
        const authorized = users.filter((u) => u.authorized);
        if (authorized.length === 0) {
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        const user = rng.pick(authorized);
        try {
          const res = await fetch(`${stack.app.apiUrl}/v1/users/${user.openId}/token`, {
            headers: apiHeaders,
            signal: AbortSignal.timeout(30_000),
          });
          const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
          const answer = res.status === 200 ? '200' : `${res.status} ${body.error?.code ?? ''}`.trim();
          count(answer);
          if (res.status === 200) reads.okAt.push(Date.now());
          if (res.status >= 500 && !(res.status === 503 && DOCUMENTED_503.has(body.error?.code ?? ''))) {
            reads.unexpected5xx.push({ at: Date.now(), answer });
          }
        } catch {
          count('unreachable');
        }
        await new Promise((r) => setTimeout(r, rng.between(100, 600)));
      }
    }),
  );
  return reads;
}
