import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fuzzApi, startFuzzStack, type FuzzStack } from '../helpers/fuzz.ts';

let fuzz: FuzzStack;
const reportDir = mkdtempSync(path.join(os.tmpdir(), 'fuzz-'));

beforeAll(async () => {
  fuzz = await startFuzzStack();
});

afterAll(async () => {
  await fuzz?.close();
  rmSync(reportDir, { recursive: true, force: true });
});

/** A short run of what `npm run fuzz` does at length: random cases only, a few per operation. */
it('answers fuzzed requests of every role per the OpenAPI document, and refusals change nothing', async () => {
  const report = await fuzzApi(fuzz, {
    maxExamples: 8,
    phases: ['fuzzing'],
    reportDir,
    seed: 1,
    // The witness waits for every accepted batch to finish: batches are fuzzed by `npm run fuzz`.
    excludePathRegex: ':batch',
  });
  expect(report.failures).toEqual([]);
  expect(report.stateChanges).toEqual([]);
  expect(report.serverErrors).toBe(0);
  // The run reached past the key checks and changed state where it may.
  expect(report.byStatus['202']).toBeGreaterThan(0);
  expect(report.requests).toBeGreaterThan(300);
}, 240_000);
