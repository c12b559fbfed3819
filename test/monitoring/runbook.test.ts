import { describe, expect, it } from 'vitest';
import { githubSlug, loadRules, readText } from './shared.ts';

const runbook = readText('docs', 'runbook.md');
const headings = [...runbook.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => m[1]!);
const anchors = new Set(headings.map(githubSlug));
const alerts = loadRules('alerts.yml').filter((r) => r.alert);

/** The text of the runbook section under the heading with this anchor. */
function section(anchor: string): string {
  const lines = runbook.split('\n');
  const start = lines.findIndex((l) => /^##\s/.test(l) && githubSlug(l.replace(/^#+\s+/, '')) === anchor);
  if (start < 0) return '';
  const end = lines.findIndex((l, i) => i > start && /^##\s/.test(l));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

describe('alerts and the runbook', () => {
  it('has at least 10 alerts', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(10);
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
  });

  it.each(alerts.map((a) => [a.alert!, a] as const))(
    '%s has severity, summary, description, runbook',
    (_, a) => {
      expect(['critical', 'warning', 'info']).toContain(a.labels?.severity);
      expect(a.labels?.service).toBe('feishu-user-auth');
      expect(a.annotations?.summary?.length).toBeGreaterThan(10);
      expect(a.annotations?.description?.length).toBeGreaterThan(20);
      const m = /(?:^|\/)docs\/runbook\.md#([a-z0-9_-]+)$/.exec(a.annotations?.runbook_url ?? '');
      expect(m, `runbook_url of ${a.alert}`).not.toBeNull();
      const anchor = m![1]!;
      expect(anchors.has(anchor), `docs/runbook.md has no heading for #${anchor}`).toBe(true);
      expect(anchor).toBe(a.alert!.toLowerCase());
    },
  );

  it.each(alerts.map((a) => [a.alert!] as const))(
    'runbook section %s says meaning, first checks and fix',
    (name) => {
      const text = section(name.toLowerCase());
      expect(text).toContain('**Meaning.**');
      expect(text).toContain('**First checks.**');
      expect(text).toContain('**Fix.**');
    },
  );

  it('has no section for an alert that does not exist', () => {
    const names = new Set(alerts.map((a) => a.alert!.toLowerCase()));
    const sections = [...runbook.matchAll(/^##\s+(\S+)\s*$/gm)].map((m) => githubSlug(m[1]!));
    const alertLike = sections.filter((s) => /^(feishu|temporal)/.test(s));
    expect(alertLike.filter((s) => !names.has(s))).toEqual([]);
  });

  it('links between sections resolve', () => {
    for (const m of runbook.matchAll(/\]\(#([^)]+)\)/g)) expect(anchors.has(m[1]!), `#${m[1]}`).toBe(true);
  });
});

describe('troubleshooting guide', () => {
  const guide = readText('docs', 'troubleshooting.md');
  it.each([
    '20029',
    '20071',
    '20074',
    'offline_access',
    'update_multi',
    '14 days',
    '230001',
    'PATCH',
    'long connection',
    '50 connections',
    'type=card',
    '20064',
    '20073',
    '99991400',
  ])('covers %s', (needle) => {
    expect(guide).toContain(needle);
  });

  it('links between sections resolve', () => {
    const own = new Set([...guide.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => githubSlug(m[1]!)));
    const links = [...guide.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(5);
    expect(links.filter((l) => !own.has(l))).toEqual([]);
  });
});

describe('deployment guide', () => {
  const guide = readText('docs', 'deployment.md');
  it.each([
    'feishu-user-auth-refresh',
    'patched(',
    'docker compose',
    '--scale worker',
    'make-secrets.sh',
    'migrat',
  ])('covers %s', (needle) => {
    expect(guide).toContain(needle);
  });
});
