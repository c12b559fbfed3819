/**
 * Runs in the browser, no build step: renders the conversation from the inspection API, turns
 * card JSON (1.0 and 2.0) into HTML, follows changes over server-sent events, and sends clicks
 * and DMs back through `/__sandbox`. Button numbering walks the card exactly as the server's
 * `buttonsOf` does, so an index means the same button on both sides.
 */
export const CLIENT_SCRIPT = String.raw`
const chat = JSON.parse(document.getElementById('chat-data').textContent);
const messagesEl = document.getElementById('messages');
const toastEl = document.getElementById('toast');
const api = (path, body) =>
  fetch('/__sandbox' + path, body === undefined ? {} : {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  }).then((r) => r.json());

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const safeUrl = (u) => (/^(https?:|data:image\/|\/)/i.test(String(u || '')) ? String(u) : '#');

const pad = (n) => String(n).padStart(2, '0');
const readerLanguage = () => (/^zh/i.test(navigator.language) ? 'zh-CN' : 'en-US');

/** <local_datetime>, as Feishu shows it: in the reader's own time zone and language. */
function localDatetime(attrs) {
  const d = new Date(Number(attrs.millisecond) || Date.now());
  const lang = readerLanguage();
  switch (attrs.format_type) {
    case 'date_short': return d.toLocaleDateString(lang, { month: 'short', day: 'numeric' });
    case 'date': return d.toLocaleDateString(lang, { year: 'numeric', month: 'short', day: 'numeric' });
    case 'week': return d.toLocaleDateString(lang, { weekday: 'long' });
    case 'week_short': return d.toLocaleDateString(lang, { weekday: 'short' });
    case 'time': return pad(d.getHours()) + ':' + pad(d.getMinutes());
    case 'time_sec': return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    case 'timezone': {
      const offset = -d.getTimezoneOffset();
      const abs = Math.abs(offset);
      return 'GMT' + (offset < 0 ? '-' : '+') + Math.floor(abs / 60) + ':' + pad(abs % 60);
    }
    default: return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
  }
}

/** A person as Feishu shows one: a chip with the avatar and the name, never the id. */
function personChip(openId, options) {
  const user = chat.users.find((u) => u.openId === openId);
  const name = user ? user.name : 'Unknown user';
  const avatar = user && options.showAvatar !== false ? '<img src="' + esc(user.avatar) + '" alt="">' : '';
  return '<span class="person-chip" data-open-id="' + esc(openId) + '">' + avatar + (options.showName !== false ? esc(name) : '') + '</span>';
}

function tagAttributes(source) {
  const attrs = {};
  source.replace(/(\w+)=(?:'([^']*)'|"([^"]*)"|([^\s'">]+))/g, (_, key, a, b, c) => { attrs[key] = a ?? b ?? c; return ''; });
  return attrs;
}

function inlineTag(tag, attrs) {
  if (tag === 'local_datetime') {
    const text = esc(localDatetime(attrs));
    return attrs.link ? '<a target="_blank" href="' + esc(safeUrl(attrs.link)) + '">' + text + '</a>' : '<span class="datetime">' + text + '</span>';
  }
  if (tag === 'person') return personChip(attrs.id, { showAvatar: attrs.show_avatar !== 'false', showName: attrs.show_name !== 'false' });
  if (attrs.id === 'all') return '<span class="mention">@所有人</span>';
  const user = chat.users.find((u) => u.openId === attrs.id);
  return '<span class="mention">@' + esc(user ? user.name : attrs.id) + '</span>';
}

const INLINE_TAGS = /<(local_datetime|person|at)\b([^>]*)>[^<]*<\/\1>/g;

function inlineMarkdown(escaped) {
  return escaped
    .replace(/\*\*(.+?)\*\*/g, '<b>$1</b>')
    .replace(/\*(.+?)\*/g, '<i>$1</i>')
    .replace(/~~(.+?)~~/g, '<s>$1</s>')
    .replace(/\x60([^\x60]+)\x60/g, '<code>$1</code>')
    .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_, label, url) => '<a target="_blank" href="' + esc(safeUrl(url.replace(/&amp;/g, '&'))) + '">' + label + '</a>');
}

/**
 * Card markdown as Feishu renders it: its own tags (dates, people, mentions) first, set aside so
 * escaping leaves them whole; then emphasis, links, and "- " lines as a bulleted list.
 */
function markdown(text) {
  const inline = [];
  const source = String(text ?? '').replace(INLINE_TAGS, (_, tag, attrs) => {
    inline.push(inlineTag(tag, tagAttributes(attrs)));
    return '\u0000' + (inline.length - 1) + '\u0000';
  });
  const parts = [];
  let items = [];
  const flush = () => { if (items.length) parts.push({ list: '<ul>' + items.join('') + '</ul>' }); items = []; };
  for (const line of esc(source).split('\n')) {
    const item = /^\s*[-*] (.*)$/.exec(line);
    if (item) items.push('<li>' + inlineMarkdown(item[1]) + '</li>');
    else { flush(); parts.push({ line: inlineMarkdown(line) }); }
  }
  flush();
  let html = '';
  parts.forEach((part, i) => {
    if (part.list) html += part.list;
    else html += part.line + (i < parts.length - 1 && !parts[i + 1].list ? '<br>' : '');
  });
  return html.replace(/\u0000(\d+)\u0000/g, (_, i) => inline[Number(i)]);
}

const textOf = (t) => (t && typeof t === 'object' ? (t.tag === 'lark_md' ? markdown(t.content) : esc(t.content)) : esc(t));

function collectButtons(card) {
  const found = [];
  const walk = (node) => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    if (node.tag === 'button') found.push(node);
    for (const [key, value] of Object.entries(node)) if (key !== 'header' && key !== 'behaviors') walk(value);
  };
  walk(card.body && typeof card.body === 'object' ? card.body : card);
  return found;
}

const HEADER_COLORS = { blue: '#3370ff', wathet: '#14c0ff', turquoise: '#00b9b3', green: '#00b96b', yellow: '#e5b100', orange: '#ff8800', red: '#f54a45', carmine: '#d83931', violet: '#9f4ff5', purple: '#7f3bf5', indigo: '#4954e6', grey: '#8f959e', default: '#3370ff' };

function renderButton(button, index, messageId) {
  const behaviors = Array.isArray(button.behaviors) ? button.behaviors : [];
  const link = behaviors.find((b) => b.type === 'open_url');
  const callback = behaviors.find((b) => b.type === 'callback') || (!link && button.value !== undefined);
  const url = link ? link.default_url : button.url || (button.multi_url && button.multi_url.url);
  const label = textOf(button.text);
  const cls = 'btn ' + esc(button.type || 'default');
  if (!callback && url) return '<a class="' + cls + '" target="_blank" href="' + esc(safeUrl(url)) + '">' + label + '</a>';
  return '<button class="' + cls + '" data-message="' + esc(messageId) + '" data-index="' + index + '">' + label + '</button>';
}

function renderElements(elements, ctx) {
  return (Array.isArray(elements) ? elements : []).map((el) => renderElement(el, ctx)).join('');
}

function renderElement(el, ctx) {
  if (!el || typeof el !== 'object') return '';
  switch (el.tag) {
    case 'markdown':
    case 'lark_md':
      return '<div>' + markdown(el.content) + '</div>';
    case 'plain_text':
      return '<div>' + esc(el.content) + '</div>';
    case 'div':
      return '<div>' + textOf(el.text) + (Array.isArray(el.fields) ? el.fields.map((f) => '<div>' + textOf(f.text) + '</div>').join('') : '') + '</div>';
    case 'hr':
      return '<hr>';
    case 'person':
      return '<div>' + personChip(el.user_id, { showAvatar: el.show_avatar, showName: el.show_name }) + '</div>';
    case 'img':
    case 'image': {
      const key = String(el.img_key || '');
      const alt = el.alt ? textOf(el.alt) : 'image';
      return /^(https?:|data:image\/)/.test(key) ? '<img src="' + esc(key) + '" alt="' + alt + '">' : '<div class="img-placeholder">🖼 ' + (alt || esc(key)) + '</div>';
    }
    case 'note':
      return '<div class="note">' + renderElements(el.elements, ctx) + '</div>';
    case 'button':
      return '<div class="card-actions">' + renderButton(el, ctx.index.get(el), ctx.messageId) + '</div>';
    case 'action':
      return '<div class="card-actions">' + (el.actions || []).map((b) => (b.tag === 'button' ? renderButton(b, ctx.index.get(b), ctx.messageId) : '')).join('') + '</div>';
    case 'column_set':
      return '<div class="columns">' + (el.columns || []).map((c) => '<div>' + renderElements(c.elements, ctx) + '</div>').join('') + '</div>';
    case 'form':
    case 'collapsible_panel':
    case 'interactive_container':
      return renderElements(el.elements, ctx);
    default:
      return '<div class="unknown">[' + esc(el.tag) + ']</div>';
  }
}

function renderCard(card, messageId) {
  if (card.type === 'template') return '<div class="card"><div class="card-body unknown">Template card ' + esc(card.data && card.data.template_id) + '</div></div>';
  const index = new Map(collectButtons(card).map((b, i) => [b, i]));
  const ctx = { index, messageId };
  const header = card.header;
  const title = header && header.title ? textOf(header.title) : '';
  const subtitle = header && header.subtitle ? '<div class="sub">' + textOf(header.subtitle) + '</div>' : '';
  const color = HEADER_COLORS[(header && header.template) || 'default'] || HEADER_COLORS.default;
  const elements = card.body && typeof card.body === 'object' ? card.body.elements : card.elements;
  return '<div class="card">' + (title ? '<div class="card-header" style="background:' + color + '">' + title + subtitle + '</div>' : '') +
    '<div class="card-body">' + renderElements(elements, ctx) + '</div></div>';
}

function renderMessage(m) {
  const mine = m.sender === 'user';
  const me = chat.users.find((u) => u.openId === m.openId);
  const avatar = mine ? '<img class="avatar" src="' + esc(me ? me.avatar : '') + '" alt="">' : '<div class="bot-avatar">' + esc(chat.botName.charAt(0)) + '</div>';
  let body;
  if (m.msgType === 'interactive' && m.card) body = renderCard(m.card, m.messageId);
  else {
    let text = m.content;
    try { const parsed = JSON.parse(m.content); text = parsed.text !== undefined ? parsed.text : m.content; } catch (e) { /* shown raw */ }
    body = '<div class="bubble">' + esc(text) + '</div>';
  }
  const edits = m.versions.length > 1 ? '<div class="versions" title="' + esc(m.versions.map((v) => 'v' + v.version + ' ' + v.source + (v.revertedAt ? ' (reverted)' : '')).join('\n')) + '">edited · v' + m.versions.length + '</div>' : '';
  const time = new Date(m.createdAt).toLocaleTimeString();
  return '<div class="row' + (mine ? ' mine' : '') + '" data-message-id="' + esc(m.messageId) + '">' + avatar + '<div><div class="meta">' + esc(mine ? (me ? me.name : '') : chat.botName) + ' · ' + esc(time) + '</div>' + body + edits + '</div></div>';
}

let loading = Promise.resolve();
function load() {
  loading = loading.then(async () => {
    const list = await api('/messages?app_id=' + encodeURIComponent(chat.appId) + '&open_id=' + encodeURIComponent(chat.openId));
    const atBottom = messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < 40;
    messagesEl.innerHTML = list.length ? list.map(renderMessage).join('') : '<div class="empty">No messages yet. Say hi to the bot below.</div>';
    if (atBottom || !messagesEl.dataset.loaded) messagesEl.scrollTop = messagesEl.scrollHeight;
    messagesEl.dataset.loaded = '1';
  });
  return loading;
}

let toastTimer;
function toast(type, text) {
  toastEl.className = 'toast show ' + (type || 'info');
  toastEl.textContent = text;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (toastEl.className = 'toast'), 3000);
}

messagesEl.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-index]');
  if (!button) return;
  button.disabled = true;
  try {
    const result = await api('/messages/' + encodeURIComponent(button.dataset.message) + '/click', { button: Number(button.dataset.index), operator_open_id: chat.openId });
    if (result.error && !result.kind) toast('error', result.error);
    else if (!result.ok) toast('error', 'Error ' + (result.error || '200340: the app did not answer'));
    else if (result.toast) toast(result.toast.type, result.toast.content);
  } finally {
    button.disabled = false;
    load();
  }
});

document.getElementById('composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = document.getElementById('composer-input');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  const result = await api('/users/' + encodeURIComponent(chat.openId) + '/messages', { app_id: chat.appId, text });
  if (result.delivery && !result.delivery.ok) toast('warning', 'Not delivered to the app: ' + result.delivery.error);
  load();
});

const stream = new EventSource('/__sandbox/stream?app_id=' + encodeURIComponent(chat.appId));
stream.addEventListener('message', (event) => {
  const change = JSON.parse(event.data);
  if (change.openId === chat.openId) load();
  else document.querySelector('.contact[data-open-id="' + change.openId + '"]')?.classList.add('unread');
});

load();
`;
