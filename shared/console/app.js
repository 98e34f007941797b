// cloudpay operator console. Plain ES module, no build step, no third-party
// code. Every piece of data reaches the page through textContent, never as
// markup, and the page's CSP allows no inline script.

// ---- Money, times, labels (pure; exported for tests) ----

const MAX_FEN = 1_000_000_000; // cloudpay.MaxFen: 10,000,000 CNY
const OUT_TRADE_NO = /^[0-9A-Za-z_\-|*]{6,32}$/;
const MAX_REASON = 80;
const MAX_BATCH_ITEMS = 1000;

// parseYuan turns "12.5" into 1250 fen by reading the digits, never through
// a floating-point number. It returns {fen} or {error}.
export function parseYuan(input) {
  const s = String(input ?? '').trim();
  const m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(s);
  if (!m) {
    if (/^\d+\.\d{3,}$/.test(s)) return { error: '金额最多两位小数' };
    return { error: '金额格式错误：应为以元为单位的数字，最多两位小数，如 12.50' };
  }
  const whole = m[1].replace(/^0+(?=\d)/, '');
  if (whole.length > 8) return { error: '金额超过上限 ¥10,000,000.00' };
  const digits = whole + (m[2] ?? '').padEnd(2, '0');
  const fen = Number.parseInt(digits, 10); // at most 10 digits: an exact integer
  if (fen <= 0) return { error: '金额必须大于 0' };
  if (fen > MAX_FEN) return { error: '金额超过上限 ¥10,000,000.00' };
  return { fen };
}

// formatFen shows an integer number of fen as yuan: 1990 → "¥19.90".
export function formatFen(fen) {
  if (fen === undefined || fen === null || !Number.isSafeInteger(fen)) return '—';
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  const yuan = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}¥${yuan}.${String(abs % 100).padStart(2, '0')}`;
}

const timeFormat = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

// formatTime shows an RFC 3339 time in Beijing time.
export function formatTime(s) {
  if (!s) return '—';
  const d = new Date(s);
  if (Number.isNaN(d.getTime()) || d.getTime() <= 0) return '—';
  return timeFormat.format(d);
}

export const ORDER_STATUS = {
  unpaid: '待支付', paying: '支付中', paid: '已支付', closed: '已关闭',
  partially_refunded: '部分退款', refunded: '已退款',
};
export const REFUND_STATUS = {
  pending_review: '待审核', approved: '已批准', rejected: '已拒绝', processing: '处理中',
  succeeded: '退款成功', failed: '退款失败', closed: '已关闭', abnormal: '异常',
  pending: '排队中', // a batch item whose refund does not exist yet
};
export const WITHDRAWAL_STATUS = {
  created: '已创建', processing: '处理中', waiting_user: '待用户确认',
  succeeded: '提现成功', failed: '提现失败', cancelled: '已取消',
};
export const EVENT_STATUS = { pending: '待投递', delivered: '已投递', dead: '投递失败' };
const EVENT_TYPE = {
  'order.paid': '订单支付', 'order.closed': '订单关闭', 'refund.succeeded': '退款成功',
  'refund.failed': '退款失败', 'withdrawal.succeeded': '提现成功', 'withdrawal.failed': '提现失败',
};
const REFUND_SOURCE = { admin: '后台', batch: '批量', user: '用户申请' };

const label = (table, v) => table[v] ?? v ?? '—';

// parseCSVRecords splits CSV text into records of fields (RFC 4180 quoting:
// "a, b" and "" for a quote), each with the line it starts on.
export function parseCSVRecords(text) {
  const records = [];
  let fields = [], field = '', quoted = false, atStart = true, line = 1, startLine = 1, wasQuoted = false;
  const endField = () => { fields.push(wasQuoted ? field : field.trim()); field = ''; atStart = true; wasQuoted = false; };
  const endRecord = () => {
    endField();
    if (!(fields.length === 1 && fields[0] === '' )) records.push({ line: startLine, fields });
    fields = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i++; } else { quoted = false; }
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && atStart && field.trim() === '') { quoted = true; wasQuoted = true; field = ''; atStart = false; continue; }
    if (c === ',') { endField(); continue; }
    if (c === '\r' && text[i + 1] === '\n') continue;
    if (c === '\n' || c === '\r') { endRecord(); line++; startLine = line; continue; }
    if (wasQuoted) { if (c.trim() === '') continue; return { error: { line, message: '引号外还有多余字符' } }; }
    field += c;
    if (c.trim() !== '') atStart = false;
  }
  if (quoted) return { error: { line: startLine, message: '引号没有闭合' } };
  endRecord();
  return { records };
}

// parseBatchCSV reads "out_trade_no,amount,reason" lines (header optional)
// into refund items, and every problem with the line it is on. Nothing is
// sent unless errors is empty.
export function parseBatchCSV(text) {
  const src = String(text ?? '').replace(/^\uFEFF/, ''); // a BOM from Excel
  const parsed = parseCSVRecords(src);
  if (parsed.error) return { items: [], errors: [parsed.error] };
  const items = [], errors = [];
  const seen = new Map();
  parsed.records.forEach((rec, idx) => {
    const f = rec.fields;
    if (idx === 0 && f[0].toLowerCase() === 'out_trade_no') return; // header
    const err = (message) => errors.push({ line: rec.line, message });
    if (f.length < 2 || f.length > 3) {
      err(`应为 2–3 列（out_trade_no,amount,reason），实际 ${f.length} 列`);
      return;
    }
    const [no, amount, reason = ''] = f;
    let ok = true;
    if (!OUT_TRADE_NO.test(no)) { err(`订单号“${no}”格式错误：应为 6–32 位数字、字母或 _-|*`); ok = false; }
    const y = parseYuan(amount);
    if (y.error) { err(`金额“${amount}”：${y.error}`); ok = false; }
    if ([...reason].length > MAX_REASON) { err(`原因超过 ${MAX_REASON} 字`); ok = false; }
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f-\u009f]/.test(reason)) { err('原因含有控制字符'); ok = false; }
    if (ok && seen.has(no)) { err(`订单号 ${no} 与第 ${seen.get(no)} 行重复`); ok = false; }
    if (ok) {
      seen.set(no, rec.line);
      items.push({ line: rec.line, out_trade_no: no, amount_fen: y.fen, reason });
    }
  });
  if (errors.length === 0 && items.length === 0) errors.push({ line: 0, message: '没有可提交的退款行' });
  if (items.length > MAX_BATCH_ITEMS) errors.push({ line: 0, message: `一批最多 ${MAX_BATCH_ITEMS} 笔，当前 ${items.length} 笔` });
  const totalFen = items.reduce((s, it) => s + it.amount_fen, 0);
  return { items, errors, totalFen };
}

// randomKey is an idempotency key: 128 random bits in hex.
export function randomKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// apiBase is the refund function's root: the page's path minus "/admin/".
export function apiBase(pathname) {
  const i = pathname.lastIndexOf('/admin/');
  if (i >= 0) return pathname.slice(0, i);
  return pathname.replace(/\/admin$/, '').replace(/\/$/, '');
}

// ---- DOM helpers ----

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const td = (text, cls) => el('td', { class: cls, text: text ?? '—' });
const badge = (table, status, kind) => el('span', { class: `badge ${kind}-${status}`, text: label(table, status) });

function show(node, on) { node.hidden = !on; }

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

let toastTimer;
function toast(msg) {
  const t = $('#toast');
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 5000);
}

function pageError(e) {
  const p = $('#page-error');
  if (!e) { p.hidden = true; p.textContent = ''; return; }
  p.textContent = describe(e);
  p.hidden = false;
}

function describe(e) {
  if (e instanceof ApiError) return e.code ? `${e.message}（${e.code}）` : e.message;
  return String(e?.message ?? e);
}

// ---- API ----

const TOKEN_KEY = 'cloudpay.console.token';
const API = apiBase(location.pathname);

class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ''}`, Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(API + path, init);
  } catch (e) {
    throw new ApiError(0, 'NETWORK', `无法连接服务：${e.message}`);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (res.status === 401) {
    logout('令牌无效或已失效，请重新登录。');
    throw new ApiError(401, data?.error?.code ?? 'UNAUTHORIZED', '未登录');
  }
  if (!res.ok) {
    const e = data?.error ?? {};
    throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? (text.slice(0, 200) || res.statusText), e.field);
  }
  return data;
}

const enc = encodeURIComponent;

// ---- Login ----

function showLogin(message) {
  stopPolling();
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
  show($('#app'), false);
  show($('#login'), true);
  const err = $('#login-error');
  err.textContent = message ?? '';
  show(err, !!message);
  $('#login-token').value = '';
  $('#login-token').focus();
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin(message);
}

async function login(ev) {
  ev.preventDefault();
  const token = $('#login-token').value.trim();
  if (!token) return;
  const button = $('#login-submit');
  button.disabled = true;
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    await api('GET', '/refunds?limit=1'); // any admin route tells whether the token is good
  } catch (e) {
    if (e.status !== 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(describe(e));
    }
    return;
  } finally {
    button.disabled = false;
  }
  enterApp();
}

function enterApp() {
  show($('#login'), false);
  show($('#app'), true);
  if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = '#/orders';
  else route();
}

// ---- Routing ----

let pollTimer = null;
let routeSeq = 0;

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
}

function route() {
  if (!sessionStorage.getItem(TOKEN_KEY)) { showLogin(); return; }
  stopPolling();
  pageError(null);
  $('#toast').hidden = true;
  routeSeq++;
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const page = parts[0] ?? 'orders';
  let section = page;
  if (page === 'orders' && parts[1]) section = 'order';
  for (const s of document.querySelectorAll('.page')) s.hidden = s.id !== `page-${section}`;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === page);
  const seq = routeSeq;
  const run = async (f) => {
    try { await f(); } catch (e) { if (seq === routeSeq && e.status !== 401) pageError(e); }
  };
  switch (section) {
    case 'orders': run(() => ordersPage(params)); break;
    case 'order': run(() => orderPage(parts[1])); break;
    case 'requests': run(() => requestsPage()); break;
    case 'batch': run(() => batchPage(parts[1])); break;
    case 'withdrawals': run(() => withdrawalsPage(params)); break;
    case 'dead-letters': run(() => deadLettersPage()); break;
    default: location.hash = '#/orders';
  }
}

// ---- 订单 ----

const ORDER_FILTERS = ['out_trade_no', 'openid', 'status', 'from', 'to'];
let ordersCursor = '';
let ordersParams = null;

async function ordersPage(params) {
  const form = $('#orders-search');
  for (const name of ORDER_FILTERS) form.elements[name].value = params.get(name) ?? '';
  ordersParams = params;
  await loadOrders(false);
}

async function loadOrders(append) {
  const q = new URLSearchParams();
  for (const name of ORDER_FILTERS) {
    const v = ordersParams.get(name);
    if (v) q.set(name, v);
  }
  q.set('limit', '50');
  if (append && ordersCursor) q.set('cursor', ordersCursor);
  const data = await api('GET', `/admin/api/orders?${q}`);
  const rows = (data.orders ?? []).map((o) => el('tr', { 'data-testid': `order-row-${o.out_trade_no}` },
    el('td', {}, el('a', { href: `#/orders/${enc(o.out_trade_no)}`, class: 'mono order-link', 'data-testid': `order-link-${o.out_trade_no}`, text: o.out_trade_no })),
    td(o.openid, 'mono'), td(o.description), td(formatFen(o.amount_fen), 'num'),
    el('td', {}, badge(ORDER_STATUS, o.status, 'order')),
    td(formatTime(o.created_at)), td(formatTime(o.paid_at)),
    td(o.refunded_fen ? formatFen(o.refunded_fen) : '—', 'num')));
  const tbody = $('#orders-table tbody');
  if (append) tbody.append(...rows); else fill(tbody, rows);
  ordersCursor = data.next_cursor ?? '';
  show($('#orders-more'), !!ordersCursor);
  show($('#orders-empty'), tbody.children.length === 0);
}

function searchOrders(ev) {
  ev.preventDefault();
  const form = ev.target;
  const q = new URLSearchParams();
  for (const name of ORDER_FILTERS) {
    const v = form.elements[name].value.trim();
    if (v) q.set(name, v);
  }
  if (q.get('from') && q.get('to') && q.get('from') > q.get('to')) {
    pageError(new ApiError(400, '', '开始日期不能晚于结束日期'));
    return;
  }
  const hash = `#/orders?${q}`;
  if (location.hash === hash) route(); else location.hash = hash;
}

// ---- 订单详情 ----

let currentOrder = null;

async function orderPage(no) {
  currentOrder = null;
  for (const id of ['order-no', 'order-amount', 'order-openid', 'order-description', 'order-attach', 'order-transaction-id',
    'order-paid-at', 'order-created-at', 'order-expires-at', 'order-refundable', 'order-refunded', 'order-reserved', 'order-refund-count']) {
    $(`#${id}`).textContent = '…';
  }
  $('#order-status').replaceChildren();
  fill($('#order-refunds tbody'), []);
  $('#order-refund').disabled = true;
  const d = await api('GET', `/admin/api/orders/${enc(no)}`);
  const o = d.order;
  currentOrder = d;
  $('#order-no').textContent = o.out_trade_no;
  $('#order-status').replaceChildren(badge(ORDER_STATUS, o.status, 'order'));
  $('#order-amount').textContent = formatFen(o.amount_fen);
  $('#order-openid').textContent = o.openid;
  $('#order-description').textContent = o.description || '—';
  $('#order-attach').textContent = o.attach || '—';
  $('#order-transaction-id').textContent = o.transaction_id || '—';
  $('#order-paid-at').textContent = formatTime(o.paid_at);
  $('#order-created-at').textContent = formatTime(o.created_at);
  $('#order-expires-at').textContent = formatTime(o.expires_at);
  $('#order-refundable').textContent = formatFen(d.refundable_fen ?? 0);
  $('#order-refunded').textContent = formatFen(d.refunded_fen ?? 0);
  $('#order-reserved').textContent = formatFen(d.reserved_fen ?? 0);
  $('#order-refund-count').textContent = String(d.refund_count ?? 0);
  const refundable = ['paid', 'partially_refunded'].includes(o.status) && d.refundable_fen > 0;
  const button = $('#order-refund');
  button.disabled = !refundable;
  button.title = refundable ? '' : '该订单当前没有可退金额';
  const refunds = d.refunds ?? [];
  fill($('#order-refunds tbody'), refunds.map((r) => el('tr', { 'data-testid': `refund-row-${r.out_refund_no}` },
    td(r.out_refund_no, 'mono'), el('td', {}, badge(REFUND_STATUS, r.status, 'refund')),
    td(formatFen(r.amount_fen), 'num'), td(r.reason || '—'), td(label(REFUND_SOURCE, r.source)),
    td(formatTime(r.created_at)), td(formatTime(r.succeeded_at)),
    td(r.last_error ? `${r.last_error.message}（${r.last_error.code}）` : '—'))));
  show($('#order-refunds-empty'), refunds.length === 0);
}

// The refund dialog owns one idempotency key from the moment it opens: a
// double click, or a resubmit after a lost answer, names the same refund.
let refundDialog = null;

function openRefundDialog() {
  if (!currentOrder) return;
  const o = currentOrder.order;
  refundDialog = { no: o.out_trade_no, refundable: currentOrder.refundable_fen, key: randomKey(), busy: false };
  $('#refund-order-no').textContent = o.out_trade_no;
  $('#refund-refundable').textContent = formatFen(currentOrder.refundable_fen);
  $('#refund-amount').value = '';
  $('#refund-reason').value = '';
  show($('#refund-error'), false);
  $('#refund-submit').disabled = false;
  $('#refund-dialog').showModal();
  $('#refund-amount').focus();
}

function refundError(msg) {
  const p = $('#refund-error');
  p.textContent = msg;
  show(p, true);
}

async function submitRefund(ev) {
  ev.preventDefault();
  const st = refundDialog;
  if (!st || st.busy) return;
  const y = parseYuan($('#refund-amount').value);
  if (y.error) { refundError(y.error); return; }
  if (y.fen > st.refundable) {
    refundError(`退款金额 ${formatFen(y.fen)} 超过可退金额 ${formatFen(st.refundable)}`);
    return;
  }
  const reason = $('#refund-reason').value.trim();
  if ([...reason].length > MAX_REASON) { refundError(`原因最多 ${MAX_REASON} 字`); return; }
  st.busy = true;
  $('#refund-submit').disabled = true;
  show($('#refund-error'), false);
  try {
    const r = await api('POST', '/refunds', { out_trade_no: st.no, amount_fen: y.fen, reason, idempotency_key: st.key });
    $('#refund-dialog').close();
    refundDialog = null;
    toast(`已提交退款 ${formatFen(r.amount_fen)}（${label(REFUND_STATUS, r.status)}）`);
    if (location.hash === `#/orders/${enc(st.no)}`) await orderPage(st.no);
  } catch (e) {
    if (e.status !== 401) refundError(describe(e));
  } finally {
    st.busy = false;
    $('#refund-submit').disabled = false;
  }
}

// ---- 退款审核 ----

async function requestsPage() {
  const status = $('#requests-status').value;
  const q = new URLSearchParams({ limit: '200' });
  if (status) q.set('status', status);
  const data = await api('GET', `/refunds?${q}`);
  // "全部" means every user request, not every refund the back end made.
  const refunds = (data.refunds ?? []).filter((r) => status || r.source === 'user');
  fill($('#requests-table tbody'), refunds.map((r) => {
    const actions = el('td', { class: 'actions' });
    if (r.status === 'pending_review') {
      actions.append(
        el('button', { type: 'button', class: 'primary small', 'data-testid': `approve-${r.out_refund_no}`, text: '批准', onclick: () => openReview(r, 'approve') }),
        el('button', { type: 'button', class: 'danger small', 'data-testid': `reject-${r.out_refund_no}`, text: '拒绝', onclick: () => openReview(r, 'reject') }));
    }
    return el('tr', { 'data-testid': `request-row-${r.out_refund_no}` },
      td(r.out_refund_no, 'mono'),
      el('td', {}, el('a', { href: `#/orders/${enc(r.out_trade_no)}`, class: 'mono', text: r.out_trade_no })),
      td(r.openid, 'mono'), td(formatFen(r.amount_fen), 'num'), td(r.reason || '—'),
      el('td', {}, badge(REFUND_STATUS, r.status, 'refund')), td(formatTime(r.created_at)), td(r.note || '—'), actions);
  }));
  const totals = status ? data.totals : null;
  $('#requests-totals').textContent = totals ? `共 ${totals.count} 笔，合计 ${formatFen(totals.amount_fen)}` : `本页 ${refunds.length} 笔`;
  show($('#requests-empty'), refunds.length === 0);
}

let review = null;

function openReview(r, action) {
  review = { r, action, busy: false };
  $('#review-title').textContent = action === 'approve' ? '批准退款申请' : '拒绝退款申请';
  $('#review-summary').textContent = `订单 ${r.out_trade_no} · ${formatFen(r.amount_fen)} · 原因：${r.reason || '—'}`;
  $('#review-note').value = '';
  $('#review-note').placeholder = action === 'approve' ? '可选' : '必填：拒绝原因';
  const submit = $('#review-submit');
  submit.textContent = action === 'approve' ? '批准' : '拒绝';
  submit.className = action === 'approve' ? 'primary' : 'danger';
  submit.disabled = false;
  show($('#review-error'), false);
  $('#review-dialog').showModal();
  $('#review-note').focus();
}

async function submitReview(ev) {
  ev.preventDefault();
  const st = review;
  if (!st || st.busy) return;
  const note = $('#review-note').value.trim();
  const err = $('#review-error');
  if (st.action === 'reject' && !note) {
    err.textContent = '拒绝时请填写备注';
    show(err, true);
    return;
  }
  st.busy = true;
  $('#review-submit').disabled = true;
  try {
    const r = await api('POST', `/refunds/${enc(st.r.out_refund_no)}/${st.action}`, { note });
    $('#review-dialog').close();
    review = null;
    toast(`${st.action === 'approve' ? '已批准' : '已拒绝'}退款申请 ${r.out_refund_no}`);
    await requestsPage();
  } catch (e) {
    if (e.status !== 401) { err.textContent = describe(e); show(err, true); }
  } finally {
    st.busy = false;
    $('#review-submit').disabled = false;
  }
}

// ---- 批量退款 ----

// One idempotency key per CSV text and label: confirming the same batch
// twice (a double click, a lost answer) submits the same batch.
let batchDraft = null;
let batchView = null;

async function batchPage(id) {
  show($('#batch-input'), !id);
  show($('#batch-run'), !!id);
  if (!id) return;
  $('#batch-id').textContent = id;
  batchView = { id, retrying: false };
  setProgress(null);
  fill($('#batch-results tbody'), []);
  await pollBatch(id, routeSeq);
}

function checkBatch() {
  const text = $('#batch-csv').value;
  const labelText = $('#batch-label').value.trim();
  const { items, errors, totalFen } = parseBatchCSV(text);
  const list = $('#batch-error-list');
  fill(list, errors.map((e) => el('li', { text: e.line ? `第 ${e.line} 行：${e.message}` : e.message })));
  show($('#batch-errors'), errors.length > 0);
  if (errors.length > 0) return;
  if (!batchDraft || batchDraft.text !== text || batchDraft.label !== labelText) {
    batchDraft = { text, label: labelText, key: randomKey() };
  }
  batchDraft.items = items;
  batchDraft.totalFen = totalFen;
  $('#batch-confirm-count').textContent = String(items.length);
  $('#batch-confirm-total').textContent = formatFen(totalFen);
  show($('#batch-confirm-error'), false);
  $('#batch-confirm-submit').disabled = false;
  $('#batch-confirm').showModal();
}

async function submitBatch(ev) {
  ev.preventDefault();
  const d = batchDraft;
  if (!d || d.busy) return;
  d.busy = true;
  $('#batch-confirm-submit').disabled = true;
  try {
    const res = await api('POST', '/refunds/batch', {
      idempotency_key: d.key,
      label: d.label || undefined,
      items: d.items.map((it, i) => ({ out_trade_no: it.out_trade_no, amount_fen: it.amount_fen, reason: it.reason, key: `${d.key}-${i + 1}` })),
    });
    $('#batch-confirm').close();
    location.hash = `#/batch/${enc(res.batch_id)}`;
  } catch (e) {
    if (e.status !== 401) {
      const p = $('#batch-confirm-error');
      p.textContent = describe(e);
      show(p, true);
    }
  } finally {
    d.busy = false;
    $('#batch-confirm-submit').disabled = false;
  }
}

function setProgress(p) {
  const pct = p && p.total ? Math.floor((p.done * 100) / p.total) : 0;
  // Two segments: succeeded and failed, each its share of the batch. Set
  // through CSSOM, not a style attribute, which the CSP would refuse.
  const share = (n) => (p && p.total ? `${(n * 100) / p.total}%` : '0%');
  $('#batch-progress-bar').style.width = share(p ? p.succeeded : 0);
  $('#batch-progress-failed').style.width = share(p ? p.failed : 0);
  const box = $('#batch-progress');
  box.setAttribute('aria-valuenow', String(pct));
  box.classList.toggle('complete', !!p && p.done === p.total);
  $('#batch-progress-text').textContent = p ? `${p.done} / ${p.total}（${pct}%）` : '加载中…';
  $('#batch-summary').textContent = p
    ? `成功 ${p.succeeded} 笔，失败 ${p.failed} 笔，处理中 ${p.processing} 笔；合计 ${formatFen(p.amount_fen)}，已退 ${formatFen(p.refunded_fen)}`
    : '';
}

async function pollBatch(id, seq) {
  if (seq !== routeSeq) return;
  const p = await api('GET', `/refunds/batches/${enc(id)}`);
  if (seq !== routeSeq) return;
  setProgress(p);
  const items = p.items ?? [];
  fill($('#batch-results tbody'), items.map((it, i) => el('tr', {
    'data-testid': `batch-item-${i + 1}`, class: it.status === 'failed' || it.status === 'closed' ? 'failed' : undefined,
  },
  td(String(i + 1), 'num'), td(it.out_trade_no, 'mono'), td(it.out_refund_no, 'mono'), td(formatFen(it.amount_fen), 'num'),
  el('td', {}, badge(REFUND_STATUS, it.status, 'refund')), td(it.error?.code ?? '—', 'mono'), td(it.error?.message ?? '—'))));
  const failed = items.filter((it) => it.status === 'failed');
  const retry = $('#batch-retry');
  show(retry, failed.length > 0 && p.processing === 0);
  retry.textContent = `重试失败项（${failed.length}）`;
  retry.disabled = batchView?.retrying ?? false;
  if (p.processing > 0 || batchView?.retrying) {
    pollTimer = setTimeout(() => pollBatch(id, seq).catch((e) => { if (seq === routeSeq && e.status !== 401) pageError(e); }), 500);
  }
}

async function retryBatch() {
  const v = batchView;
  if (!v || v.retrying) return;
  v.retrying = true;
  $('#batch-retry').disabled = true;
  stopPolling();
  const seq = routeSeq;
  const errors = [];
  try {
    const p = await api('GET', `/refunds/batches/${enc(v.id)}`);
    for (const it of (p.items ?? []).filter((x) => x.status === 'failed')) {
      try {
        await api('POST', `/refunds/${enc(it.out_refund_no)}/retry`);
      } catch (e) {
        if (e.status === 401) return;
        errors.push(`${it.out_trade_no}：${describe(e)}`);
      }
    }
  } catch (e) {
    if (e.status !== 401) errors.push(describe(e));
  } finally {
    v.retrying = false;
  }
  if (errors.length) pageError(new ApiError(0, '', `部分重试未成功：${errors.join('；')}`));
  else toast('已重新发起失败项');
  await pollBatch(v.id, seq);
}

async function loadBatchFile(ev) {
  const file = ev.target.files?.[0];
  if (!file) return;
  if (file.size > 1 << 20) { pageError(new ApiError(0, '', '文件太大（最多 1 MiB）')); return; }
  $('#batch-csv').value = (await file.text()).replace(/^\uFEFF/, '');
  ev.target.value = '';
}

// ---- 提现 ----

async function withdrawalsPage(params) {
  const form = $('#withdrawals-filter');
  form.elements.openid.value = params.get('openid') ?? '';
  form.elements.status.value = params.get('status') ?? '';
  const q = new URLSearchParams({ limit: '100' });
  if (params.get('openid')) q.set('openid', params.get('openid'));
  if (params.get('status')) q.set('status', params.get('status'));
  const data = await api('GET', `/admin/api/withdrawals?${q}`);
  const list = data.withdrawals ?? [];
  fill($('#withdrawals-table tbody'), list.map((w) => el('tr', { 'data-testid': `withdrawal-row-${w.id}` },
    td(w.id, 'mono'), td(w.openid, 'mono'), td(formatFen(w.amount_fen), 'num'),
    el('td', {}, badge(WITHDRAWAL_STATUS, w.status, 'withdrawal')), td(formatTime(w.created_at)), td(formatTime(w.finished_at)),
    td(w.fail_reason || w.last_error?.message || '—'))));
  show($('#withdrawals-empty'), list.length === 0);
}

function searchWithdrawals(ev) {
  ev.preventDefault();
  const form = ev.target;
  const q = new URLSearchParams();
  for (const name of ['openid', 'status']) {
    const v = form.elements[name].value.trim();
    if (v) q.set(name, v);
  }
  const hash = `#/withdrawals?${q}`;
  if (location.hash === hash) route(); else location.hash = hash;
}

// ---- 死信通知 ----

async function deadLettersPage() {
  const data = await api('GET', '/admin/api/dead-letters?limit=100');
  const list = data.dead_letters ?? [];
  fill($('#dead-letters-table tbody'), list.map((l) => el('tr', { 'data-testid': `dead-letter-row-${l.id}`, title: l.id },
    el('td', {}, label(EVENT_TYPE, l.type), el('div', { class: 'muted mono', text: l.type })), td(l.subject, 'mono'),
    el('td', {}, badge(EVENT_STATUS, l.status, 'event')), el('td', { class: 'num', 'data-testid': 'attempts', text: String(l.attempts ?? 0) }),
    td(formatTime(l.created_at)), td(formatTime(l.last_attempt_at)), td(l.last_error || '—'),
    el('td', { class: 'actions' }, el('button', {
      type: 'button', class: 'small', 'data-testid': `redeliver-${l.id}`, text: '重新投递', onclick: (ev) => redeliver(l, ev.target),
    })))));
  show($('#dead-letters-empty'), list.length === 0);
}

async function redeliver(l, button) {
  button.disabled = true;
  try {
    await api('POST', `/admin/api/dead-letters/${enc(l.id)}/redeliver`);
    toast(`已重新投递 ${l.id}`);
  } catch (e) {
    if (e.status === 401) return;
    pageError(new ApiError(e.status, e.code, `重新投递 ${l.id} 失败：${e.message}`));
    await deadLettersPage().catch(() => {});
    return;
  } finally {
    button.disabled = false;
  }
  pageError(null);
  await deadLettersPage();
}

// ---- Start ----

function start() {
  $('#login-form').addEventListener('submit', login);
  $('#logout').addEventListener('click', () => logout());
  $('#orders-search').addEventListener('submit', searchOrders);
  $('#orders-search').addEventListener('reset', () => { setTimeout(() => { location.hash = '#/orders'; }); });
  $('#orders-more').addEventListener('click', () => loadOrders(true).catch(pageError));
  $('#order-refund').addEventListener('click', openRefundDialog);
  $('#refund-form').addEventListener('submit', submitRefund);
  $('#refund-cancel').addEventListener('click', () => $('#refund-dialog').close());
  $('#requests-filter').addEventListener('submit', (ev) => { ev.preventDefault(); pageError(null); requestsPage().catch(pageError); });
  $('#requests-status').addEventListener('change', () => { pageError(null); requestsPage().catch(pageError); });
  $('#review-form').addEventListener('submit', submitReview);
  $('#review-cancel').addEventListener('click', () => $('#review-dialog').close());
  $('#batch-check').addEventListener('click', checkBatch);
  $('#batch-file').addEventListener('change', loadBatchFile);
  $('#batch-confirm-form').addEventListener('submit', submitBatch);
  $('#batch-confirm-cancel').addEventListener('click', () => $('#batch-confirm').close());
  $('#batch-retry').addEventListener('click', retryBatch);
  $('#batch-new').addEventListener('click', () => { location.hash = '#/batch'; });
  $('#withdrawals-filter').addEventListener('submit', searchWithdrawals);
  $('#dead-letters-refresh').addEventListener('click', () => { pageError(null); deadLettersPage().catch(pageError); });
  window.addEventListener('hashchange', route);
  if (sessionStorage.getItem(TOKEN_KEY)) enterApp(); else showLogin();
}

start();
