import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import { Client, Connection } from '@temporalio/client';
import { root } from '../../../bench/provision.ts';
import { percentile } from '../../../bench/stats.ts';
import { createDb } from '../../../lib/db.ts';
import { databaseText, findPlaintext, historyText } from '../../helpers/plaintext.ts';
import { attemptIdsIn, cardsOf, cardView } from './cards.ts';
import { saveLostHistories } from './lost-histories.ts';
import type { Kill } from './monkey.ts';
import type { TokenReads } from './readers.ts';
import type { ChaosStack } from './stack.ts';
import type { Flow } from './users.ts';

export interface BurntToken {
  openId: string;
  usedAt: number;
  cause: 'lost answer' | 'crash';
  /** `needs_reauth with a re-authorize card`, or `revoked first` when the user revoked before it showed; else what went wrong. */
  ended: string;
  /** The grant's events and the user's cards around it, to trace one that went wrong. */
  story: string;
}

export interface ChaosReport {
  flows: {
    total: number;
    byOutcome: Record<string, number>;
    lost: Flow[];
    late: number;
    /** Files with the decoded histories of each lost flow's user. */
    lostHistories: string[];
  };
  duplicateCards: { attemptId: string; messages: string[] }[];
  /** Each user with more than one pending card, and those cards' versions. */
  usersWithTwoLiveCards: string[];
  refreshes: {
    total: number;
    tokensUsedTwice: number;
    burnt: BurntToken[];
    /** Each needs_reauth with no re-authorize card after it: the user, when, and the story around it. */
    silentNeedsReauth: string[];
  };
  grantsRefreshedAtLeast3: { held3Minutes: number; refreshed3Times: number };
  workflows: {
    byStatus: Record<string, number>;
    failed: string[];
    stuck: string[];
    workflowTaskFailures: number;
  };
  tokenApi: { byAnswer: Record<string, number>; unexpected5xx: number; rate503PerKill: number };
  plaintextSecrets: { where: string }[];
  kills: Record<string, number>;
  recoveryMs: { p50: number; p99: number; byTarget: Record<string, { p50: number; p99: number }> };
}

const SECOND = 1_000;

/** Who used a rotated token's answer: a crash of the process holding it explains a second use. */
function crashNear(kills: Kill[], usedAt: number): boolean {
  return kills.some(
    (k) => k.target !== 'api' && k.at >= usedAt - 30 * SECOND && usedAt <= (k.backAt ?? k.at) + 5 * SECOND,
  );
}

const clock = (at: number) => new Date(at).toISOString().slice(11, 19);

/** A message's versions as the user saw them change: what changed it, the title, the attempt its buttons name. */
function versionsOf(sandbox: ChaosStack['sandbox'], messageId: string): string {
  const message = sandbox.state.message(messageId);
  if (!message) return 'gone';
  return message.versions
    .map((v) => {
      const title = (JSON.parse(v.content) as { header?: { title?: { content?: string } } }).header?.title
        ?.content;
      const attempts = attemptIdsIn(v.content);
      return `${clock(v.at)} ${v.source}${v.revertedAt ? ' (reverted)' : ''}: ${title}${attempts.length ? ` [${attempts.join(' ')}]` : ''}`;
    })
    .join(', ');
}

interface GrantEvent {
  open_id: string;
  kind: string;
  outcome: string;
  at: Date;
}

type SandboxGrant = ReturnType<ChaosStack['sandbox']['state']['grants']>[number];

/**
 * The Feishu grants the service held for three minutes or more, each long enough to refresh three
 * times. A grant is held from its consent until it is revoked, its refresh chain is burnt (a lost
 * answer or a second use: the service can only re-authorize), or the same user's next consent
 * replaces it. The stranger's grants (consent as the wrong account) are never held.
 */
export function keptThreeMinutes(grants: SandboxGrant[], users: Set<string>, end: number): SandboxGrant[] {
  const consents = (openId: string | undefined) =>
    grants.filter((g) => g.openId === openId).map((g) => g.authorizedAt);
  return grants.filter((g) => {
    if (!g.openId || !users.has(g.openId)) return false;
    const burnt = g.refreshTokens.flatMap((t) => [t.answerLostAt ?? Infinity, ...t.reusedAt]);
    const replaced = consents(g.openId).filter((at) => at > g.authorizedAt);
    const heldUntil = Math.min(g.revokedAt ?? end, end, ...burnt, ...replaced);
    return heldUntil - g.authorizedAt >= 180 * SECOND;
  });
}

/** Everything the run must show, read from the sandbox (ground truth), the database and Temporal. */
export async function checkRun(
  stack: ChaosStack,
  flows: Flow[],
  kills: Kill[],
  reads: TokenReads,
  secretsSeen: Set<string>,
): Promise<ChaosReport> {
  const { sandbox } = stack;
  const db = createDb(stack.postgres.databaseUrl, 2);
  const connection = await Connection.connect({ address: stack.temporalAddress });
  try {
    // Flows: a flow that timed out is looked at once more, now that everything is up and quiet.
    let late = 0;
    for (const flow of flows.filter((f) => f.result !== 'ok' && f.messageId)) {
      if (cardView(sandbox, flow.messageId!)?.state === flow.expected) {
        late += 1;
        flow.result = 'ok';
        flow.notes.push('reached its state after the run');
      }
    }
    for (const flow of flows.filter((f) => f.result !== 'ok' && f.messageId)) {
      flow.notes.push(`card versions: ${versionsOf(sandbox, flow.messageId!)}`);
    }
    const byOutcome: Record<string, number> = {};
    for (const flow of flows) {
      const key = `${flow.behavior} → ${flow.result === 'ok' ? flow.expected : 'LOST'}`;
      byOutcome[key] = (byOutcome[key] ?? 0) + 1;
    }

    // Cards: one message per attempt, one live card per user.
    const messagesByAttempt = new Map<string, Set<string>>();
    for (const message of sandbox.state.messages({ appId: stack.app.appId })) {
      if (message.msgType !== 'interactive') continue;
      for (const version of message.versions) {
        for (const id of [...attemptIdsIn(version.content), ...(message.uuid ? [message.uuid] : [])]) {
          messagesByAttempt.set(id, (messagesByAttempt.get(id) ?? new Set()).add(message.messageId));
        }
      }
    }
    const duplicateCards = [...messagesByAttempt]
      .filter(([, messages]) => messages.size > 1)
      .map(([attemptId, messages]) => ({
        attemptId,
        messages: [...messages].map((id) => `${id} (${versionsOf(sandbox, id)})`),
      }));
    const openIds = [...new Set(flows.map((f) => f.openId))];
    const usersWithTwoLiveCards = openIds.flatMap((openId) => {
      const live = cardsOf(sandbox, openId).filter((c) => c.state === 'pending');
      return live.length > 1
        ? [`${openId}: ${live.map((c) => `${c.messageId} (${versionsOf(sandbox, c.messageId)})`).join('; ')}`]
        : [];
    });

    // Refresh tokens, as Feishu (the sandbox) saw them used.
    const { rows: events } = await db.query<GrantEvent>(
      `SELECT open_id, kind, outcome, at FROM grant_events WHERE app_id = $1 ORDER BY at`,
      [stack.app.appId],
    );
    /** What the user's grant did and which cards they got from two minutes before `at` on. */
    const storyOf = (openId: string, at: number): string => {
      const since = at - 120 * SECOND;
      const history = events
        .filter((e) => e.open_id === openId && e.at.getTime() >= since)
        .map((e) => `${clock(e.at.getTime())} ${e.kind} ${e.outcome}`);
      const cards = cardsOf(sandbox, openId)
        .filter((c) => c.createdAt >= since || c.state === 'pending')
        .map((c) => `${c.messageId} (${versionsOf(sandbox, c.messageId)})`);
      return `events [${history.join(', ')}]; cards [${cards.join('; ')}]`;
    };
    const grants = sandbox.state.grants();
    const refreshTokens = grants.flatMap((g) => g.refreshTokens.map((t) => ({ ...t, openId: g.openId })));
    let tokensUsedTwice = 0;
    const burnt: BurntToken[] = [];
    for (const token of refreshTokens) {
      if (token.usedAt === undefined) continue;
      const lost = token.answerLostAt !== undefined;
      if (token.reusedAt.length > 0 && !lost && !crashNear(kills, token.usedAt)) {
        tokensUsedTwice += 1;
        continue;
      }
      if (!lost && token.reusedAt.length === 0) continue;
      const after = (e: GrantEvent) => e.open_id === token.openId && e.at.getTime() >= token.usedAt! - SECOND;
      const reauth = events.find((e) => after(e) && e.kind === 'refresh' && e.outcome === 'needs_reauth');
      const revoke = events.find((e) => after(e) && e.kind === 'revoke');
      const card = cardsOf(sandbox, token.openId).find((c) => c.reauth && c.createdAt >= token.usedAt!);
      burnt.push({
        story: storyOf(token.openId, token.usedAt),
        openId: token.openId,
        usedAt: token.usedAt,
        cause: lost ? 'lost answer' : 'crash',
        ended:
          revoke && (!reauth || revoke.at <= reauth.at)
            ? 'revoked first'
            : reauth && card
              ? 'needs_reauth with a re-authorize card'
              : reauth
                ? 'needs_reauth WITHOUT a re-authorize card'
                : 'NOT needs_reauth',
      });
    }
    const silentNeedsReauth = events
      .filter((e) => e.outcome === 'needs_reauth')
      .filter(
        (e) => !cardsOf(sandbox, e.open_id).some((c) => c.reauth && c.createdAt >= e.at.getTime() - SECOND),
      )
      .map((e) => `${e.open_id} at ${clock(e.at.getTime())}: ${storyOf(e.open_id, e.at.getTime())}`);
    const refreshEvents = sandbox.state.tokenEvents().filter((e) => e.grantType === 'refresh_token' && e.ok);
    const held = keptThreeMinutes(grants, new Set(flows.map((f) => f.openId)), Date.now());
    const refreshed3 = held.filter(
      (g) => refreshEvents.filter((e) => e.authorizationId === g.authorizationId).length >= 3,
    );

    // Workflows.
    const client = new Client({ connection });
    const byStatus: Record<string, number> = {};
    const failed: string[] = [];
    const stuck: string[] = [];
    let workflowTaskFailures = 0;
    const histories: string[] = [];
    const rawHistories: History[] = [];
    for await (const execution of client.workflow.list()) {
      byStatus[execution.status.name] = (byStatus[execution.status.name] ?? 0) + 1;
      if (['FAILED', 'TERMINATED', 'TIMED_OUT'].includes(execution.status.name))
        failed.push(execution.workflowId);
      const handle = client.workflow.getHandle(execution.workflowId, execution.runId);
      if (execution.status.name === 'RUNNING') {
        const { raw } = await handle.describe();
        if ((raw.pendingActivities ?? []).some((a) => (a.attempt ?? 0) >= 5))
          stuck.push(execution.workflowId);
      }
      const history = await handle.fetchHistory();
      workflowTaskFailures += (history.events ?? []).filter(
        (e) => e.workflowTaskFailedEventAttributes,
      ).length;
      histories.push(historyText(history));
      rawHistories.push(history);
    }
    const { rows: overdue } = await db.query<{ open_id: string }>(
      `SELECT open_id FROM user_auth_sessions
        WHERE app_id = $1 AND status = 'pending' AND expires_at < now() - interval '2 minutes'`,
      [stack.app.appId],
    );
    stuck.push(...overdue.map((r) => `attempt of ${r.open_id} pending past its expiry`));

    // Secrets: every token Feishu issued, every code and state the users' browsers carried, the app secret.
    const secrets = [
      ...grants.flatMap((g) => [...g.accessTokens, ...g.refreshTokens].map((t) => t.token)),
      ...secretsSeen,
      stack.app.appSecret,
    ];
    const plaintextSecrets = findPlaintext(secrets, {
      logs: stack.logFiles.map((f) => readFileSync(f, 'utf8')).join('\n'),
      database: await databaseText(db),
      history: histories.join('\n'),
    }).map(({ where }) => ({ where }));

    // Kills and recovery: until a card changes again (flows progress), after kills followed by any.
    const cardChanges = sandbox.state
      .messages({ appId: stack.app.appId })
      .filter((m) => m.sender === 'bot')
      .flatMap((m) => m.versions.map((v) => v.at))
      .sort((a, b) => a - b);
    const recovery = kills.flatMap((k) => {
      const next = cardChanges.find((t) => t >= k.at);
      return next === undefined ? [] : [{ target: k.target, ms: next - k.at }];
    });
    const p = (ms: number[]) => ({
      p50: Math.round(percentile(ms, 50)),
      p99: Math.round(percentile(ms, 99)),
    });
    const byTarget: Record<string, { p50: number; p99: number }> = {};
    const killCounts: Record<string, number> = {};
    for (const target of new Set(kills.map((k) => k.target))) {
      byTarget[target] = p(recovery.filter((r) => r.target === target).map((r) => r.ms));
      killCounts[target] = kills.filter((k) => k.target === target).length;
    }
    const unexpected5xx = reads.unexpected5xx.length;
    const answers503 = Object.entries(reads.byAnswer)
      .filter(([answer]) => answer.startsWith('503'))
      .reduce((sum, [, n]) => sum + n, 0);
    const lost = flows.filter((f) => f.result !== 'ok');
    // Only a help for tracing a loss: failing to write it must not cost the run its report.
    const lostHistories = await saveLostHistories(
      rawHistories,
      lost.map((f) => f.openId),
      stack.app.codecKeys,
      path.join(root, '.data', 'chaos', 'lost'),
    ).catch((err: unknown) => [`(not saved: ${String(err)})`]);
    return {
      flows: { total: flows.length, byOutcome, lost, late, lostHistories },
      duplicateCards,
      usersWithTwoLiveCards,
      refreshes: { total: refreshEvents.length, tokensUsedTwice, burnt, silentNeedsReauth },
      grantsRefreshedAtLeast3: { held3Minutes: held.length, refreshed3Times: refreshed3.length },
      workflows: { byStatus, failed, stuck, workflowTaskFailures },
      tokenApi: {
        byAnswer: reads.byAnswer,
        unexpected5xx,
        rate503PerKill: kills.length ? Math.round((answers503 / kills.length) * 100) / 100 : 0,
      },
      plaintextSecrets,
      kills: killCounts,
      recoveryMs: { ...p(recovery.map((r) => r.ms)), byTarget },
    };
  } finally {
    await connection.close();
    await db.end();
  }
}
