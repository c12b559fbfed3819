import type { FailureReason } from '../grant-types.ts';
import type { Text } from '../i18n.ts';

/** Every sentence a card or page shows, in both languages. */
export const T = {
  title: { zh_cn: '授权请求', en_us: 'Authorization request' },
  pendingBody: {
    zh_cn: '机器人需要你的授权，才能以你的身份代为操作。',
    en_us: 'The bot needs your permission to act on your behalf.',
  },
  reauthBody: {
    zh_cn: '你之前的授权已失效，请重新授权以继续使用。',
    en_us: 'Your earlier authorization stopped working. Authorize again to keep using it.',
  },
  renewBody: {
    zh_cn: '你的授权即将到期（飞书授权最长 365 天），请续期。',
    en_us: 'Your authorization is about to reach its limit (365 days on Feishu). Please renew it.',
  },
  deviceCodePrefix: {
    zh_cn: '点击「授权」后请确认页面显示的验证码为 ',
    en_us: 'After pressing Authorize, check that the page shows the code ',
  },
  deviceCodeSuffix: {
    zh_cn: '。在其他设备上授权时，请打开 ',
    en_us: '. To authorize on another device, enter it at ',
  },
  deviceCodeEnd: { zh_cn: ' 并输入该验证码。', en_us: '.' },
  scopesHeading: { zh_cn: '将获得以下权限：', en_us: 'It will be able to:' },
  grantedHeading: { zh_cn: '已授予的权限：', en_us: 'Granted permissions:' },
  expiresPrefix: { zh_cn: '此请求的有效期至', en_us: 'This request is valid until' },
  authorize: { zh_cn: '授权', en_us: 'Authorize' },
  cancel: { zh_cn: '取消', en_us: 'Cancel' },
  revoke: { zh_cn: '撤销授权', en_us: 'Revoke' },
  retry: { zh_cn: '重试', en_us: 'Try again' },
  authorizedTitle: { zh_cn: '已授权', en_us: 'Authorized' },
  authorizedAs: { zh_cn: '已授权账号：', en_us: 'Authorized as ' },
  deniedTitle: { zh_cn: '已拒绝授权', en_us: 'Authorization declined' },
  deniedBody: {
    zh_cn: '你拒绝了本次授权，机器人不会以你的身份操作。',
    en_us: 'You declined. The bot will not act on your behalf.',
  },
  expiredTitle: { zh_cn: '授权请求已过期', en_us: 'Authorization request expired' },
  expiredBody: {
    zh_cn: '该请求已超时，如仍需授权请重试。',
    en_us: 'This request timed out. Try again if you still want to authorize.',
  },
  cancelledTitle: { zh_cn: '授权请求已取消', en_us: 'Authorization request cancelled' },
  cancelledBody: { zh_cn: '该授权请求已取消。', en_us: 'This authorization request was cancelled.' },
  supersededTitle: { zh_cn: '授权请求已被替代', en_us: 'Authorization request replaced' },
  supersededBody: {
    zh_cn: '已有更新的授权请求，请使用最新的卡片。',
    en_us: 'A newer request replaced this one: use the latest card.',
  },
  mismatchTitle: { zh_cn: '授权账号不匹配', en_us: 'Wrong account' },
  mismatchBody: {
    zh_cn: '授权时登录的账号与收到此卡片的账号不同，本次授权未生效。请使用你自己的账号重试。',
    en_us:
      'You signed in with a different account from the one this card was sent to, so nothing was saved. Try again with your own account.',
  },
  failedTitle: { zh_cn: '授权失败', en_us: 'Authorization failed' },
  revokedTitle: { zh_cn: '授权已撤销', en_us: 'Authorization revoked' },
  revokedBody: {
    zh_cn: '已删除你的授权凭证，机器人不再以你的身份操作。',
    en_us: 'Your tokens were deleted. The bot no longer acts on your behalf.',
  },
} satisfies Record<string, Text>;

export const FAILURE_WORDS: Record<FailureReason, Text> = {
  invalid_code: {
    zh_cn: '授权码无效或已被使用，请重新授权。',
    en_us: 'The authorization code was invalid or already used. Please authorize again.',
  },
  user_not_allowed: {
    zh_cn: '你的账号当前无法使用此应用，请联系管理员。',
    en_us: 'Your account cannot use this app right now. Please contact your administrator.',
  },
  config_error: {
    zh_cn: '应用配置有误，管理员已收到通知。',
    en_us: 'The app is misconfigured; the administrators have been told.',
  },
  feishu_unavailable: {
    zh_cn: '飞书服务暂时不可用，请稍后重试。',
    en_us: 'Feishu is temporarily unavailable. Please try again later.',
  },
  invalid_request: {
    zh_cn: '请求的权限无效，请联系管理员。',
    en_us: 'The requested permissions are not valid. Please contact your administrator.',
  },
  internal: {
    zh_cn: '服务内部错误，请稍后重试。',
    en_us: 'Something went wrong on our side. Please try again later.',
  },
};
