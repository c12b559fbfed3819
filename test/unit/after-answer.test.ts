import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { runAfterAnswer } from '../../api/feishu/handlers.ts';
import { HttpError } from '../../api/errors.ts';

/** A logger whose lines the test reads. */
function recordingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino(
    { level: 'trace' },
    { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) },
  );
  return { logger, lines };
}

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('runAfterAnswer: the work behind a card click the user was already answered for', () => {
  it('waits out PostgreSQL or Temporal being unreachable, and a 503, instead of dropping the click', async () => {
    const { logger, lines } = recordingLogger();
    let calls = 0;
    await runAfterAnswer(() => {
      calls += 1;
      if (calls === 1) return Promise.reject(refused());
      if (calls === 2) return Promise.reject(new HttpError(503, 'revocation_pending', 'not confirmed yet'));
      return Promise.resolve();
    }, logger);
    expect(calls).toBe(3);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  });

  it('gives up at once on anything else, and after its patience on an outage, logging the failure', async () => {
    const { logger, lines } = recordingLogger();
    let calls = 0;
    await runAfterAnswer(() => {
      calls += 1;
      return Promise.reject(new TypeError('a bug'));
    }, logger);
    expect(calls).toBe(1);
    await runAfterAnswer(() => Promise.reject(refused()), logger, 1_500);
    expect(lines.filter((l) => l.msg === 'card action failed')).toHaveLength(2);
  });
});
