import type { GrantSettings } from '../../../lib/grant-types.ts';
import { Faults } from './faults.ts';
import { FeishuModel } from './feishu.ts';
import { Interleavings } from './interleave.ts';
import { SimLog } from './log.ts';
import { StoreModel } from './store.ts';

/** Everything outside Temporal that the grant workflow's activities touch, and its clock. */
export interface World {
  appId: string;
  settings: GrantSettings;
  /** Server time: the test server skips time, so the host's clock says nothing about it. */
  clock: () => Promise<number>;
  log: SimLog;
  faults: Faults;
  feishu: FeishuModel;
  store: StoreModel;
  /** Display names of the users who exist in this Feishu tenant. */
  users: Map<string, string>;
  /** What a test does inside a model activity, to place it at a known point of a workflow. */
  interleave: Interleavings;
}

export function createWorld(options: {
  appId: string;
  settings: GrantSettings;
  clock: () => Promise<number>;
  origin: number;
}): World {
  const log = new SimLog(options.origin);
  const faults = new Faults();
  const users = new Map<string, string>();
  const feishu = new FeishuModel(faults, log, (openId) => users.get(openId) ?? openId);
  return {
    ...options,
    log,
    faults,
    feishu,
    store: new StoreModel(log),
    users,
    interleave: new Interleavings(),
  };
}
