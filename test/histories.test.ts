import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  fixturePaths,
  historiesDir,
  manifestPath,
  readManifest,
  sha256Of,
} from './helpers/history-fixtures.ts';

function git(cwd: string, args: string[]): string {
  return execFileSync('git', ['-c', 'core.quotepath=off', ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  }).trim();
}

const lines = (text: string) => (text ? text.split('\n') : []);

type Committed =
  | { ok: true; top: string; firstBlobs: Map<string, string>; since: string; shallow: boolean }
  | { ok: false; reason: string };

/**
 * The first committed version (blob id) of every fixture git has seen since the manifest was
 * committed; the history before it (fixtures re-recorded in place) is not held to the rule. A
 * shallow clone begins at its oldest commit, which then stands in for the manifest's first one.
 */
function committedFixtures(): Committed {
  let top: string;
  try {
    top = git(historiesDir, ['rev-parse', '--show-toplevel']);
  } catch {
    return { ok: false, reason: 'not a git checkout: only the manifest is checked' };
  }
  const dir = path.relative(top, historiesDir).split(path.sep).join('/');
  const manifest = `${dir}/${path.basename(manifestPath)}`;
  const since = lines(git(top, ['log', '--reverse', '--format=%H', '--diff-filter=A', '--', manifest]))[0];
  if (!since) return { ok: false, reason: `${manifest} is not committed yet: only the manifest is checked` };

  const firstBlobs = new Map<string, string>();
  for (const line of lines(git(top, ['ls-tree', '-r', '--full-tree', since, '--', `${dir}/`]))) {
    const [meta, file] = line.split('\t') as [string, string];
    firstBlobs.set(file, meta.split(' ')[2]!);
  }
  // Raw diff lines of later additions: ":000000 100644 <old> <new> A\t<path>".
  const added = git(top, [
    'log',
    '--reverse',
    '--no-renames',
    '--raw',
    '--no-abbrev',
    '--format=',
    '--diff-filter=A',
    `${since}..HEAD`,
    '--',
    `${dir}/`,
  ]);
  for (const line of lines(added)) {
    const [meta, file] = line.split('\t') as [string, string];
    if (!firstBlobs.has(file)) firstBlobs.set(file, meta.split(' ')[3]!);
  }
  firstBlobs.delete(manifest);
  const shallow = git(top, ['rev-parse', '--is-shallow-repository']) === 'true';
  return { ok: true, top, firstBlobs, since, shallow };
}

describe('fixtures under test/histories/ are append-only', () => {
  it('every fixture is in manifest.json with its sha256, and everything listed there exists unchanged', () => {
    const { fixtures } = readManifest();
    const problems: string[] = [];
    for (const [fixture, { sha256 }] of Object.entries(fixtures)) {
      if (!existsSync(path.join(historiesDir, fixture))) problems.push(`${fixture} was removed`);
      else if (sha256Of(fixture) !== sha256)
        problems.push(`${fixture} was changed (sha256 ${sha256Of(fixture)})`);
    }
    for (const fixture of fixturePaths().filter((f) => !(f in fixtures))) {
      problems.push(
        `${fixture} is not in manifest.json: add "${fixture}": { "sha256": "${sha256Of(fixture)}", ` +
          `"recordedAt": "<commit of the workflow code that wrote it>" }`,
      );
    }
    expect(problems, 'test/histories/ is append-only (docs/operations.md)').toEqual([]);
  });

  it('every fixture committed since the manifest still exists as it was first committed', (ctx) => {
    const committed = committedFixtures();
    if (!committed.ok) return ctx.skip(committed.reason);
    const { top, firstBlobs, since, shallow } = committed;
    const present = [...firstBlobs.keys()].filter((file) => existsSync(path.join(top, file)));
    const blobs = present.length > 0 ? lines(git(top, ['hash-object', '--', ...present])) : [];
    const now = new Map(present.map((file, i) => [file, blobs[i]]));
    const problems = [...firstBlobs].flatMap(([file, blob]) => {
      if (!now.has(file)) return [`${file} was removed`];
      return now.get(file) === blob
        ? []
        : [`${file} differs from its first committed version (blob ${blob})`];
    });
    expect(
      problems,
      `compared with git history since ${since.slice(0, 7)}${shallow ? ' (a shallow clone: the oldest commit fetched)' : ''}`,
    ).toEqual([]);
  });
});
