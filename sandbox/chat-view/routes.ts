import type Router from '@koa/router';
import type { Runtime } from '../runtime';

export function registerChatView(router: Router, rt: Runtime): void {
  router.get('/', (ctx) => void (ctx.body = rt.config.apps.map((a) => a.appId)));
}
