import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { isKnownSeries, loadRules, metricNamesIn, readText, repoPath } from './shared.ts';

const run = promisify(execFile);
const RULE_FILES = ['recording.yml', 'alerts.yml'].map((f) => repoPath('monitoring', 'prometheus', f));
const TEST_DIR = repoPath('monitoring', 'prometheus', 'tests');
const TEST_FILES = readdirSync(TEST_DIR)
  .filter((f) => f.endsWith('.yml'))
  .map((f) => path.join(TEST_DIR, f));

/** Runs promtool; a missing binary fails the test (CI installs it: Debian package `prometheus`). */
async function promtool(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run('promtool', args, { maxBuffer: 16 * 1024 * 1024 });
    return stdout + stderr;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        'promtool is not on PATH. These checks never skip: install it (Debian/Ubuntu: apt-get install prometheus).',
      );
    }
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

interface AlertRuleTest {
  alertname: string;
  eval_time: string;
  exp_alerts?: unknown[] | null;
}
interface PromtoolTestFile {
  rule_files: string[];
  tests: { name?: string; alert_rule_test?: AlertRuleTest[] }[];
}

describe('Prometheus rules', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'feishu-prom-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('pass promtool check rules', async () => {
    const out = await promtool('check', 'rules', ...RULE_FILES);
    expect(out).not.toMatch(/FAILED/);
    expect(out.match(/SUCCESS/g)).toHaveLength(RULE_FILES.length);
  });

  it('pass every promtool unit test', async () => {
    expect(TEST_FILES.length).toBeGreaterThan(0);
    const out = await promtool('test', 'rules', ...TEST_FILES);
    expect(out).not.toMatch(/FAILED/);
    expect(out.match(/SUCCESS/g)).toHaveLength(TEST_FILES.length);
  });

  it('have unit tests that see every alert both firing and quiet', () => {
    const firing = new Set<string>();
    const quiet = new Set<string>();
    for (const file of TEST_FILES) {
      const doc = parse(readText(path.relative(repoPath(), file))) as PromtoolTestFile;
      expect(doc.rule_files).toEqual(['../recording.yml', '../alerts.yml']);
      for (const t of doc.tests) {
        for (const a of t.alert_rule_test ?? []) {
          ((a.exp_alerts ?? []).length > 0 ? firing : quiet).add(a.alertname);
        }
      }
    }
    const alerts = loadRules('alerts.yml').flatMap((r) => (r.alert ? [r.alert] : []));
    expect(alerts.length).toBeGreaterThanOrEqual(10);
    expect(alerts.filter((a) => !firing.has(a))).toEqual([]);
    expect(alerts.filter((a) => !quiet.has(a))).toEqual([]);
  });

  it('only select series the service, the SDK exporter, Prometheus or a recording rule provide', () => {
    const recorded = new Set(loadRules('recording.yml').flatMap((r) => (r.record ? [r.record] : [])));
    const unknown: string[] = [];
    for (const rule of [...loadRules('recording.yml'), ...loadRules('alerts.yml')]) {
      const names = metricNamesIn(rule.expr);
      expect(names.length, `${rule.alert ?? rule.record} selects no series`).toBeGreaterThan(0);
      for (const n of names)
        if (!isKnownSeries(n, recorded)) unknown.push(`${rule.alert ?? rule.record}: ${n}`);
    }
    expect(unknown).toEqual([]);
  });

  it('never group or label by user identity', () => {
    const all =
      readText('monitoring', 'prometheus', 'alerts.yml') +
      readText('monitoring', 'prometheus', 'recording.yml');
    expect(all).not.toMatch(/open_id|openId|user_id|union_id|access_token|refresh_token/);
  });

  it('load with the compose scrape configuration (promtool check config)', async () => {
    const config = parse(readText('monitoring', 'prometheus', 'prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: { job_name: string }[];
    };
    expect(config.scrape_configs.map((s) => s.job_name).sort()).toEqual([
      'feishu-user-auth-api',
      'feishu-user-auth-worker',
      'feishu-user-auth-worker-sdk',
    ]);
    // In the container the rules live under /etc/prometheus/rules; point at the repository copies.
    expect(config.rule_files).toEqual([
      '/etc/prometheus/rules/recording.yml',
      '/etc/prometheus/rules/alerts.yml',
    ]);
    config.rule_files = RULE_FILES;
    const file = path.join(tmp, 'prometheus.yml');
    writeFileSync(file, stringify(config));
    const out = await promtool('check', 'config', file);
    expect(out).toMatch(/SUCCESS/);
    expect(out).not.toMatch(/FAILED/);
  });
});
