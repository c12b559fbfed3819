import { readFileSync, readdirSync } from 'node:fs';
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

/**
 * The text flame graph: each function's self and total share of the samples. Total counts a
 * function once per sample even when it recurses, so shares of nested frames never exceed 100 %.
 */
export function summarizeProfile(profile: CpuProfile): ProfileEntry[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const idle = new Set(['(idle)', '(program)', '(garbage collector)']);
  let counted = 0;
  for (const sample of profile.samples) {
    const leaf = byId.get(sample);
    if (!leaf || leaf.callFrame.functionName === '(idle)') continue;
    counted++;
    const leafName = idle.has(leaf.callFrame.functionName)
      ? leaf.callFrame.functionName
      : frameName(leaf.callFrame);
    self.set(leafName, (self.get(leafName) ?? 0) + 1);
    const seen = new Set<string>();
    for (let id: number | undefined = sample; id !== undefined; id = parent.get(id)) {
      const node = byId.get(id)!;
      if (node.callFrame.functionName === '(root)') break;
      const name = idle.has(node.callFrame.functionName)
        ? node.callFrame.functionName
        : frameName(node.callFrame);
      if (seen.has(name)) continue;
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + 1);
    }
  }
  const share = (n: number) => round((100 * n) / Math.max(1, counted), 1);
  return [...total.keys()].map((name) => ({
    name,
    selfPercent: share(self.get(name) ?? 0),
    totalPercent: share(total.get(name) ?? 0),
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

/** The newest profile a role left in PROFILE_DIR. */
export function latestProfile(role: string): string | undefined {
  const dir = path.join(PROFILE_DIR, role);
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return undefined;
  }
  return files
    .sort()
    .map((f) => path.join(dir, f))
    .pop();
}

export function printProfiles(roles: string[]): void {
  for (const role of roles) {
    const file = latestProfile(role);
    if (!file) {
      process.stdout.write(`\nno CPU profile for the ${role} in ${PROFILE_DIR}\n`);
      continue;
    }
    const entries = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
    process.stdout.write(formatProfile(`${role} (${path.relative(root, file)})`, entries));
  }
}

// `node --import tsx bench/profile.ts --role worker` summarises the newest profile again.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const flags = parseFlags();
  printProfiles(typeof flags.role === 'string' ? flags.role.split(',') : ['worker', 'api']);
}
