import { describe, expect, it } from 'vitest';
import { summarizeProfiles } from '../../bench/profile.ts';
import { arrivalsDue, runOpenLoop } from '../../bench/stats.ts';

describe('open-loop arrivals', () => {
  it('counts the arrivals due at a fixed rate, the first at once', () => {
    expect(arrivalsDue(-1, 10, 100)).toBe(0);
    expect(arrivalsDue(0, 10, 100)).toBe(1);
    expect(arrivalsDue(99, 10, 100)).toBe(1);
    expect(arrivalsDue(100, 10, 100)).toBe(2);
    expect(arrivalsDue(2_500, 3_000, 100_000)).toBe(7_501);
    expect(arrivalsDue(60_000, 10, 100)).toBe(100);
  });

  it('starts each task on schedule without waiting for earlier ones to finish', async () => {
    const started: number[] = [];
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    const done = runOpenLoop(5, 1_000, async (i, dueAt) => {
      started.push(i);
      expect(dueAt).toBeGreaterThan(0);
      await blocked;
    });
    // Every task starts while the first ones are still blocked.
    await expect.poll(() => started.length).toBe(5);
    release();
    await done;
    expect(started).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('CPU profile summary', () => {
  it('gives each function its self share and its share of stacks it is on, counting recursion once', () => {
    const frame = (functionName: string) => ({ functionName, url: '', lineNumber: 0 });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 5] },
        { id: 2, callFrame: frame('outer'), children: [3] },
        { id: 3, callFrame: frame('inner'), children: [4] },
        { id: 4, callFrame: frame('outer') },
        { id: 5, callFrame: frame('(idle)') },
      ],
      startTime: 1_000,
      samples: [2, 3, 4, 4, 5, 3],
      timeDeltas: [1, 1, 1, 1, 1, 10],
    };
    // The last sample (at 1,015 µs) falls outside the window.
    const window = { fromUs: 1_000, toUs: 1_010 };
    const byName = Object.fromEntries(summarizeProfiles([profile], window).map((e) => [e.name, e]));
    // Idle samples are left out: 4 samples count.
    expect(byName.outer).toEqual({ name: 'outer', selfPercent: 75, totalPercent: 100 });
    expect(byName.inner).toEqual({ name: 'inner', selfPercent: 25, totalPercent: 75 });
    expect(byName['(idle)']).toBeUndefined();
  });
});
