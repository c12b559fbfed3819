/** Feishu-like chat layout: contacts on the left, the conversation with the bot on the right. */
export const CHAT_CSS = `
body{height:100vh;overflow:hidden}
.layout{display:flex;height:100vh}
.contacts{width:260px;background:#fff;border-right:1px solid #e4e5e7;display:flex;flex-direction:column}
.contacts h2{font-size:15px;margin:0;padding:16px;border-bottom:1px solid #eff0f1}
.contact{display:flex;align-items:center;gap:10px;padding:10px 16px;cursor:pointer;text-decoration:none;color:inherit}
.contact:hover{background:#f2f3f5}.contact.active{background:#e1eaff}
.contact img{width:36px;height:36px;border-radius:50%}
.contact .dot{width:8px;height:8px;border-radius:50%;background:#f54a45;margin-left:auto;visibility:hidden}
.contact.unread .dot{visibility:visible}
.conversation{flex:1;display:flex;flex-direction:column;min-width:0}
.conv-header{background:#fff;border-bottom:1px solid #e4e5e7;padding:14px 20px;display:flex;align-items:center;gap:10px}
.bot-avatar{width:32px;height:32px;border-radius:8px;background:#3370ff;color:#fff;display:flex;align-items:center;justify-content:center;font-weight:600;flex:none}
.messages{flex:1;overflow-y:auto;padding:20px;display:flex;flex-direction:column;gap:16px}
.row{display:flex;gap:10px;align-items:flex-start}
.row.mine{flex-direction:row-reverse}
.row img.avatar{width:32px;height:32px;border-radius:50%}
.bubble{background:#fff;border-radius:8px;padding:9px 12px;max-width:520px;white-space:pre-wrap;word-break:break-word;font-size:14px;box-shadow:0 1px 2px rgba(31,35,41,.06)}
.row.mine .bubble{background:#cce0ff}
.meta{font-size:12px;color:#8f959e;margin:2px 2px 4px}
.card{background:#fff;border-radius:10px;width:440px;max-width:100%;overflow:hidden;box-shadow:0 1px 3px rgba(31,35,41,.1);border:1px solid #e4e5e7}
.card-header{padding:12px 14px;color:#fff;font-weight:600;font-size:15px}
.card-header .sub{font-weight:400;font-size:12px;opacity:.9;margin-top:2px}
.card-body{padding:12px 14px;display:flex;flex-direction:column;gap:10px;font-size:14px;line-height:1.6}
.card-body hr{border:none;border-top:1px solid #e4e5e7;margin:2px 0;width:100%}
.card-body img{max-width:100%;border-radius:6px}
.img-placeholder{background:#f2f3f5;border-radius:6px;color:#8f959e;font-size:12px;padding:24px;text-align:center}
.card-actions{display:flex;flex-wrap:wrap;gap:8px}
.columns{display:flex;gap:10px}.columns>div{flex:1;min-width:0;display:flex;flex-direction:column;gap:8px}
.note{font-size:12px;color:#646a73}
.person-chip{display:inline-flex;align-items:center;gap:4px;padding:1px 8px 1px 2px;border-radius:12px;background:#e1eaff;color:#245bdb;font-size:13px;vertical-align:middle}
.person-chip img{width:20px;height:20px;border-radius:50%}
.mention{color:#245bdb}
.card-body ul{margin:2px 0;padding-left:20px}
.unknown{font-size:12px;color:#8f959e;font-style:italic}
.card .btn{font-size:13px;padding:5px 14px}
.btn.primary_filled,.btn.primary{background:#3370ff;border-color:#3370ff;color:#fff}
.btn.danger,.btn.danger_filled{color:#f54a45;border-color:#f54a45}
.btn:disabled{opacity:.6;cursor:wait}
.versions{font-size:11px;color:#8f959e;margin-top:4px;cursor:pointer}
.composer{background:#fff;border-top:1px solid #e4e5e7;padding:12px 20px;display:flex;gap:10px}
.composer input{flex:1;border:1px solid #d0d3d6;border-radius:6px;padding:8px 12px;font-size:14px}
.toast{position:fixed;top:20px;left:50%;transform:translateX(-50%);background:#1f2329;color:#fff;padding:9px 18px;border-radius:8px;font-size:14px;opacity:0;transition:opacity .2s;pointer-events:none;z-index:10}
.toast.show{opacity:1}.toast.success{background:#00b96b}.toast.error{background:#f54a45}.toast.warning{background:#ff8800}
.empty{color:#8f959e;text-align:center;margin-top:40px;font-size:14px}
`;
