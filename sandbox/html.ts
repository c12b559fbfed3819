const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);

/** Shared look of every page the sandbox serves (Feishu's blue, system fonts, no external assets). */
export const BASE_CSS = `
*{box-sizing:border-box}
body{margin:0;font-family:-apple-system,BlinkMacSystemFont,"PingFang SC","Microsoft YaHei","Segoe UI",sans-serif;color:#1f2329;background:#f5f6f7}
a{color:#3370ff}
.btn{display:inline-block;border:1px solid #d0d3d6;background:#fff;color:#1f2329;border-radius:6px;padding:7px 16px;font-size:14px;cursor:pointer;text-decoration:none}
.btn.primary{background:#3370ff;border-color:#3370ff;color:#fff}
.btn.danger{color:#f54a45;border-color:#f54a45}
.panel{max-width:440px;margin:48px auto;background:#fff;border-radius:12px;box-shadow:0 4px 24px rgba(31,35,41,.08);padding:28px}
.muted{color:#8f959e;font-size:13px}
.sandbox-tag{position:fixed;left:12px;bottom:10px;font-size:12px;color:#8f959e}
`;

export function page(title: string, body: string, extraHead = ''): string {
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${BASE_CSS}</style>${extraHead}</head>
<body>${body}<div class="sandbox-tag">Feishu sandbox (local)</div></body></html>`;
}
