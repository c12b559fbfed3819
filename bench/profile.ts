import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { root } from './provision.ts';
import { parseFlags, round } from './stats.ts';

/** Where `--profile` runs leave the worker's and the API's V8 CPU profiles (node --cpu-prof). */
export const PROFILE_DIR = path.join(root, '.data', 'bench', 'profiles');

export const profileFlags = (role: string): string[] => [
  '--cpu-prof',
  `--cpu-prof-dir=${path.join(PROFILE_DIR, role)}`,
];

/** The parts of a .cpuprofile this reads (V8's Profiler.Profile). */
interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  /** Monotonic clock, µs. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  /** Percent of all samples spent in the function itself. */
  selfPercent: number;
  /** Percent of samples with the function anywhere on the stack. */
  totalPercent: number;
}

/** A readable frame: function, then the file relative to the repository or the package it is in. */
function frameName(frame: CpuProfile['nodes'][number]['callFrame']): string {
  const fn = frame.functionName || '(anonymous)';
  if (!frame.url) return fn;
  const file = frame.url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1];
  const where = pkg ?? (file.startsWith(root) ? path.relative(root, file) : file);
  return `${fn} (${where}${pkg ? '' : `:${frame.lineNumber + 1}`})`;
}

/** A stretch of the monotonic clock (µs, process.hrtime's and V8's), e.g. the measured load. */
export interface Window {
  fromUs: number;
  toUs: number;
}

export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

interface Counts {
  self: Map<string, number>;
  total: Map<string, number>;
  samples: number;
}

/** Adds one profile's busy samples (inside `window`, when given) to `counts`. */
function count(profile: CpuProfile, counts: Counts, window?: Window): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const special = new Set(['(program)', '(garbage collector)']);
  const nameOf = (node: CpuProfile['nodes'][number]) =>
    special.has(node.callFrame.functionName) ? node.callFrame.functionName : frameName(node.callFrame);
  let at = profile.startTime;
  profile.samples.forEach((sample, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) return;
    const leaf = byId.get(sample);
    if (!leaf || leaf.callFrame.functionName === '(idle)') return;
    counts.samples++;
    counts.self.set(nameOf(leaf), (counts.self.get(nameOf(leaf)) ?? 0) + 1);
    const seen = new Set<string>();
    for (let id: number | undefined = sample; id !== undefined; id = parent.get(id)) {
      const node = byId.get(id)!;
      if (node.callFrame.functionName === '(root)') break;
      const name = nameOf(node);
      if (seen.has(name)) continue;
      seen.add(name);
      counts.total.set(name, (counts.total.get(name) ?? 0) + 1);
    }
  });
}

/**
 * The text flame graph of one process (all its threads' profiles together): each function's share
 * of the busy samples, itself and anywhere on the stack. Total counts a function once per sample
 * even when it recurses, so no share exceeds 100 %.
 */
export function summarizeProfiles(profiles: CpuProfile[], window?: Window): ProfileEntry[] {
  const counts: Counts = { self: new Map(), total: new Map(), samples: 0 };
  for (const profile of profiles) count(profile, counts, window);
  const share = (n: number) => round((100 * n) / Math.max(1, counts.samples), 1);
  return [...counts.total.keys()].map((name) => ({
    name,
    selfPercent: share(counts.self.get(name) ?? 0),
    totalPercent: share(counts.total.get(name) ?? 0),
  }));
}

/** Top `n` by self and by total time, as text lines. */
export function formatProfile(title: string, entries: ProfileEntry[], n = 15): string {
  const bySelf = [...entries].sort((a, b) => b.selfPercent - a.selfPercent).slice(0, n);
  const byTotal = [...entries].sort((a, b) => b.totalPercent - a.totalPercent).slice(0, n);
  const line = (e: ProfileEntry) =>
    `  ${String(e.selfPercent).padStart(5)} % self  ${String(e.totalPercent).padStart(5)} % total  ${e.name}`;
  return (
    [
      `\n${title}: top by self time`,
      ...bySelf.map(line),
      `${title}: top by total time`,
      ...byTotal.map(line),
    ].join('\n') + '\n'
  );
}

/** Every thread's profile a role's process left (the main thread, workflow threads, loaders). */
function profilesOf(role: string): string[] {
  const dir = path.join(PROFILE_DIR, role);
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/** Run before the services start, so only this run's profiles are read. */
export function clearProfiles(roles: string[]): void {
  for (const role of roles) rmSync(path.join(PROFILE_DIR, role), { recursive: true, force: true });
}

/** Prints each role's top functions, counting only samples inside `window` when given. */
export function printProfiles(roles: string[], window?: Window): void {
  for (const role of roles) {
    const files = profilesOf(role);
    if (files.length === 0) {
      process.stdout.write(`\nno CPU profile for the ${role} in ${PROFILE_DIR}\n`);
      continue;
    }
    const profiles = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile);
    const where = `${files.length} thread profiles in ${path.relative(root, path.dirname(files[0]!))}`;
    const during = window ? `, the ${round((window.toUs - window.fromUs) / 1e6, 0)} s under load` : '';
    process.stdout.write(formatProfile(`${role} (${where}${during})`, summarizeProfiles(profiles, window)));
  }
}

// `node --import tsx bench/profile.ts --role worker` summarises the newest profile again.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const flags = parseFlags();
  printProfiles(typeof flags.role === 'string' ? flags.role.split(',') : ['worker', 'api']);
}
