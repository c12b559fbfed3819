import type { GrantState } from '../../../lib/grant-types.ts';
import type { World } from '../model/world.ts';

const DAY_MS = 24 * 3600_000;
/** How long a user may be left without a card after their grant needs them (notices retry through outages). */
const NOTICE_GRACE_MS = DAY_MS;
/** How long after its expiry an attempt may stay unsettled before it counts as forgotten. */
const SETTLE_GRACE_MS = DAY_MS;

/** A property that does not hold for a grant; `once` names it so that it is reported only once. */
export interface Finding {
  invariant: string;
  detail: string;
  once: string;
}

type Report = (invariant: string, detail: string, once?: string) => void;

/**
 * The store says what the running workflow says: status, and the token version while authorized.
 * Once the run has ended the API writes the store alone (a revoke without a workflow), but tokens
 * it serves must have a running workflow to keep them.
 */
function checkStore(world: World, state: GrantState, running: boolean, report: Report): void {
  const row = world.store.getGrant(state.openId);
  if (!row) return;
  const serving = row.access_token_ct !== null;
  if (!running) {
    if (serving) report('grant left unattended', `the store serves tokens but the workflow is not running`);
  } else if (state.status === 'authorized') {
    if (row.status !== 'authorized' || !serving) {
      report('store disagrees', `the workflow says authorized, the store ${row.status} without tokens`);
    } else if (state.token?.tokenVersion !== row.token_version) {
      report(
        'store disagrees',
        `token version: the workflow holds v${state.token?.tokenVersion}, the store v${row.token_version}`,
      );
    }
  } else if (serving) {
    report('store disagrees', `the store serves tokens while the workflow says ${state.status}`);
  } else if (row.status !== state.status) {
    report('store disagrees', `status: the workflow says ${state.status}, the store ${row.status}`);
  }
}

/** No card keeps offering an attempt that ended, unless Feishu refused to change it. */
function checkCards(world: World, now: number, openId: string, report: Report): void {
  for (const card of world.feishu.cardsOf(openId)) {
    if (card.state !== 'pending' || card.lastPatchFailure) continue;
    const session = world.store.getSession(card.attemptId);
    if (session?.settled_at) {
      report(
        'card left pending',
        `card ${card.messageId} still offers ${card.attemptId}, which ended ${session.status}`,
        `pending ${card.messageId}/${card.attemptId}`,
      );
    } else if (session && session.expires_at.getTime() + SETTLE_GRACE_MS < now) {
      report(
        'attempt never settled',
        `${card.attemptId} expired a day ago and was never settled`,
        `unsettled ${card.attemptId}`,
      );
    }
  }
}

/** A grant that needs its user (needs_reauth) tells them with a card, never silently. */
function checkNeedsReauthTold(world: World, now: number, openId: string, report: Report): void {
  const row = world.store.getGrant(openId);
  const since = world.store.statusSince.get(openId);
  if (row?.status !== 'needs_reauth' || since === undefined || now - since < NOTICE_GRACE_MS) return;
  const told = world.store.sessionsOf(openId).some((s) => s.message_id && s.created_at.getTime() >= since);
  if (!told) {
    report(
      'needs_reauth without a card',
      `needs_reauth (${row.reason}) for a day, and no card since`,
      `silent ${since}`,
    );
  }
}

/**
 * What must hold once a grant's workflow is quiescent: the store agrees with the workflow's
 * `state`, every card shows how its attempt ended, and a grant that needs its user said so.
 */
export function agreementFindings(
  world: World,
  now: number,
  openId: string,
  state: GrantState | undefined,
  running: boolean,
): Finding[] {
  const findings: Finding[] = [];
  const report: Report = (invariant, detail, once) =>
    findings.push({ invariant, detail, once: once ?? `${invariant} ${openId}` });
  if (state) checkStore(world, state, running, report);
  checkCards(world, now, openId, report);
  checkNeedsReauthTold(world, now, openId, report);
  return findings;
}
