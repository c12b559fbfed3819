import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Custom search attributes every grant workflow carries, so operators can filter in the Web UI. */
export const FeishuOpenId = defineSearchAttributeKey('FeishuOpenId', SearchAttributeType.KEYWORD);
export const FeishuAppId = defineSearchAttributeKey('FeishuAppId', SearchAttributeType.KEYWORD);
export const FeishuAuthStatus = defineSearchAttributeKey('FeishuAuthStatus', SearchAttributeType.KEYWORD);
export const FeishuTokenExpiresAt = defineSearchAttributeKey(
  'FeishuTokenExpiresAt',
  SearchAttributeType.DATETIME,
);

/** Name → kind, for registering them on a server. */
export const SEARCH_ATTRIBUTES = {
  FeishuOpenId: 'KEYWORD',
  FeishuAppId: 'KEYWORD',
  FeishuAuthStatus: 'KEYWORD',
  FeishuTokenExpiresAt: 'DATETIME',
} as const;
