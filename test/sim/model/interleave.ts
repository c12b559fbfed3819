import { Context } from '@temporalio/activity';

/** The model activities a test can step into. */
export type Interleavable = 'refreshGrant' | 'updateCard' | 'currentGrantSettings' | 'exchangeCode';

/** How often an activity held by a test heartbeats: well inside the shortest heartbeatTimeout (5 s). */
const HEARTBEAT_EVERY_MS = 1_000;

export const ANY_USER = '*';

interface Cue {
  openId: string;
  matches: (input: unknown) => boolean;
  act: () => Promise<void>;
}

/**
 * Puts something the test does at a known point of a workflow: inside one model activity, after
 * the workflow issued it and before the model answers. While the activity is in flight the test
 * server holds its clock and the workflow awaits that activity, so whatever the test does then
 * (an update, a change of settings) lands in exactly that window, in every run of the test.
 */
export class Interleavings {
  private readonly cues = new Map<Interleavable, Cue[]>();

  /**
   * Runs `act` inside the next call of `activity` for `openId` (whose input `matches`, if given);
   * `ANY_USER` for an activity that names no user.
   */
  inside(
    activity: Interleavable,
    openId: string,
    act: () => Promise<void>,
    matches: (input: unknown) => boolean = () => true,
  ): void {
    const cues = this.cues.get(activity) ?? [];
    cues.push({ openId, matches, act });
    this.cues.set(activity, cues);
  }

  /** Called by the model activity before it answers; heartbeats while the test's act runs. */
  async run(activity: Interleavable, openId: string | undefined, input: unknown): Promise<void> {
    const cues = this.cues.get(activity) ?? [];
    const index = cues.findIndex(
      (cue) => (cue.openId === ANY_USER || cue.openId === openId) && cue.matches(input),
    );
    if (index < 0) return;
    const [cue] = cues.splice(index, 1);
    const context = Context.current();
    const beat = setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
    try {
      await cue!.act();
    } finally {
      clearInterval(beat);
    }
  }

  /** Cues no activity call has reached yet. */
  pending(): number {
    return [...this.cues.values()].reduce((n, cues) => n + cues.length, 0);
  }
}
