import type { CardNotice, FailureReason } from '../grant-types.ts';
import type { SessionRow } from '../store/sessions.ts';
import { describeScope, type Text } from '../i18n.ts';
import { FAILURE_WORDS, T } from './text.ts';

/** The value every callback button carries; the handler checks it against the operator. */
export interface CardActionValue {
  action: 'cancel' | 'revoke' | 'retry';
  open_id: string;
  attempt_id: string;
}

export type CardView =
  | {
      state: 'pending';
      openId: string;
      attemptId: string;
      authorizeUrl: string;
      scopes: string[];
      expiresAt: number;
      notice?: 'reauth' | 'renewal';
      /** Device flow: authorizeUrl is Feishu's verification page, where the user confirms this code. */
      device?: { userCode: string; verificationUri: string };
    }
  | { state: 'authorized'; openId: string; attemptId: string; userName: string; scopes: string[] }
  | {
      state: 'denied' | 'expired' | 'cancelled' | 'superseded' | 'revoked';
      openId: string;
      attemptId: string;
    }
  | { state: 'identity_mismatch'; openId: string; attemptId: string }
  | { state: 'failed'; openId: string; attemptId: string; reason: FailureReason };

/** The card of an attempt that waits for its user, who authorizes at `authorizeUrl`. */
export function pendingAttemptView(
  row: SessionRow,
  authorizeUrl: string,
  notice?: CardNotice,
): Extract<CardView, { state: 'pending' }> {
  return {
    state: 'pending',
    openId: row.open_id,
    attemptId: row.id,
    scopes: row.scopes,
    expiresAt: row.expires_at.getTime(),
    notice,
    authorizeUrl,
  };
}

type Template = 'blue' | 'green' | 'grey' | 'orange' | 'red';

function plain(text: Text) {
  return { tag: 'plain_text', content: text.zh_cn, i18n_content: { zh_cn: text.zh_cn, en_us: text.en_us } };
}

function markdown(text: Text) {
  return { tag: 'markdown', content: text.zh_cn, i18n_content: { zh_cn: text.zh_cn, en_us: text.en_us } };
}

function join(...parts: Text[]): Text {
  return { zh_cn: parts.map((p) => p.zh_cn).join(''), en_us: parts.map((p) => p.en_us).join('') };
}

function scopeList(heading: Text, scopes: string[]) {
  const lines = scopes.map(describeScope);
  return markdown(
    join(
      heading,
      { zh_cn: '\n', en_us: '\n' },
      ...lines.map((l) => ({ zh_cn: `- ${l.zh_cn}\n`, en_us: `- ${l.en_us}\n` })),
    ),
  );
}

function callbackButton(
  label: Text,
  value: CardActionValue,
  type: 'default' | 'danger' | 'primary' = 'default',
) {
  return { tag: 'button', text: plain(label), type, behaviors: [{ type: 'callback', value }] };
}

function linkButton(label: Text, url: string) {
  return {
    tag: 'button',
    text: plain(label),
    type: 'primary_filled',
    behaviors: [{ type: 'open_url', default_url: url }],
  };
}

function card(template: Template, title: Text, elements: object[]) {
  return {
    schema: '2.0',
    config: { update_multi: true, locales: ['zh_cn', 'en_us'] },
    header: { title: plain(title), template },
    body: { elements },
  };
}

/** Feishu renders <local_datetime> in each reader's own time zone: the date, then the time of day. */
function localTime(epochMs: number): Text {
  const tag = (format: string) =>
    `<local_datetime millisecond='${epochMs}' format_type='${format}'></local_datetime>`;
  const both = `${tag('date_num')} ${tag('time')}`;
  return { zh_cn: both, en_us: both };
}

/** The code to confirm, and where to type it when the card is read on another device. */
function deviceSteps({ userCode, verificationUri }: { userCode: string; verificationUri: string }): Text {
  const code = { zh_cn: `**${userCode}**`, en_us: `**${userCode}**` };
  const link = {
    zh_cn: `[${verificationUri}](${verificationUri})`,
    en_us: `[${verificationUri}](${verificationUri})`,
  };
  return join(T.deviceCodePrefix, code, T.deviceCodeSuffix, link, T.deviceCodeEnd);
}

const NOTICE: Record<'reauth' | 'renewal', Text> = { reauth: T.reauthBody, renewal: T.renewBody };

/** The card for one state of one attempt: pure, so every state is unit-tested without Feishu. */
export function buildCard(view: CardView): object {
  const value = (action: CardActionValue['action']): CardActionValue => ({
    action,
    open_id: view.openId,
    attempt_id: view.attemptId,
  });
  switch (view.state) {
    case 'pending':
      return card('blue', T.title, [
        markdown(view.notice ? NOTICE[view.notice] : T.pendingBody),
        ...(view.device ? [markdown(deviceSteps(view.device))] : []),
        scopeList(T.scopesHeading, view.scopes),
        markdown(join(T.expiresPrefix, { zh_cn: ' ', en_us: ' ' }, localTime(view.expiresAt))),
        linkButton(T.authorize, view.authorizeUrl),
        callbackButton(T.cancel, value('cancel')),
      ]);
    case 'authorized':
      return card('green', T.authorizedTitle, [
        { tag: 'person', user_id: view.openId, size: 'medium', show_avatar: true, show_name: true },
        markdown(join(T.authorizedAs, { zh_cn: `**${view.userName}**`, en_us: `**${view.userName}**` })),
        scopeList(T.grantedHeading, view.scopes),
        callbackButton(T.revoke, value('revoke'), 'danger'),
      ]);
    case 'denied':
      return card('grey', T.deniedTitle, [markdown(T.deniedBody), callbackButton(T.retry, value('retry'))]);
    case 'expired':
      return card('grey', T.expiredTitle, [markdown(T.expiredBody), callbackButton(T.retry, value('retry'))]);
    case 'cancelled':
      return card('grey', T.cancelledTitle, [
        markdown(T.cancelledBody),
        callbackButton(T.retry, value('retry')),
      ]);
    case 'superseded':
      return card('grey', T.supersededTitle, [markdown(T.supersededBody)]);
    case 'revoked':
      return card('grey', T.revokedTitle, [markdown(T.revokedBody), callbackButton(T.retry, value('retry'))]);
    case 'identity_mismatch':
      return card('orange', T.mismatchTitle, [
        markdown(T.mismatchBody),
        callbackButton(T.retry, value('retry')),
      ]);
    case 'failed':
      return card('red', T.failedTitle, [
        markdown(FAILURE_WORDS[view.reason]),
        callbackButton(T.retry, value('retry')),
      ]);
  }
}
