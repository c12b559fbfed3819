import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isKnownSeries, metricNamesIn, readText, readYaml } from './shared.ts';

interface Target {
  expr?: string;
  refId: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
  gridPos: { h: number; w: number; x: number; y: number };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string }[] };
}

const dashboard = JSON.parse(
  readText('monitoring', 'grafana', 'dashboards', 'feishu-user-auth.json'),
) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');

describe('Grafana dashboard', () => {
  it('has at least 8 panels with unique ids that fit the 24-column grid', () => {
    expect(panels.length).toBeGreaterThanOrEqual(8);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect(p.title.length, `panel ${p.id} has a title`).toBeGreaterThan(0);
    }
  });

  it('reads from a datasource variable', () => {
    const v = dashboard.templating.list.find((t) => t.type === 'datasource');
    expect(v).toMatchObject({ name: 'datasource', query: 'prometheus' });
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of p.targets ?? []) expect(t.datasource ?? p.datasource, p.title).toEqual(p.datasource);
    }
  });

  it('queries only metrics the service, the Temporal SDK or Prometheus export', () => {
    const unknown: string[] = [];
    for (const p of panels) {
      expect(p.targets?.length, `${p.title} has queries`).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        expect(t.expr, `${p.title} ${t.refId}`).toBeTruthy();
        const names = metricNamesIn(t.expr!);
        expect(names.length, `${p.title} ${t.refId} selects a metric`).toBeGreaterThan(0);
        for (const n of names) if (!isKnownSeries(n)) unknown.push(`${p.title}: ${n}`);
      }
    }
    expect(unknown).toEqual([]);
  });

  it('shows what operators asked for', () => {
    const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')).join('\n');
    for (const needed of [
      'auth_session_total', // authorization rate
      'auth_success_total', // success ratio
      'sum by (reason) (rate(auth_failure_total', // failures by reason
      'auth_session_duration_seconds_bucket', // time to authorize
      'token_refresh_total', // refreshes and failures
      'max by (status) (auth_grants)', // grants by status
      'feishu_api_requests_total{code=~"429|99991400"}', // rate limits
      'temporal_workflow_task_schedule_to_start_latency_seconds_bucket', // workflow task latency
      'temporal_worker_task_slots_available', // worker slots
    ]) {
      expect(exprs).toContain(needed);
    }
    expect(exprs).toMatch(
      /histogram_quantile\(0\.5, sum by \(le\) \(rate\(auth_session_duration_seconds_bucket/,
    );
    expect(exprs).toMatch(
      /histogram_quantile\(0\.99, sum by \(le\) \(rate\(auth_session_duration_seconds_bucket/,
    );
  });
});

describe('Grafana provisioning', () => {
  it('provisions the Prometheus datasource and loads the dashboards folder', () => {
    const dsFiles = readdirSync(
      new URL('../../monitoring/grafana/provisioning/datasources', import.meta.url),
    );
    expect(dsFiles.filter((f) => f.endsWith('.yml')).length).toBeGreaterThan(0);
    const ds = readYaml('monitoring', 'grafana', 'provisioning', 'datasources', 'prometheus.yml') as {
      apiVersion: number;
      datasources: { type: string; url: string; isDefault?: boolean }[];
    };
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources).toEqual([
      expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true }),
    ]);
    const dash = readYaml('monitoring', 'grafana', 'provisioning', 'dashboards', 'feishu-user-auth.yml') as {
      apiVersion: number;
      providers: { type: string; options: { path: string } }[];
    };
    expect(dash.providers).toHaveLength(1);
    expect(dash.providers[0]?.type).toBe('file');
    expect(dash.providers[0]?.options.path).toBe('/var/lib/grafana/dashboards');
  });
});
