import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** Repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function repoPath(...parts: string[]): string {
  return path.join(ROOT, ...parts);
}

export function readText(...parts: string[]): string {
  return readFileSync(repoPath(...parts), 'utf8');
}

export function readYaml(...parts: string[]): unknown {
  return parse(readText(...parts), { merge: true });
}

/** The metrics the service exports (lib/metrics.ts, lib/webhooks/metrics.ts), by kind. None carries user ids or tokens. */
export const SERVICE_METRICS: Record<string, 'counter' | 'gauge' | 'histogram'> = {
  auth_session_total: 'counter',
  auth_success_total: 'counter',
  auth_failure_total: 'counter',
  auth_session_duration_seconds: 'histogram',
  token_refresh_total: 'counter',
  auth_grants: 'gauge',
  auth_grants_expiring_soon: 'gauge',
  feishu_callback_duration_seconds: 'histogram',
  feishu_api_requests_total: 'counter',
  db_errors_total: 'counter',
  http_request_duration_seconds: 'histogram',
  webhook_delivery_attempts_total: 'counter',
  webhook_deliveries_dead_lettered_total: 'counter',
  webhook_delivery_latency_seconds: 'histogram',
};

/**
 * The Temporal SDK exporter's series the monitoring reads, with the worker's exporter options
 * (workers/main.ts). test/operations/metrics.test.ts scrapes a running worker and proves each exists.
 */
export const TEMPORAL_SDK_SERIES: ReadonlySet<string> = new Set([
  'temporal_workflow_task_schedule_to_start_latency_seconds_bucket',
  'temporal_workflow_task_execution_latency_seconds_bucket',
  'temporal_activity_schedule_to_start_latency_seconds_bucket',
  'temporal_worker_task_slots_available',
  'temporal_workflow_task_execution_failed_total',
  'temporal_activity_execution_failed_total',
  'temporal_request_failure_total',
  'temporal_long_request_failure_total',
]);

/** Series Prometheus itself writes for every target. */
const PROMETHEUS_SERIES = new Set(['up']);

/** True when `name` is a series the deployment has: a service metric (with histogram suffixes), one
 * of the SDK exporter's above, a Prometheus target series, or one of `extra` (recording rules). */
export function isKnownSeries(name: string, extra: ReadonlySet<string> = new Set()): boolean {
  if (extra.has(name) || PROMETHEUS_SERIES.has(name) || TEMPORAL_SDK_SERIES.has(name)) return true;
  if (SERVICE_METRICS[name] && SERVICE_METRICS[name] !== 'histogram') return true;
  const m = /^(.*)_(bucket|count|sum)$/.exec(name);
  return Boolean(m?.[1] && SERVICE_METRICS[m[1]] === 'histogram');
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'and',
  'or',
  'unless',
  'inf',
  'nan',
]);

/** Metric names a PromQL expression selects (a small lexer, enough for this repository's rules). */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery windows
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\boffset\s+-?[0-9a-z]+/g, ' ')
    .replace(/\$\w+/g, ' '); // Grafana variables
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const after = stripped.slice(m.index + word.length).trimStart();
    if (after.startsWith('(')) continue; // a function or aggregation
    if (KEYWORDS.has(word.toLowerCase())) continue;
    if (/^[0-9]/.test(word)) continue;
    names.add(word);
  }
  return [...names];
}

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

export function loadRules(file: 'alerts.yml' | 'recording.yml'): Rule[] {
  const doc = readYaml('monitoring', 'prometheus', file) as RuleFile;
  return doc.groups.flatMap((g) => g.rules);
}

/** GitHub's anchor for a Markdown heading. */
export function githubSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}
