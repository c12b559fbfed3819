import { signingSecretProblem } from './signing.ts';

/** A subscriber configured by WEBHOOK_URLS; its secrets live in the environment only. */
export interface EnvSubscriber {
  name: string;
  url: string;
  /** The first signs; a second (the previous one during a rotation) signs too. */
  secrets: string[];
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;

/**
 * WEBHOOK_URLS: comma-separated `name=url secret [previous-secret]`. Returns the subscribers, or
 * the problem with the first bad entry (by position: an entry holds secrets).
 */
export function parseEnvSubscribers(raw: string): EnvSubscriber[] | string {
  const subscribers: EnvSubscriber[] = [];
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const [index, entry] of entries.entries()) {
    const where = `entry ${index + 1}`;
    const eq = entry.indexOf('=');
    const name = entry.slice(0, Math.max(eq, 0));
    const [url = '', ...secrets] = entry
      .slice(eq + 1)
      .split(/\s+/)
      .filter(Boolean);
    if (!NAME.test(name))
      return `${where} must be "name=url secret [previous-secret]" with a name of a-z, 0-9, _ and -`;
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
      return `${where} (${name}) needs an http(s) URL`;
    if (secrets.length < 1 || secrets.length > 2)
      return `${where} (${name}) needs one signing secret, or two while rotating`;
    const problem = secrets.map(signingSecretProblem).find(Boolean);
    if (problem) return `${where} (${name}): its secret ${problem}`;
    if (subscribers.some((s) => s.name === name)) return `${where} repeats the name ${name}`;
    subscribers.push({ name, url, secrets });
  }
  return subscribers;
}
