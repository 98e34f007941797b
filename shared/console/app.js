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

// FEE_UNITS_PER_FEN: WeChat's bill prints fees to 0.00001 yuan, a thousandth
// of a fen (shared/bill.Fee), and a report's fee_units count those.
const FEE_UNITS_PER_FEN = 1000;

// formatFeeUnits shows a fee in units of 0.00001 yuan as yuan: a whole
// number of fen as formatFen does (3000 → "¥0.03"), else with the five
// decimals WeChat prints. Integer arithmetic only.
export function formatFeeUnits(units) {
  if (units === undefined || units === null || !Number.isSafeInteger(units)) return '—';
  if (units % FEE_UNITS_PER_FEN === 0) return formatFen(units / FEE_UNITS_PER_FEN);
  const sign = units < 0 ? '-' : '';
  const abs = Math.abs(units);
  const per = FEE_UNITS_PER_FEN * 100; // units per yuan
  const frac = abs % per;
  const yuan = String((abs - frac) / per).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}¥${yuan}.${String(frac).padStart(5, '0')}`;
}

// formatFenDelta shows a difference in fen with its sign: "+¥1.00",
// "-¥0.50"; none is "一致".
export function formatFenDelta(fen) {
  if (!Number.isSafeInteger(fen)) return '—';
  if (fen === 0) return '一致';
  return fen > 0 ? `+${formatFen(fen)}` : formatFen(fen);
}

const dateParts = new Intl.DateTimeFormat('en-US', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
});

// beijingDate is the Beijing day of a Date as "2006-01-02", the form the
// reconciliation routes take.
export function beijingDate(d) {
  const p = Object.fromEntries(dateParts.formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}`;
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
// How an order is being paid or was paid (none before a payment began).
export const PAY_METHOD = {
  jsapi: '小程序 JSAPI', native: 'Native 扫码', h5: 'H5', balance: '余额',
  alipay_qr: '支付宝扫码', alipay_wap: '支付宝手机网站',
};

// provider is who holds a payment by method m: alipay, wechat, or "" for
// the balance and for no payment yet.
export function provider(m) {
  if (!m || m === 'balance') return '';
  return m.startsWith('alipay_') ? 'alipay' : 'wechat';
}

// What the order page calls the payment's two numbers at its provider: the
// provider's own (transaction_id) and the merchant's (trade_no).
const PAYMENT_NUMBERS = {
  wechat: ['微信支付单号', '微信侧商户单号'],
  alipay: ['支付宝交易号', '支付宝侧商户单号'],
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

// An order's shipping as WeChat's trade management holds it; none is an
// order paid at WeChat with no shipping taken yet.
export const SHIPPING_STATE = { shipped: '已发货', partly_shipped: '部分发货', none: '未发货' };

// shippingState is what an order shows of its shipping: its state, "none"
// for an order paid at WeChat with nothing shipped, else "" (unpaid, or
// paid from the balance or with Alipay: WeChat holds no payment to ship).
export function shippingState(o) {
  if (o?.shipping_state) return o.shipping_state;
  const paid = ['paid', 'partially_refunded', 'refunded'].includes(o?.status);
  return paid && (!o?.method || provider(o.method) === 'wechat') ? 'none' : '';
}

// What an upload is at WeChat, and the words the page says of it.
export const SHIPMENT_STATUS = { uploaded: '已上传', pending: '排队重试中', refused: '微信拒绝' };

export const RECON_STATUS = { done: '已对账', no_statement: '无账单' };
// Alipay's part of a day, when it is not compared yet (the job tries again).
export const ALIPAY_RECON_STATUS = { not_ready: '支付宝账单未生成', failed: '支付宝账单未取得' };
const RECON_KIND = {
  unknown_payment: '微信有、本系统无', unknown_refund: '微信退款、本系统无',
  missing_payment: '本系统有、微信账单无', missing_refund: '本系统退款、微信账单无',
  amount: '金额不符', status: '状态不符',
};
export const RECON_RESOLVED = { adopted: '已补录', open: '待处理' };
// What WeChat's bill says of a payment (交易状态) and of a refund (退款状态).
const WECHAT_PAYMENT_STATE = { SUCCESS: '支付成功', REVOKED: '已撤销' };
const WECHAT_REFUND_STATE = { SUCCESS: '退款成功', PROCESSING: '退款处理中', REFUNDCLOSE: '退款关闭', CHANGE: '退款异常' };
// What cloudpay holds: a settlement's outcome, or a refund's status.
const OUR_PAYMENT_STATE = { paid: '已支付', closed: '已关闭' };

// Alipay's bill in the same words.
const ALIPAY_RECON_KIND = {
  unknown_payment: '支付宝有、本系统无', unknown_refund: '支付宝退款、本系统无',
  missing_payment: '本系统有、支付宝账单无', missing_refund: '本系统退款、支付宝账单无',
  amount: '支付宝金额不符', status: '支付宝状态不符',
};
// Every line of Alipay's trade bill is a completed payment or refund.
const ALIPAY_STATE = { SUCCESS: '已完成' };

// reconKind names a difference's kind in Chinese, and the bill it comes
// from when that is Alipay's; one that cloudpay took in from the bill says
// so.
export function reconKind(d) {
  const name = label(d?.channel === 'alipay' ? ALIPAY_RECON_KIND : RECON_KIND, d?.kind);
  return d?.resolved === 'adopted' ? `${name}（已补录）` : name;
}

const label = (table, v) => table[v] ?? v ?? '—';

// ---- Roles (shared/httpapi/operators.go decides; the page only hides what would be refused) ----

export const ROLE_NAMES = { viewer: '只读', operator: '操作员', approver: '审核员', admin: '管理员', service: '商户后端' };

// What each console role may do in the page: operators move money out and
// enter shipping, approvers decide, both may reconcile, viewers only read;
// a token of ADMIN_TOKENS (admin) has every role. The back end's token
// (service) is refused by the console's routes altogether.
const EVERY_ACTION = ['refund', 'batch', 'shipping', 'recon', 'review', 'retry', 'redeliver'];
export const ROLE_ACTIONS = {
  viewer: [],
  operator: ['refund', 'batch', 'shipping', 'recon'],
  approver: ['review', 'retry', 'redeliver', 'recon'],
  admin: EVERY_ACTION,
};

// may says whether a role may take an action; an unknown role may not.
export function may(role, action) {
  return Object.hasOwn(ROLE_ACTIONS, role ?? '') && ROLE_ACTIONS[role].includes(action);
}

// ---- 操作日志 (pure) ----

export const AUDIT_OUTCOME = { done: '成功', refused: '被拒绝', failed: '失败' };
const AUDIT_ACTION = {
  'POST /orders': '创建订单',
  'POST /orders/adopt': '补录外部支付',
  'POST /orders/:out_trade_no/pay': '发起支付',
  'POST /orders/:out_trade_no/shipping': '上传发货信息',
  'POST /admin/api/orders/:out_trade_no/shipping': '上传发货信息',
  'POST /refunds': '发起退款',
  'POST /refunds/batch': '批量退款',
  'POST /refunds/:out_refund_no/retry': '重试退款',
  'POST /refunds/:out_refund_no/approve': '批准退款',
  'POST /refunds/:out_refund_no/reject': '拒绝退款',
  'POST /admin/api/reconciliations/:date': '对账',
  'POST /admin/api/dead-letters/:id/redeliver': '重新投递通知',
  'POST /dead-letters/:id/redeliver': '重新投递通知',
  'POST /wallets/:openid/credits': '钱包入账',
  'PUT /wallets/:openid/profile': '修改实名信息',
};

// auditAction names what an audit entry did, in Chinese when the route is known.
export function auditAction(e) {
  const key = `${e?.method ?? ''} ${e?.route ?? ''}`;
  return Object.hasOwn(AUDIT_ACTION, key) ? AUDIT_ACTION[key] : key.trim() || '—';
}

// auditSubjectLink is where an entry's subject opens: the order's page for
// an order, the day's reconciliation for a day, else the log of that subject.
export function auditSubjectLink(e) {
  const subject = e?.subject;
  if (!subject) return '';
  const route = e.route ?? '';
  if (route.includes(':out_trade_no') || (e.method === 'POST' && ['/refunds', '/orders', '/orders/adopt'].includes(route))) {
    return `#/orders/${encodeURIComponent(subject)}`;
  }
  if (route.includes(':date')) return `#/recon/${encodeURIComponent(subject)}`;
  return `#/audit?subject=${encodeURIComponent(subject)}`;
}

// auditResult is an entry's result in words: 成功, or 被拒绝 / 失败 with the
// HTTP status and the error code.
export function auditResult(e) {
  const outcome = label(AUDIT_OUTCOME, e?.outcome);
  if (e?.outcome === 'done') return outcome;
  return [outcome, e?.status ? `HTTP ${e.status}` : '', e?.code ?? ''].filter(Boolean).join(' · ');
}

// auditLine is one entry on one line, as the order and refund pages list
// them: "operator-person（操作员）发起退款 ¥3.50 · 成功".
export function auditLine(e) {
  const who = `${e?.actor || '—'}${e?.role ? `（${label(ROLE_NAMES, e.role)}）` : ''}`;
  const amount = Number.isSafeInteger(e?.amount_fen) && e.amount_fen > 0 ? ` ${formatFen(e.amount_fen)}` : '';
  return `${who}${auditAction(e)}${amount} · ${auditResult(e)}`;
}

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

// A batch CSV's first row may name its columns. These are the columns the
// console reads, under their English names (any case) or the Chinese ones
// exports use; every other named column is kept with its item as an extra
// column (refund.validateItem's limits, counted in UTF-8 bytes).
const BATCH_COLUMNS = new Map([
  ['transaction_id', 'transaction_id'], ['微信订单号', 'transaction_id'], ['微信支付单号', 'transaction_id'],
  ['out_trade_no', 'out_trade_no'], ['商户订单号', 'out_trade_no'], ['订单号', 'out_trade_no'],
  ['amount', 'amount'], ['金额', 'amount'], ['退款金额', 'amount'],
  ['reason', 'reason'], ['原因', 'reason'], ['退款原因', 'reason'],
]);
const COLUMN_LABEL = {
  transaction_id: '微信订单号（transaction_id）', out_trade_no: '商户订单号（out_trade_no）',
  amount: '金额（amount）', reason: '原因（reason）',
};
const TRANSACTION_ID = /^\d{1,32}$/;
const MAX_EXTRA = 10;
const MAX_EXTRA_NAME = 32; // bytes
const MAX_EXTRA_VALUE = 128; // bytes
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const utf8Length = (s) => new TextEncoder().encode(s).length;

// readBatchHeader maps a header row's cells to columns: {role} for a
// column the console reads, {extra: name} for one it keeps, null for an
// unnamed one. It returns {columns, extras, errors}.
function readBatchHeader(cells) {
  const columns = [], extras = [], errors = [];
  const at = new Map(); // role or extra name → its cell's number, for duplicates
  cells.forEach((cell, i) => {
    const name = cell.trim();
    if (!name) { columns.push(null); return; }
    const role = BATCH_COLUMNS.get(name.toLowerCase());
    const id = role ?? `extra:${name}`;
    if (at.has(id)) {
      errors.push(role
        ? `第 ${at.get(id) + 1} 列与第 ${i + 1} 列都是${COLUMN_LABEL[role]}`
        : `列名“${name}”重复（第 ${at.get(id) + 1} 列与第 ${i + 1} 列）`);
    }
    at.set(id, i);
    if (role) { columns.push({ role }); return; }
    if (utf8Length(name) > MAX_EXTRA_NAME) errors.push(`列名“${name}”太长：最多 ${MAX_EXTRA_NAME} 字节（约 10 个汉字）`);
    else if (/[.$]/.test(name) || CONTROL.test(name)) errors.push(`列名“${name}”不能含有 . 或 $ 或控制字符`);
    columns.push({ extra: name });
    if (!extras.includes(name)) extras.push(name);
  });
  if (!at.has('transaction_id') && !at.has('out_trade_no')) errors.push('表头缺少微信订单号（transaction_id）或商户订单号（out_trade_no）列');
  if (!at.has('amount')) errors.push('表头缺少金额（amount）列');
  if (extras.length > MAX_EXTRA) {
    errors.push(`除订单号、金额、原因外最多 ${MAX_EXTRA} 列，表头有 ${extras.length} 列：${extras.join('、')}`);
  }
  return { columns, extras, errors };
}

const LEGACY_COLUMNS = [{ role: 'out_trade_no' }, { role: 'amount' }, { role: 'reason' }];

// parseBatchCSV reads a batch CSV into refund items, and every problem with
// the line it is on; nothing is sent unless errors is empty. A first row
// naming a known column is a header: each row then gives transaction_id or
// out_trade_no (one of them), amount in yuan, an optional reason, and any
// other columns, kept as the item's extra (empty values left out). Without
// a header each row is "out_trade_no,amount,reason". columns lists the extra
// columns in the CSV's order.
export function parseBatchCSV(text) {
  const src = String(text ?? '').replace(/^\uFEFF/, ''); // a BOM from Excel
  const parsed = parseCSVRecords(src);
  if (parsed.error) return { items: [], errors: [parsed.error], totalFen: 0, columns: [] };
  const items = [], errors = [];
  const seen = new Map();
  let columns = LEGACY_COLUMNS, extras = [], legacy = true;
  // A header names a known column, and holds no amount where a line without
  // one would ("CP0001,1,原因" is a line).
  const head = parsed.records[0];
  if (head && head.fields.some((cell) => BATCH_COLUMNS.has(cell.trim().toLowerCase())) && parseYuan(head.fields[1]).error) {
    const h = readBatchHeader(head.fields);
    // Rows under a header that cannot be read would each fail for the same reason.
    if (h.errors.length > 0) return { items: [], errors: h.errors.map((message) => ({ line: head.line, message })), totalFen: 0, columns: [] };
    ({ columns, extras } = h);
    legacy = false;
  }
  parsed.records.forEach((rec, idx) => {
    if (idx === 0 && !legacy) return;
    const f = rec.fields;
    const err = (message) => errors.push({ line: rec.line, message });
    if (f.every((cell) => cell === '')) return; // a row left empty, as spreadsheets export them
    if (legacy && (f.length < 2 || f.length > 3)) {
      err(`应为 2–3 列（out_trade_no,amount,reason），实际 ${f.length} 列`);
      return;
    }
    if (f.length > columns.length && f.slice(columns.length).some((cell) => cell !== '')) {
      err(`比表头多 ${f.length - columns.length} 列`);
      return;
    }
    const cell = {};
    const extra = []; // [name, value], made an object by fromEntries: a column may be named "__proto__"
    let ok = true;
    columns.forEach((c, i) => {
      const v = f[i] ?? '';
      if (!c) {
        if (v !== '') { err(`第 ${i + 1} 列没有列名`); ok = false; }
      } else if (c.role) {
        cell[c.role] = v;
      } else if (v !== '') {
        if (utf8Length(v) > MAX_EXTRA_VALUE) { err(`“${c.extra}”超过 ${MAX_EXTRA_VALUE} 字节（约 42 个汉字）`); ok = false; }
        if (CONTROL.test(v)) { err(`“${c.extra}”含有控制字符`); ok = false; }
        extra.push([c.extra, v]);
      }
    });
    const txn = cell.transaction_id ?? '', no = cell.out_trade_no ?? '', amount = cell.amount ?? '', reason = cell.reason ?? '';
    let id; // the duplicate check's key: which number, and the number
    if (txn && no) { err('微信订单号和商户订单号只能填一个'); ok = false; }
    else if (!txn && !no) { err('缺少微信订单号（transaction_id）或商户订单号（out_trade_no）'); ok = false; }
    else if (txn) {
      id = `微信订单号 ${txn}`;
      if (!TRANSACTION_ID.test(txn)) {
        const hint = /e\+?\d/i.test(txn) ? '；疑似被表格软件转成了科学计数法，请把该列设为文本后重新导出' : '';
        err(`微信订单号“${txn}”格式错误：应为 1–32 位数字${hint}`);
        ok = false;
      }
    } else {
      id = `订单号 ${no}`;
      if (!OUT_TRADE_NO.test(no)) { err(`订单号“${no}”格式错误：应为 6–32 位数字、字母或 _-|*`); ok = false; }
    }
    const y = parseYuan(amount);
    if (y.error) { err(`金额“${amount}”：${y.error}`); ok = false; }
    if ([...reason].length > MAX_REASON) { err(`原因超过 ${MAX_REASON} 字`); ok = false; }
    if (CONTROL.test(reason)) { err('原因含有控制字符'); ok = false; }
    if (ok && seen.has(id)) { err(`${id} 与第 ${seen.get(id)} 行重复`); ok = false; }
    if (ok) {
      seen.set(id, rec.line);
      const item = { line: rec.line };
      if (txn) item.transaction_id = txn; else item.out_trade_no = no;
      Object.assign(item, { amount_fen: y.fen, reason });
      if (extra.length > 0) item.extra = Object.fromEntries(extra);
      items.push(item);
    }
  });
  if (errors.length === 0 && items.length === 0) errors.push({ line: 0, message: '没有可提交的退款行' });
  if (items.length > MAX_BATCH_ITEMS) errors.push({ line: 0, message: `一批最多 ${MAX_BATCH_ITEMS} 笔，当前 ${items.length} 笔` });
  const totalFen = items.reduce((s, it) => s + it.amount_fen, 0);
  return { items, errors, totalFen, columns: extras };
}

// batchColumns orders the extra columns a batch's items carry: those of
// known (the CSV's order, remembered when it was sent) first, then the rest
// as they first appear. The server's answer alone does not keep the order.
export function batchColumns(items, known) {
  const present = new Set();
  for (const it of items ?? []) for (const name of Object.keys(it.extra ?? {})) present.add(name);
  const ordered = (known ?? []).filter((name) => present.has(name));
  for (const name of present) if (!ordered.includes(name)) ordered.push(name);
  return ordered;
}

// paymentNumber is how a batch item names its payment: the WeChat number
// when the CSV gave it, else the merchant's order number.
export function paymentNumber(it) {
  return it.transaction_id || it.out_trade_no || '';
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

// request sends a call with the token and returns the answer if it is a
// success; otherwise it throws an ApiError (after a 401, back to the login).
async function request(method, path, body, accept = 'application/json') {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ''}`, Accept: accept };
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
  if (res.ok) return res;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (res.status === 401) {
    logout('令牌无效或已失效，请重新登录。');
    throw new ApiError(401, data?.error?.code ?? 'UNAUTHORIZED', '未登录');
  }
  const e = data?.error ?? {};
  throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? (text.slice(0, 200) || res.statusText), e.field);
}

async function api(method, path, body) {
  const text = await (await request(method, path, body)).text();
  try { return text ? JSON.parse(text) : null; } catch { return null; }
}

// download saves a file the API answers. A plain link would send no
// token, so the file is fetched with it and handed over as a Blob.
async function download(path, filename, accept) {
  const blob = await (await request('GET', path, undefined, accept)).blob();
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

const enc = encodeURIComponent;

// ---- Login ----

// me is who the console is logged in as ({name, role}): asked of GET
// /admin/api/me when the token is entered, and kept with the token for
// this tab's session, so a reload asks nothing. A token kept without it (a
// tab logged in before the console knew roles) offers every action, as
// then: the server refuses what the role may not do either way.
const ME_KEY = 'cloudpay.console.me';
let me = null;
const can = (action) => (me ? may(me.role, action) : true);

function rememberedMe() {
  try {
    const v = JSON.parse(sessionStorage.getItem(ME_KEY) ?? 'null');
    return typeof v?.name === 'string' && typeof v?.role === 'string' ? { name: v.name, role: v.role } : null;
  } catch {
    return null;
  }
}

// applyRole shows the actions of the logged-in role and hides the rest:
// an element with data-action="x" is shown to roles that may take x, one
// with data-denied="x" (why it is not there) to those that may not.
function applyRole() {
  for (const n of document.querySelectorAll('[data-action]')) show(n, can(n.dataset.action));
  for (const n of document.querySelectorAll('[data-denied]')) show(n, !can(n.dataset.denied));
  const who = $('#whoami');
  who.textContent = me ? `${me.name}（${label(ROLE_NAMES, me.role)}）` : '角色未知';
  who.title = me ? `角色：${me.role}` : '重新登录后按令牌的角色显示可执行的操作';
  $('#app').dataset.role = me?.role ?? '';
}

// loginRefusal says why a token that is valid cannot use the console.
function loginRefusal(e) {
  if (e.code === 'FORBIDDEN_ROLE') {
    return '该令牌是商户后端（service）令牌，不能登录运营后台。请使用 viewer、operator 或 approver 角色的令牌。';
  }
  return `无法确认令牌的角色：${describe(e)}`;
}

function showLogin(message) {
  stopPolling();
  me = null;
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
  sessionStorage.removeItem(ME_KEY);
  showLogin(message);
}

async function login(ev) {
  ev.preventDefault();
  const token = $('#login-token').value.trim();
  if (!token) return;
  const button = $('#login-submit');
  button.disabled = true;
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.removeItem(ME_KEY);
  try {
    // Who the token is: a 401 is back at the login (request does it), the
    // back end's token is refused here.
    const who = await api('GET', '/admin/api/me');
    sessionStorage.setItem(ME_KEY, JSON.stringify({ name: who?.name ?? '', role: who?.role ?? '' }));
  } catch (e) {
    if (e.status !== 401) logout(loginRefusal(e));
    return;
  } finally {
    button.disabled = false;
  }
  enterApp();
}

// enterApp shows the pages with the actions of the role the token was
// logged in with.
function enterApp() {
  me = rememberedMe();
  applyRole();
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
  if (page === 'recon' && parts[1]) section = 'recon-day';
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
    case 'recon': run(() => reconPage()); break;
    case 'recon-day': run(() => reconDayPage(parts[1])); break;
    case 'dead-letters': run(() => deadLettersPage()); break;
    case 'audit': run(() => auditPage(params)); break;
    default: location.hash = '#/orders';
  }
}

// ---- 订单 ----

const ORDER_FILTERS = ['out_trade_no', 'openid', 'status', 'method', 'shipping', 'from', 'to'];
let ordersCursor = '';
let ordersParams = null;

async function ordersPage(params) {
  checkTradeManaged(); // the line on this page, asked the first time it shows
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
    el('td', { 'data-testid': 'shipping' }, shippingBadge(o)),
    el('td', { class: 'method', 'data-testid': 'method', text: label(PAY_METHOD, o.method) }),
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

// shippingBadge shows an order's shipping state, or a dash.
function shippingBadge(o) {
  const st = shippingState(o);
  return st ? badge(SHIPPING_STATE, st, 'shipping') : '—';
}

// ---- 订单详情 ----

let currentOrder = null;

async function orderPage(no) {
  currentOrder = null;
  for (const id of ['order-no', 'order-amount', 'order-openid', 'order-description', 'order-attach', 'order-method',
    'order-transaction-id', 'order-trade-no', 'order-paid-at', 'order-created-at', 'order-expires-at',
    'order-refundable', 'order-refunded', 'order-reserved', 'order-refund-count', 'order-shipping']) {
    $(`#${id}`).textContent = '…';
  }
  resetShippingForm(no);
  $('#order-status').replaceChildren();
  fill($('#order-refunds tbody'), []);
  fill($('#order-audit tbody'), []);
  show($('#order-audit-empty'), false);
  $('#order-audit-link').href = `#/audit?subject=${enc(no)}`;
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
  $('#order-method').textContent = label(PAY_METHOD, o.method);
  const [txnLabel, tradeNoLabel] = PAYMENT_NUMBERS[provider(o.method) || 'wechat'];
  $('#order-transaction-id-label').textContent = txnLabel;
  $('#order-trade-no-label').textContent = tradeNoLabel;
  $('#order-transaction-id').textContent = o.transaction_id || '—';
  // Without its own trade_no, the payment is known at WeChat or Alipay by the order's number.
  $('#order-trade-no').textContent = o.trade_no || (provider(o.method) ? '同订单号' : '—');
  $('#order-paid-at').textContent = formatTime(o.paid_at);
  $('#order-shipping').replaceChildren(shippingBadge(o));
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
    td(r.last_error ? `${r.last_error.message}（${r.last_error.code}）` : '—'),
    el('td', { class: 'history', 'data-testid': `refund-history-${r.out_refund_no}` }, refundHistory(r, null)))));
  show($('#order-refunds-empty'), refunds.length === 0);
  loadOrderAudit(d, routeSeq); // who did what: not waited for, the page is there without it
  const shippable = shippingState(o) !== '';
  const ship = $('#shipping-submit');
  ship.disabled = !shippable;
  ship.title = shippable ? '' : '只有在微信支付的已支付订单可上传发货信息';
  if (!$('#shipping-desc').value) $('#shipping-desc').value = [...(o.description ?? '')].slice(0, 120).join('');
}

// ---- 订单详情：操作记录 ----

// The order page shows who did what to the order and to each of its
// refunds: the audit entries whose subject is the order (its number, or
// the WeChat number a refund named it by) or one of its refunds.
const MAX_AUDITED_REFUNDS = 50; // WeChat's most refunds of one payment

async function loadOrderAudit(d, seq) {
  const o = d.order;
  const refunds = (d.refunds ?? []).slice(0, MAX_AUDITED_REFUNDS);
  const subjects = [...new Set([o.out_trade_no, o.transaction_id, ...refunds.map((r) => r.out_refund_no)].filter(Boolean))];
  let lists;
  try {
    lists = await Promise.all(subjects.map((subject) => api('GET', `/admin/api/audit?${new URLSearchParams({ subject })}`)));
  } catch (e) {
    if (seq !== routeSeq || e.status === 401) return;
    $('#order-audit-empty').textContent = `无法读取操作记录：${describe(e)}`;
    show($('#order-audit-empty'), true);
    for (const r of refunds) {
      const cell = document.querySelector(`[data-testid="refund-history-${CSS.escape(r.out_refund_no)}"]`);
      if (cell) cell.replaceChildren(refundHistory(r, []));
    }
    return;
  }
  if (seq !== routeSeq) return;
  // Newest first, by the time itself: RFC 3339 strings with fractions of
  // varying length do not sort as text.
  const when = (e) => Date.parse(e.at) || 0;
  const entries = lists.flatMap((l) => l?.entries ?? []).sort((a, b) => when(b) - when(a));
  fill($('#order-audit tbody'), entries.map((e) => auditRow(e, false)));
  $('#order-audit-empty').textContent = '暂无后台操作。';
  show($('#order-audit-empty'), entries.length === 0);
  for (const r of refunds) {
    const cell = document.querySelector(`[data-testid="refund-history-${CSS.escape(r.out_refund_no)}"]`);
    if (cell) cell.replaceChildren(refundHistory(r, entries.filter((e) => e.subject === r.out_refund_no)));
  }
}

// refundHistory is a refund's who-did-what, compactly: who asked for it
// (its creator's token), then each decision on it (approve, reject, retry)
// from the audit log; entries null while they are being read.
function refundHistory(r, entries) {
  const lines = [];
  if (r.created_by) lines.push(el('div', { text: `${r.created_by} 发起${r.four_eyes ? '（须他人批准）' : ''}` }));
  for (const e of [...(entries ?? [])].reverse()) {
    lines.push(el('div', { class: e.outcome === 'done' ? undefined : 'muted', title: formatTime(e.at), text: auditLine(e) }));
  }
  if (lines.length === 0) return entries === null ? '…' : '—';
  const box = el('div', { class: 'lines' });
  box.append(...lines);
  return box;
}

// ---- 发货 ----

// The shipping form owns one idempotency key per order and content: a
// double click, or a resubmit after a lost answer, names the same upload
// (WeChat takes one update per order, which a second key would spend);
// other content gets a fresh key.
let shippingDraft = null;

function resetShippingForm(no) {
  if (shippingDraft?.no === no) return; // the same order again (after an upload): keep what was typed
  shippingDraft = null;
  $('#shipping-form').reset();
  showExpressFields();
  show($('#shipping-result'), false);
}

function showExpressFields() {
  const express = $('#shipping-logistics').value === 'express';
  for (const l of document.querySelectorAll('#shipping-form .express-only')) show(l, express);
}

function shippingResult(kind, msg) {
  const p = $('#shipping-result');
  p.className = `shipping-result ${kind}`;
  p.dataset.state = kind;
  p.textContent = msg;
  show(p, true);
}

// shippingBody reads the form into the route's body, or {error}.
export function shippingBody(form) {
  const v = (name) => String(form[name] ?? '').trim();
  const logistics = v('logistics_type');
  const item = { item_desc: v('item_desc') };
  if (!item.item_desc) return { error: '请填写商品描述' };
  if (logistics === 'express') {
    item.express_company = v('express_company');
    item.tracking_no = v('tracking_no');
    if (!item.express_company) return { error: '快递发货请填写快递公司编码（微信的快递公司编码，如 YTO、SF）' };
    if (!item.tracking_no) return { error: '快递发货请填写运单号' };
  }
  if (v('receiver_contact')) item.receiver_contact = v('receiver_contact');
  return { body: { logistics_type: logistics, delivery_mode: 'unified', shipping_list: [item] } };
}

async function submitShipping(ev) {
  ev.preventDefault();
  const no = currentOrder?.order?.out_trade_no;
  if (!no || shippingDraft?.busy) return;
  const f = ev.target.elements;
  const read = shippingBody(Object.fromEntries(['logistics_type', 'express_company', 'tracking_no', 'item_desc', 'receiver_contact']
    .map((name) => [name, f[name].value])));
  if (read.error) { shippingResult('error', read.error); return; }
  const content = JSON.stringify(read.body);
  if (!shippingDraft || shippingDraft.no !== no || shippingDraft.content !== content) {
    shippingDraft = { no, content, key: randomKey() };
  }
  const d = shippingDraft;
  d.busy = true;
  $('#shipping-submit').disabled = true;
  show($('#shipping-result'), false);
  try {
    const sh = await api('POST', `/admin/api/orders/${enc(no)}/shipping`, { ...read.body, idempotency_key: d.key });
    if (sh.status === 'uploaded') {
      shippingResult('uploaded', `${label(SHIPMENT_STATUS, sh.status)}：微信已接收发货信息（${formatTime(sh.uploaded_at)}）`);
      toast('发货信息已上传微信');
    } else if (sh.status === 'pending') {
      shippingResult('pending', `微信暂未接收，系统将自动重试${sh.last_error ? `：${sh.last_error}` : ''}`);
    } else {
      shippingResult('refused', `微信拒绝：${sh.last_error || label(SHIPMENT_STATUS, sh.status)}`);
    }
    if (location.hash === `#/orders/${enc(no)}`) await orderPage(no);
  } catch (e) {
    if (e.status === 401) return;
    if (e.code === 'SHIPPING_REFUSED') shippingResult('refused', `微信拒绝：${e.message}`);
    else if (e.code === 'SHIPPING_NOT_CONFIGURED') shippingResult('error', `未配置小程序发货信息管理：${e.message}`);
    else shippingResult('error', e.field ? `${describe(e)}（字段 ${e.field}）` : describe(e));
  } finally {
    d.busy = false;
    $('#shipping-submit').disabled = false;
  }
}

// The main page's line on WeChat's trade management, asked once per load
// of the console.
let tradeManagedAsked = false;

export const TRADE_MANAGED = {
  yes: '小程序已开通发货信息管理：已支付订单须上传发货信息，否则资金冻结',
  no: '小程序未开通发货信息管理：无须上传发货信息',
  off: '发货信息管理：未配置',
};

async function checkTradeManaged() {
  if (tradeManagedAsked) return;
  tradeManagedAsked = true;
  const line = $('#trade-managed');
  const say = (state, text) => { line.dataset.state = state; line.textContent = text; };
  try {
    const r = await api('GET', '/admin/api/shipping/trade-managed');
    if (r?.is_trade_managed) say('yes', TRADE_MANAGED.yes); else say('no', TRADE_MANAGED.no);
  } catch (e) {
    if (e.status === 401) { tradeManagedAsked = false; return; }
    if (e.code === 'SHIPPING_NOT_CONFIGURED') say('off', TRADE_MANAGED.off);
    else say('error', `发货信息管理：无法查询（${describe(e)}）`);
  }
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
    if (r.status === 'pending_review' && can('review')) {
      // Four eyes: a large refund is approved by another token than the one that asked for it.
      const own = r.four_eyes && !!r.created_by && r.created_by === me?.name;
      actions.append(
        el('button', {
          type: 'button', class: 'primary small', 'data-testid': `approve-${r.out_refund_no}`, text: '批准', onclick: () => openReview(r, 'approve'),
          disabled: own, title: own ? '四眼原则：须由发起人以外的审核员批准' : undefined,
        }),
        el('button', { type: 'button', class: 'danger small', 'data-testid': `reject-${r.out_refund_no}`, text: '拒绝', onclick: () => openReview(r, 'reject') }));
    }
    if (actions.childElementCount === 0) actions.textContent = '—';
    const history = el('td', { class: 'history', 'data-testid': `request-history-${r.out_refund_no}` }, refundHistory(r, []),
      el('button', {
        type: 'button', class: 'link small', 'data-testid': `request-history-load-${r.out_refund_no}`, text: '操作记录',
        onclick: (ev) => showRequestHistory(r, history, ev.currentTarget),
      }));
    return el('tr', { 'data-testid': `request-row-${r.out_refund_no}` },
      td(r.out_refund_no, 'mono'),
      el('td', {}, el('a', { href: `#/orders/${enc(r.out_trade_no)}`, class: 'mono', text: r.out_trade_no })),
      td(r.openid, 'mono'), td(formatFen(r.amount_fen), 'num'), td(r.reason || '—'),
      el('td', {}, badge(REFUND_STATUS, r.status, 'refund')), td(formatTime(r.created_at)), td(r.note || '—'), history, actions);
  }));
  const totals = status ? data.totals : null;
  $('#requests-totals').textContent = totals ? `共 ${totals.count} 笔，合计 ${formatFen(totals.amount_fen)}` : `本页 ${refunds.length} 笔`;
  show($('#requests-empty'), refunds.length === 0);
}

// showRequestHistory reads a refund's entries in the audit log when asked:
// one call per refund opened, not one per row listed.
async function showRequestHistory(r, cell, button) {
  button.disabled = true;
  try {
    const data = await api('GET', `/admin/api/audit?${new URLSearchParams({ subject: r.out_refund_no })}`);
    cell.replaceChildren(refundHistory(r, data?.entries ?? []));
  } catch (e) {
    if (e.status === 401) return;
    button.disabled = false;
    pageError(e);
  }
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
  const { items, errors, totalFen, columns } = parseBatchCSV(text);
  const list = $('#batch-error-list');
  fill(list, errors.map((e) => el('li', { text: e.line ? `第 ${e.line} 行：${e.message}` : e.message })));
  show($('#batch-errors'), errors.length > 0);
  if (errors.length > 0) return;
  if (!batchDraft || batchDraft.text !== text || batchDraft.label !== labelText) {
    batchDraft = { text, label: labelText, key: randomKey() };
  }
  batchDraft.items = items;
  batchDraft.totalFen = totalFen;
  batchDraft.columns = columns;
  $('#batch-confirm-count').textContent = String(items.length);
  $('#batch-confirm-total').textContent = formatFen(totalFen);
  $('#batch-confirm-columns-list').textContent = columns.join('、');
  show($('#batch-confirm-columns'), columns.length > 0);
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
      // The key is the draft's and the line's place: the same CSV sent again
      // names the same refunds, whichever number a line gives.
      items: d.items.map((it, i) => ({
        out_trade_no: it.out_trade_no, transaction_id: it.transaction_id, amount_fen: it.amount_fen,
        reason: it.reason, extra: it.extra, key: `${d.key}-${i + 1}`,
      })),
    });
    rememberColumns(res.batch_id, d.columns);
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

// The server keeps a batch's extra columns as a map, which loses their
// order; the tab that sent the batch remembers the CSV's (the last 20).
const COLUMNS_KEY = 'cloudpay.console.batch-columns';

function rememberedColumns(id) {
  try {
    const all = JSON.parse(sessionStorage.getItem(COLUMNS_KEY) ?? '[]');
    return all.find(([batch]) => batch === id)?.[1] ?? [];
  } catch {
    return [];
  }
}

function rememberColumns(id, columns) {
  if (!columns?.length) return;
  try {
    const all = JSON.parse(sessionStorage.getItem(COLUMNS_KEY) ?? '[]').filter(([batch]) => batch !== id);
    all.push([id, columns]);
    sessionStorage.setItem(COLUMNS_KEY, JSON.stringify(all.slice(-20)));
  } catch { /* storage full or broken: the table shows the columns in the answer's order */ }
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
  const extras = batchColumns(items, rememberedColumns(id));
  fill($('#batch-results thead'), [el('tr', {},
    el('th', { class: 'num', text: '#' }), el('th', { text: '订单号 / 微信支付单号' }),
    ...extras.map((name) => el('th', { class: 'extra', text: name })),
    el('th', { text: '退款单号' }), el('th', { class: 'num', text: '金额' }), el('th', { text: '状态' }),
    el('th', { text: '错误码' }), el('th', { text: '错误信息' }))]);
  fill($('#batch-results tbody'), items.map((it, i) => el('tr', {
    'data-testid': `batch-item-${i + 1}`, class: it.status === 'failed' || it.status === 'closed' ? 'failed' : undefined,
  },
  td(String(i + 1), 'num'),
  // A line that gave the WeChat number shows the order it was adopted as, once known.
  el('td', { class: 'mono' }, paymentNumber(it) || '—',
    it.transaction_id && it.out_trade_no ? el('div', { class: 'muted sub', text: `订单 ${it.out_trade_no}` }) : null),
  ...extras.map((name) => td(it.extra?.[name] || '—', 'extra')),
  td(it.out_refund_no, 'mono'), td(formatFen(it.amount_fen), 'num'),
  el('td', {}, badge(REFUND_STATUS, it.status, 'refund')), td(it.error?.code ?? '—', 'mono'), td(it.error?.message ?? '—'))));
  const failed = items.filter((it) => it.status === 'failed');
  const retry = $('#batch-retry');
  show(retry, can('retry') && failed.length > 0 && p.processing === 0);
  show($('#batch-retry-denied'), !can('retry') && failed.length > 0 && p.processing === 0);
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
        errors.push(`${paymentNumber(it)}：${describe(e)}`);
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
  const bytes = await file.arrayBuffer();
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = new TextDecoder('gb18030').decode(bytes); // Excel on a Chinese Windows saves CSV as GBK
  }
  $('#batch-csv').value = text.replace(/^\uFEFF/, '');
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

// ---- 对账 ----

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;
let reconDay = null; // the day the day view shows
let reconJustRun = null; // a report just run: the day view shows it without asking again
let reconBusy = false;

async function reconPage() {
  const input = $('#recon-date');
  input.max = beijingDate(new Date());
  // Yesterday: the latest day WeChat makes a bill of.
  if (!input.value) input.value = beijingDate(new Date(Date.now() - DAY_MS));
  const data = await api('GET', '/admin/api/reconciliations');
  const list = data.reports ?? [];
  fill($('#recon-table tbody'), list.map((r) => el('tr', { 'data-testid': `recon-row-${r.date}` },
    el('td', {}, el('a', { href: `#/recon/${enc(r.date)}`, class: 'mono', 'data-testid': `recon-link-${r.date}`, text: r.date })),
    el('td', {}, badge(RECON_STATUS, r.status, 'recon'),
      ALIPAY_RECON_STATUS[r.alipay_status] ? badge(ALIPAY_RECON_STATUS, r.alipay_status, 'recon') : null),
    td(String(r.differences ?? 0), 'num'),
    td(String(r.unresolved ?? 0), r.unresolved ? 'num attention' : 'num'),
    td(formatTime(r.created_at)))));
  show($('#recon-empty'), list.length === 0);
}

// runRecon reconciles a day now and shows its report.
async function runRecon(date, button) {
  if (reconBusy) return;
  if (!DATE.test(date ?? '')) { pageError(new ApiError(0, '', '请选择要对账的日期')); return; }
  if (date > beijingDate(new Date())) { pageError(new ApiError(0, '', '不能对账今天之后的日期')); return; }
  reconBusy = true;
  button.disabled = true;
  const text = button.textContent;
  button.textContent = '对账中…';
  pageError(null);
  try {
    const r = await api('POST', `/admin/api/reconciliations/${enc(date)}`);
    reconJustRun = r;
    const hash = `#/recon/${enc(date)}`;
    if (location.hash === hash) route(); else location.hash = hash;
  } catch (e) {
    if (e.status === 401) return;
    pageError(e.code === 'BILL_NOT_READY' ? new ApiError(e.status, e.code, '账单尚未生成：微信支付每日 10 点后生成昨日账单') : e);
  } finally {
    reconBusy = false;
    button.disabled = false;
    button.textContent = text;
  }
}

async function reconDayPage(date) {
  reconDay = date;
  $('#recon-day-date').textContent = date;
  $('#recon-day-status').replaceChildren();
  $('#recon-day-created-at').textContent = '…';
  show($('#recon-day-no-statement'), false);
  fill($('#recon-totals tbody'), []);
  fill($('#recon-diffs tbody'), []);
  $('#recon-diff-count').textContent = '';
  show($('#recon-diffs-empty'), false);
  $('#recon-download').disabled = true;
  let r = reconJustRun?.date === date ? reconJustRun : null;
  reconJustRun = null;
  const fresh = !!r;
  if (!r) {
    try {
      r = await api('GET', `/admin/api/reconciliations/${enc(date)}`);
    } catch (e) {
      if (e.code === 'NOT_FOUND') {
        throw new ApiError(e.status, e.code, can('recon') ? `${date} 尚未对账：点击“重新对账”立即对账` : `${date} 尚未对账`);
      }
      throw e;
    }
  }
  showReport(r);
  if (fresh) {
    const open = (r.differences ?? []).filter((d) => d.resolved !== 'adopted').length;
    toast(`${r.date} 对账完成：差异 ${(r.differences ?? []).length} 笔，待处理 ${open} 笔`);
  }
}

function showReport(r) {
  $('#recon-day-date').textContent = r.date;
  $('#recon-day-status').replaceChildren(badge(RECON_STATUS, r.status, 'recon'));
  $('#recon-day-created-at').textContent = formatTime(r.created_at);
  show($('#recon-day-no-statement'), r.status === 'no_statement');
  $('#recon-download').disabled = false;

  const count = (n) => (Number.isSafeInteger(n) ? String(n) : '—');
  const countDelta = (n) => (n === 0 ? '一致' : `${n > 0 ? '+' : ''}${n}`);
  const total = (id, name, wechat, ours, fmt, delta) => el('tr', {
    'data-testid': `recon-total-${id}`, class: wechat !== ours ? 'differs' : undefined,
  }, el('th', { scope: 'row', text: name }), td(fmt(wechat), 'num'), td(fmt(ours), 'num'), td(delta(wechat - ours), 'num'));
  // One channel's rows: WeChat's under the plain names (微信 when there
  // are two bills), Alipay's (when Alipay is configured) under 支付宝 and
  // testids of their own.
  const channelTotals = (t, prefix, id) => [
    total(`${id}payments`, `${prefix}支付笔数`, t.payments, t.our_payments, count, countDelta),
    total(`${id}payments-amount`, `${prefix}支付金额`, t.payments_fen, t.our_payments_fen, formatFen, formatFenDelta),
    total(`${id}refunds`, `${prefix}退款笔数`, t.refunds, t.our_refunds, count, countDelta),
    total(`${id}refunds-amount`, `${prefix}退款金额`, t.refunds_fen, t.our_refunds_fen, formatFen, formatFenDelta),
    el('tr', { 'data-testid': `recon-total-${id}fees` }, el('th', { scope: 'row', text: `${prefix}手续费` }),
      td(formatFeeUnits(t.fee_units), 'num'), td('—', 'num'), td('—', 'num')),
  ];
  const alipay = r.alipay;
  fill($('#recon-totals tbody'), [
    ...channelTotals(r, alipay ? '微信' : '', ''),
    ...(alipay ? channelTotals(alipay, '支付宝', 'alipay-') : []),
  ]);
  show($('#recon-day-alipay-no-statement'), alipay?.status === 'no_statement');
  const pending = ALIPAY_RECON_STATUS[alipay?.status];
  $('#recon-day-alipay-pending').textContent = pending ? `${pending}：${alipay.error || ''}（定时任务会再次对账，也可点击“重新对账”）` : '';
  show($('#recon-day-alipay-pending'), !!pending);
  // With two bills the columns name neither.
  $('#recon-totals-bill').textContent = alipay ? '渠道账单' : '微信支付账单';
  $('#recon-diffs-bill-amount').textContent = alipay ? '账单金额' : '微信金额';
  $('#recon-diffs-bill-state').textContent = alipay ? '账单状态' : '微信状态';

  const diffs = r.differences ?? [];
  const open = diffs.filter((d) => d.resolved !== 'adopted').length;
  $('#recon-diff-count').textContent = diffs.length ? `共 ${diffs.length} 笔，待处理 ${open} 笔` : '';
  // A state in words, with WeChat's or cloudpay's own code beneath.
  const state = (table, v) => {
    if (!v) return td('—');
    const name = label(table, v);
    return el('td', {}, name, name === v ? null : el('div', { class: 'muted mono sub', text: v }));
  };
  fill($('#recon-diffs tbody'), diffs.map((d, i) => {
    const adopted = d.resolved === 'adopted';
    const onlyWeChat = d.kind === 'unknown_payment' || d.kind === 'unknown_refund';
    const onlyOurs = d.kind === 'missing_payment' || d.kind === 'missing_refund';
    const refund = !!d.out_refund_no;
    // An order cloudpay holds (or has just taken in) opens its page.
    const order = d.out_trade_no && (!onlyWeChat || adopted)
      ? el('td', {}, el('a', { href: `#/orders/${enc(d.out_trade_no)}`, class: 'mono', text: d.out_trade_no }))
      : td(d.out_trade_no || '—', 'mono');
    return el('tr', { 'data-testid': `recon-diff-${i + 1}`, 'data-kind': d.kind },
      td(reconKind(d)), order, td(d.transaction_id || '—', 'mono'), td(d.out_refund_no || '—', 'mono'),
      td(onlyOurs ? '—' : formatFen(d.bill_fen ?? d.wechat_fen), 'num'), td(onlyWeChat ? '—' : formatFen(d.our_fen), 'num'),
      state(d.channel === 'alipay' ? ALIPAY_STATE : refund ? WECHAT_REFUND_STATE : WECHAT_PAYMENT_STATE, d.bill_state ?? d.wechat_state),
      state(refund ? REFUND_STATUS : OUR_PAYMENT_STATE, d.our_state),
      el('td', {}, badge(RECON_RESOLVED, adopted ? 'adopted' : 'open', 'recon')), td(d.note || '—'));
  }));
  show($('#recon-diffs-empty'), diffs.length === 0);
}

async function downloadRecon(button) {
  const date = reconDay;
  if (!date) return;
  button.disabled = true;
  try {
    const name = `reconciliation-${date}.csv`;
    await download(`/admin/api/reconciliations/${enc(date)}?format=csv`, name, 'text/csv');
    toast(`已下载 ${name}`);
  } catch (e) {
    if (e.status !== 401) pageError(e);
  } finally {
    button.disabled = false;
  }
}

// ---- 死信通知 ----

async function deadLettersPage() {
  const data = await api('GET', '/admin/api/dead-letters?limit=100');
  const list = data.dead_letters ?? [];
  fill($('#dead-letters-table tbody'), list.map((l) => el('tr', { 'data-testid': `dead-letter-row-${l.id}`, title: l.id },
    el('td', {}, label(EVENT_TYPE, l.type), el('div', { class: 'muted mono', text: l.type })), td(l.subject, 'mono'),
    el('td', {}, badge(EVENT_STATUS, l.status, 'event')), el('td', { class: 'num', 'data-testid': 'attempts', text: String(l.attempts ?? 0) }),
    td(formatTime(l.created_at)), td(formatTime(l.last_attempt_at)), td(l.last_error || '—'),
    el('td', { class: 'actions' }, can('redeliver') ? el('button', {
      type: 'button', class: 'small', 'data-testid': `redeliver-${l.id}`, text: '重新投递', onclick: (ev) => redeliver(l, ev.target),
    }) : '—'))));
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

// ---- 操作日志 ----

const AUDIT_FILTERS = ['actor', 'subject', 'from', 'to'];
const AUDIT_PAGE = 50; // the route's page
let auditParams = null;
let auditBefore = '';

// auditRow is one entry as a table row: time, operator and role, what
// (in words, then the function and route), the subject, the amount, the
// result, and (on the 操作日志 page) the request id.
function auditRow(e, withRequestID) {
  const subjectLink = auditSubjectLink(e);
  const subject = e.subject
    ? el('td', {}, el('a', { href: subjectLink, class: 'mono', text: e.subject }))
    : td('—');
  const actor = withRequestID
    ? el('a', { href: `#/audit?actor=${enc(e.actor ?? '')}`, text: e.actor || '—' })
    : (e.actor || '—');
  return el('tr', {
    'data-testid': 'audit-row', 'data-actor': e.actor ?? '', 'data-subject': e.subject ?? '', 'data-outcome': e.outcome ?? '',
    class: e.outcome === 'done' ? undefined : 'failed',
  },
  td(formatTime(e.at), 'nowrap'),
  el('td', { class: 'nowrap' }, actor, el('div', { class: 'muted sub', text: label(ROLE_NAMES, e.role) })),
  el('td', {}, auditAction(e), el('div', { class: 'muted mono sub', text: `${e.function ?? ''} · ${e.method ?? ''} ${e.route ?? ''}` })),
  subject,
  td(Number.isSafeInteger(e.amount_fen) && e.amount_fen > 0 ? formatFen(e.amount_fen) : '—', 'num'),
  el('td', {}, badge(AUDIT_OUTCOME, e.outcome, 'audit'),
    e.outcome === 'done' ? null : el('div', { class: 'muted mono sub', text: [e.status ? `HTTP ${e.status}` : '', e.code ?? ''].filter(Boolean).join(' · ') })),
  withRequestID ? td(e.request_id || '—', 'mono') : null);
}

async function auditPage(params) {
  const form = $('#audit-search');
  for (const name of AUDIT_FILTERS) form.elements[name].value = params.get(name) ?? '';
  auditParams = params;
  await loadAudit(false);
}

async function loadAudit(append) {
  const q = new URLSearchParams();
  for (const name of AUDIT_FILTERS) {
    const v = auditParams.get(name);
    if (v) q.set(name, v);
  }
  if (append && auditBefore) q.set('before', auditBefore);
  const seq = routeSeq;
  const data = await api('GET', `/admin/api/audit?${q}`);
  if (seq !== routeSeq) return;
  const entries = data?.entries ?? [];
  const rows = entries.map((e) => auditRow(e, true));
  const tbody = $('#audit-table tbody');
  if (append) tbody.append(...rows); else fill(tbody, rows);
  // The next page is what is older than this page's oldest.
  auditBefore = entries.length === AUDIT_PAGE ? entries[entries.length - 1].id : '';
  show($('#audit-more'), !!auditBefore);
  show($('#audit-empty'), tbody.children.length === 0);
}

function searchAudit(ev) {
  ev.preventDefault();
  const form = ev.target;
  const q = new URLSearchParams();
  for (const name of AUDIT_FILTERS) {
    const v = form.elements[name].value.trim();
    if (v) q.set(name, v);
  }
  if (q.get('from') && q.get('to') && q.get('from') > q.get('to')) {
    pageError(new ApiError(400, '', '开始日期不能晚于结束日期'));
    return;
  }
  const hash = `#/audit?${q}`;
  if (location.hash === hash) route(); else location.hash = hash;
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
  $('#shipping-form').addEventListener('submit', submitShipping);
  $('#shipping-logistics').addEventListener('change', showExpressFields);
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
  $('#recon-run-form').addEventListener('submit', (ev) => { ev.preventDefault(); runRecon($('#recon-date').value, $('#recon-run')); });
  $('#recon-download').addEventListener('click', (ev) => downloadRecon(ev.currentTarget));
  $('#recon-rerun').addEventListener('click', (ev) => runRecon(reconDay, ev.currentTarget));
  $('#dead-letters-refresh').addEventListener('click', () => { pageError(null); deadLettersPage().catch(pageError); });
  $('#audit-search').addEventListener('submit', searchAudit);
  $('#audit-search').addEventListener('reset', () => { setTimeout(() => { location.hash = '#/audit'; }); });
  $('#audit-more').addEventListener('click', () => loadAudit(true).catch((e) => { if (e.status !== 401) pageError(e); }));
  window.addEventListener('hashchange', route);
  if (sessionStorage.getItem(TOKEN_KEY)) enterApp(); else showLogin();
}

start();
