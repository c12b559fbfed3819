import type { temporal } from '@temporalio/proto';
import type { Db } from '../../lib/db.ts';

/** Every form in which we could have written a secret: as is, base64 and hex. */
export function secretForms(secret: string): string[] {
  return [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')];
}

// Long enough that an unrelated run of text rarely matches, short enough for every secret form.
const PREFIX = 12;

/**
 * Which secrets appear, in any of their forms, in which text. One pass over each text however
 * many secrets there are (a chaos run handles thousands of tokens): every position is looked up
 * by its next few characters, and only a hit is compared in full.
 */
export function findPlaintext(
  secrets: Iterable<string>,
  texts: Record<string, string>,
): { where: string; secret: string }[] {
  const byPrefix = new Map<string, { form: string; secret: string }[]>();
  for (const secret of new Set(secrets)) {
    if (secret.length < PREFIX) throw new Error('a secret too short to look for');
    for (const form of secretForms(secret)) {
      const key = form.slice(0, PREFIX);
      byPrefix.set(key, [...(byPrefix.get(key) ?? []), { form, secret }]);
    }
  }
  const found: { where: string; secret: string }[] = [];
  for (const [where, text] of Object.entries(texts)) {
    const seen = new Set<string>();
    for (let i = 0; i + PREFIX <= text.length; i++) {
      const candidates = byPrefix.get(text.slice(i, i + PREFIX));
      for (const { form, secret } of candidates ?? []) {
        if (!seen.has(secret) && text.startsWith(form, i)) {
          seen.add(secret);
          found.push({ where, secret });
        }
      }
    }
  }
  return found;
}

/** Every row of every table in the public schema, as JSON lines. */
export async function databaseText(db: Db): Promise<string> {
  const tables = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`,
  );
  const dump: string[] = [];
  for (const { table_name } of tables.rows) {
    const { rows } = await db.query<{ row: string }>(
      `SELECT row_to_json(t)::text AS row FROM "${table_name}" t`,
    );
    dump.push(...rows.map((r) => r.row));
  }
  return dump.join('\n');
}

/** A workflow history with its payload bytes as text, so a secret stored unencrypted shows. */
export function historyText(history: temporal.api.history.v1.IHistory): string {
  return JSON.stringify(history, (_key, value: unknown) =>
    value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : value,
  );
}
