import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The replay fixtures under test/histories/ and their manifest. Fixtures are append-only: a live
 * grant runs for months on whatever code recorded its history, so a fixture that was changed or
 * removed would stop proving that today's code replays those runs.
 */
export const historiesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'histories');

const MANIFEST_FILE = 'manifest.json';
export const manifestPath = path.join(historiesDir, MANIFEST_FILE);

export interface ManifestEntry {
  sha256: string;
  /** The commit whose workflow code wrote the history (`-dirty`: with uncommitted changes). */
  recordedAt: string;
  /** The `deprecatePatch` id that made such histories impossible: kept, no longer replayed. */
  retiredBy?: string;
}

export interface Manifest {
  $comment: string;
  /** By path relative to test/histories/, with `/` separators. */
  fixtures: Record<string, ManifestEntry>;
}

/** Every fixture, as a path relative to test/histories/ with `/` separators, sorted. */
export function fixturePaths(): string[] {
  return readdirSync(historiesDir, { recursive: true, encoding: 'utf8' })
    .map((p) => p.split(path.sep).join('/'))
    .filter((p) => p.endsWith('.json') && p !== MANIFEST_FILE)
    .sort();
}

export function sha256Of(fixture: string): string {
  return createHash('sha256')
    .update(readFileSync(path.join(historiesDir, fixture)))
    .digest('hex');
}

export function readManifest(): Manifest {
  return JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
}

/** Lists new fixtures; an entry that is already there is never replaced. */
export function addToManifest(added: Record<string, ManifestEntry>): void {
  const manifest = readManifest();
  const taken = Object.keys(added).filter((p) => p in manifest.fixtures);
  if (taken.length > 0) throw new Error(`already in ${MANIFEST_FILE}: ${taken.join(', ')}`);
  const fixtures = Object.fromEntries(
    Object.entries({ ...manifest.fixtures, ...added }).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  writeFileSync(manifestPath, `${JSON.stringify({ ...manifest, fixtures }, null, 2)}\n`);
}
