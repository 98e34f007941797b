// walk.mjs drives the unmodified npm SDK wechatpay-axios-plugin (pinned in package.json)
// through a whole merchant walk against the WeChat Pay simulator, as a Node merchant
// back end would: prepay, query, close, pay (as the user, through the simulator's control
// route), the signed and encrypted notifications (verified and decrypted with the SDK's
// own Rsa/Formatter/Aes helpers), refund, refund query, and a transfer bill whose
// user_name the SDK encrypts with the WeChat Pay public key. Every SDK response is
// verified by the SDK itself (its certs hold the WeChat Pay public key); the walk also
// shows that the SDK refuses a response signed under an unknown serial, by another key,
// or tampered with on the way, and that the notification verifier refuses the
// simulator's forged notifications.
//
// shared/wechatsim/sdkwalk_test.go runs it (`node walk.mjs`) with:
//
//	SIM_ROOT         the simulator's root URL (its control routes are SIM_ROOT/sim/...)
//	SIM_BASE         the SDK's base URL: SIM_ROOT, or SIM_ROOT/sim (WeChat's paths under a prefix)
//	SIM_TAMPER_BASE  optional: SIM_BASE on a proxy that rewrites "trade_state":"NOTPAY" to SUCCESS
//	WALK_ID          prefix of the walk's out_trade_no, out_refund_no and out_bill_no
//	WALK_USER_NAME   the transfer's user_name (encrypted by the SDK)
//	WALK_TIMEOUT_MS  how long to wait for one notification (default 60000)
//
// It prints one JSON summary line on stdout (each step's observed state) and exits 0; on
// a failure it prints the summary so far with "error" set and exits 1. Diagnostics go to
// stderr.

import http from 'node:http';
import { createRequire } from 'node:module';

import wechatpay from 'wechatpay-axios-plugin';

const { Wechatpay, Rsa, Aes, Formatter } = wechatpay;
const sdkVersion = createRequire(import.meta.url)('wechatpay-axios-plugin/package.json').version;

function need(name, fallback) {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') throw new Error(`environment variable ${name} is not set`);
  return v;
}
const trim = (u) => u.replace(/\/+$/, '');

const ROOT = trim(need('SIM_ROOT'));
const BASE = trim(need('SIM_BASE'));
const TAMPER = trim(process.env.SIM_TAMPER_BASE || '');
const CTL = `${ROOT}/sim`; // the simulator's control routes, whatever BASE is
const ID = need('WALK_ID');
const USER_NAME = need('WALK_USER_NAME', '张三丰');
const WAIT_MS = Number(need('WALK_TIMEOUT_MS', '60000'));

// Numbers and amounts; sdkwalk_test.go derives the same from WALK_ID.
const PAY_NO = `${ID}PAY`; // prepaid, paid, partly refunded
const CLOSE_NO = `${ID}CLS`; // prepaid, closed
const REFUND_NO = `${ID}RF1`;
const BILL_NO = `${ID}TB1`;
const MISSING_NO = `${ID}NONE`;
const TOTAL = 100;
const REFUND = 40;
const TRANSFER = 30;
const PAYER = 'oSDKWalkPayer0000000000001';
const MAX_SKEW = 300; // seconds, as the SDK allows for responses

const summary = { sdk: `wechatpay-axios-plugin@${sdkVersion}`, node: process.version, base: BASE, id: ID, steps: {} };
const log = (...a) => console.error('[walk]', ...a);

class WalkError extends Error {}
function check(cond, msg) {
  if (!cond) throw new WalkError(msg);
}

// describe renders an SDK (axios) error: its code, HTTP status and body.
function describe(e) {
  const r = e && e.response;
  const body = r && r.data !== undefined ? (typeof r.data === 'string' ? r.data : JSON.stringify(r.data)) : '';
  return `${e && e.code ? `${e.code}: ` : ''}${e && e.message}${r && r.status ? ` (HTTP ${r.status} ${body})` : ''}`;
}

// control calls a simulator control route with a plain fetch (not the SDK): acting as the user.
async function control(method, path, body) {
  const res = await fetch(CTL + path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  check(res.ok, `${method} ${CTL}${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// --- The merchant's notification endpoint -------------------------------------------------

// verifyNotification does what a merchant's notify handler must, with the SDK's helpers:
// the Wechatpay-* headers name a known key, are fresh, and sign the body; the resource
// decrypts under the APIv3 key. It returns {ok, reason, ...}.
function verifyNotification(headers, body, certs, apiv3Key) {
  const ts = headers['wechatpay-timestamp'];
  const nonce = headers['wechatpay-nonce'];
  const signature = headers['wechatpay-signature'];
  const serial = headers['wechatpay-serial'];
  if (!ts || !nonce || !signature || !serial) return { ok: false, reason: 'headers' };
  if (!Object.prototype.hasOwnProperty.call(certs, serial)) return { ok: false, reason: 'unknown_serial', serial };
  if (!/^\d+$/.test(ts) || Math.abs(Formatter.timestamp() - Number(ts)) > MAX_SKEW) return { ok: false, reason: 'stale', serial };
  let verified = false;
  try {
    verified = Rsa.verify(Formatter.joinedByLineFeed(ts, nonce, body), signature, certs[serial]);
  } catch (e) {
    verified = false;
  }
  if (!verified) return { ok: false, reason: 'signature', serial };
  let env;
  try {
    env = JSON.parse(body);
  } catch (e) {
    return { ok: false, reason: 'json', serial };
  }
  const r = env.resource || {};
  if (r.algorithm !== 'AEAD_AES_256_GCM') return { ok: false, reason: 'algorithm', serial };
  let content;
  try {
    content = JSON.parse(Aes.AesGcm.decrypt(r.ciphertext, apiv3Key, r.nonce, r.associated_data || ''));
  } catch (e) {
    return { ok: false, reason: 'decrypt', serial };
  }
  return {
    ok: true, serial, id: env.id, event_type: env.event_type, resource_type: env.resource_type,
    summary: env.summary, original_type: r.original_type, associated_data: r.associated_data, content,
  };
}

class NotifySink {
  constructor(certs, apiv3Key) {
    this.certs = certs;
    this.apiv3Key = apiv3Key;
    this.got = [];
    this.waiters = new Set(); // pending waits: {look, timer, reject}
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  async listen() {
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', resolve);
    });
    this.base = `http://127.0.0.1:${this.server.address().port}`;
  }

  url(path) { return this.base + path; }

  handle(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const v = verifyNotification(req.headers, body, this.certs, this.apiv3Key);
      const rec = { path: req.url, method: req.method, ...v };
      this.got.push(rec);
      log(`notification ${req.method} ${req.url}: ${v.ok ? `accepted ${v.event_type}` : `rejected (${v.reason})`}`);
      if (v.ok) {
        res.writeHead(204).end();
      } else {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ code: 'FAIL', message: `verification failed: ${v.reason}` }));
      }
      for (const w of [...this.waiters]) w.look();
    });
  }

  // wait resolves with the first notification on path that pred accepts (already received
  // or to come), and rejects after WAIT_MS or when one on path failed verification.
  // The promise is marked handled at once, so a walk that fails before awaiting it does
  // not also crash on an unhandled rejection; close() ends the waits still pending.
  wait(path, pred, what) {
    const p = new Promise((resolve, reject) => {
      const w = { reject };
      const done = () => {
        this.waiters.delete(w);
        clearTimeout(w.timer);
      };
      w.look = () => {
        const bad = this.got.find((g) => g.path === path && !g.ok);
        const hit = this.got.find((g) => g.path === path && g.ok && pred(g));
        if (!hit && !bad) return;
        done();
        if (hit) resolve(hit);
        else reject(new WalkError(`${what}: a notification on ${path} failed verification (${bad.reason})`));
      };
      w.timer = setTimeout(() => {
        done();
        reject(new WalkError(`${what}: no notification on ${path} within ${WAIT_MS} ms (got ${JSON.stringify(this.got.map((g) => [g.path, g.ok, g.event_type || g.reason]))})`));
      }, WAIT_MS);
      this.waiters.add(w);
      w.look();
    });
    p.catch(() => {});
    return p;
  }

  close() {
    for (const w of [...this.waiters]) {
      clearTimeout(w.timer);
      this.waiters.delete(w);
      w.reject(new WalkError('the walk ended'));
    }
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

// --- The walk --------------------------------------------------------------------------

let verifiedResponses = 0;
let expectedSerial = ''; // the WeChat Pay public key id every response must be signed under

// call runs one SDK request; the SDK verified the response if it resolves.
async function call(step, fn) {
  let res;
  try {
    res = await fn();
  } catch (e) {
    throw new WalkError(`${step}: the SDK call failed: ${describe(e)}`);
  }
  check(res.headers['wechatpay-serial'] === expectedSerial, `${step}: Wechatpay-Serial ${res.headers['wechatpay-serial']}, want ${expectedSerial}`);
  verifiedResponses += 1;
  log(`${step}: HTTP ${res.status}`);
  return res;
}

// refused runs an SDK request that must fail with the SDK error code want.
async function refused(step, want, fn) {
  let res;
  try {
    res = await fn();
  } catch (e) {
    check(e.code === want, `${step}: want the SDK to refuse with ${want}, got ${describe(e)}`);
    log(`${step}: refused by the SDK: ${e.code}`);
    return e;
  }
  throw new WalkError(`${step}: the SDK accepted the response (HTTP ${res.status} ${JSON.stringify(res.data)}); want ${want}`);
}

async function walk(sink) {
  const S = summary.steps;

  // The development keys, as a developer would copy them from GET /sim/devkeys.
  const keys = await control('GET', '/devkeys');
  S.devkeys = { mchid: keys.mchid, appid: keys.appid, public_key_id: keys.wechatpay_public_key_id, custom: keys.custom };
  check(keys.mchid && keys.merchant_private_key && keys.wechatpay_public_key && keys.apiv3_key, 'devkeys: incomplete key set');
  const certs = { [keys.wechatpay_public_key_id]: Rsa.from(keys.wechatpay_public_key, Rsa.KEY_TYPE_PUBLIC) };
  sink.certs = certs;
  sink.apiv3Key = keys.apiv3_key;
  const publicKey = certs[keys.wechatpay_public_key_id];
  expectedSerial = keys.wechatpay_public_key_id;

  const client = (baseURL, clientCerts) => new Wechatpay({
    mchid: keys.mchid,
    serial: keys.merchant_serial,
    privateKey: keys.merchant_private_key,
    certs: clientCerts,
    baseURL,
    proxy: false, // talk to the simulator directly whatever HTTP(S)_PROXY says
    timeout: 30000,
  });
  const wxpay = client(BASE, { [keys.wechatpay_public_key_id]: keys.wechatpay_public_key });
  const { mchid, appid } = keys;
  const orderByNo = (no, config = {}) => wxpay.v3.pay.transactions.outTradeNo.$out_trade_no$.get({ params: { mchid }, out_trade_no: no, ...config });

  // 1. Prepay (JSAPI) with a notify_url on this script's server.
  const prepayBody = (no) => ({
    appid, mchid, description: 'cloudpay SDK walk', out_trade_no: no, attach: `walk:${no}`,
    notify_url: sink.url('/notify/pay'), amount: { total: TOTAL, currency: 'CNY' }, payer: { openid: PAYER },
  });
  let res = await call('prepay', () => wxpay.v3.pay.transactions.jsapi.post(prepayBody(PAY_NO)));
  S.prepay = { status: res.status, out_trade_no: PAY_NO, prepay_id: res.data.prepay_id, serial: res.headers['wechatpay-serial'] };
  check(/^wx\w{30}$/.test(res.data.prepay_id || ''), `prepay: prepay_id ${res.data.prepay_id}`);
  check(S.prepay.serial === keys.wechatpay_public_key_id, `prepay: Wechatpay-Serial ${S.prepay.serial}`);

  // 2. Query it by out_trade_no.
  res = await call('query', () => orderByNo(PAY_NO));
  S.query = { status: res.status, trade_state: res.data.trade_state, out_trade_no: res.data.out_trade_no };
  check(res.data.trade_state === 'NOTPAY' && res.data.out_trade_no === PAY_NO, `query: ${JSON.stringify(res.data)}`);

  // 3. A second order, closed, then queried.
  res = await call('prepay_second', () => wxpay.v3.pay.transactions.jsapi.post(prepayBody(CLOSE_NO)));
  check(res.data.prepay_id, 'prepay_second: no prepay_id');
  res = await call('close', () => wxpay.v3.pay.transactions.outTradeNo.$out_trade_no$.close.post({ mchid }, { out_trade_no: CLOSE_NO }));
  S.close = { status: res.status, out_trade_no: CLOSE_NO };
  check(res.status === 204, `close: HTTP ${res.status}, want 204`);
  res = await call('query_closed', () => orderByNo(CLOSE_NO));
  S.query_closed = { status: res.status, trade_state: res.data.trade_state };
  check(res.data.trade_state === 'CLOSED', `query_closed: ${res.data.trade_state}`);

  // 4. The SDK's error handling: an unknown order is a rejected promise with WeChat's error body.
  try {
    await orderByNo(MISSING_NO);
    throw new WalkError('query_missing: the SDK resolved a query of an unknown order');
  } catch (e) {
    if (e instanceof WalkError) throw e;
    S.query_missing = { status: e.response && e.response.status, code: e.response && e.response.data && e.response.data.code };
    check(S.query_missing.status === 404 && S.query_missing.code === 'ORDER_NOT_EXIST', `query_missing: ${describe(e)}`);
  }

  // 5. Response verification is on: the SDK refuses a response it cannot verify.
  S.refusals = {};
  // certs that do not name the simulator's key (its Wechatpay-Serial is unknown to the SDK)
  const stranger = client(BASE, { PUB_KEY_ID_0000000000000000000000000000000000: keys.wechatpay_public_key });
  let e = await refused('refuse_unknown_serial', 'EV3_RES_HEADER_PLATFORM_SERIAL', () => stranger.v3.pay.transactions.outTradeNo.$out_trade_no$.get({ params: { mchid }, out_trade_no: PAY_NO }));
  S.refusals.unknown_serial = e.code;
  // the right serial, the wrong key (the platform certificate's)
  const wrongKey = client(BASE, { [keys.wechatpay_public_key_id]: keys.platform_certificate });
  e = await refused('refuse_wrong_key', 'EV3_RES_HEADER_SIGNATURE_DIGEST', () => wrongKey.v3.pay.transactions.outTradeNo.$out_trade_no$.get({ params: { mchid }, out_trade_no: PAY_NO }));
  S.refusals.wrong_key = e.code;
  if (TAMPER) {
    // the very client of the walk, through a proxy that claims the unpaid order is paid
    e = await refused('refuse_tampered', 'EV3_RES_HEADER_SIGNATURE_DIGEST', () => orderByNo(PAY_NO, { baseURL: TAMPER }));
    const raw = String(e.response && e.response.data);
    check(raw.includes('"trade_state":"SUCCESS"'), `refuse_tampered: the proxy did not tamper: ${raw}`);
    S.refusals.tampered = e.code;
    S.refusals.tampered_body_claimed = 'SUCCESS';
  }

  // 6. Forged notifications (the simulator's /sim/forge): the verifier refuses every one.
  const forgeKinds = {
    bad_signature: 'signature', signtest: 'signature', stale: 'stale', tampered: 'signature',
    unknown_serial: 'unknown_serial', bad_resource: 'decrypt',
  };
  S.forged = {};
  for (const [kind, reason] of Object.entries(forgeKinds)) {
    const path = `/notify/forged/${kind}`;
    const d = await control('POST', '/forge', { kind, out_trade_no: PAY_NO, url: sink.url(path) });
    const got = sink.got.filter((g) => g.path === path);
    check(got.length === 1, `forge ${kind}: ${got.length} notifications reached ${path}`);
    check(!got[0].ok && got[0].reason === reason, `forge ${kind}: the verifier said ${got[0].ok ? 'ok' : got[0].reason}, want ${reason}`);
    check(d.status === 401 && !d.ok, `forge ${kind}: the simulator saw HTTP ${d.status} ok=${d.ok}`);
    S.forged[kind] = { reason: got[0].reason, status: d.status };
  }
  res = await call('query_after_forgeries', () => orderByNo(PAY_NO));
  check(res.data.trade_state === 'NOTPAY', `query_after_forgeries: ${res.data.trade_state}`);

  // 7. The user pays (control route, not the SDK); TRANSACTION.SUCCESS arrives.
  const paid = sink.wait('/notify/pay', (g) => g.event_type === 'TRANSACTION.SUCCESS' && g.content.out_trade_no === PAY_NO, 'pay notification');
  const pay = await control('POST', '/pay', { out_trade_no: PAY_NO });
  const n1 = await paid;
  S.pay = { trade_state: pay.trade_state, transaction_id: pay.transaction_id, callback_ok: pay.callback && pay.callback.ok };
  S.pay_notification = {
    verified: true, serial: n1.serial, event_type: n1.event_type, resource_type: n1.resource_type, original_type: n1.original_type,
    trade_state: n1.content.trade_state, out_trade_no: n1.content.out_trade_no, transaction_id: n1.content.transaction_id,
    total: n1.content.amount && n1.content.amount.total, payer_openid: n1.content.payer && n1.content.payer.openid, attach: n1.content.attach,
  };
  check(n1.content.trade_state === 'SUCCESS' && n1.content.transaction_id === pay.transaction_id, `pay notification: ${JSON.stringify(n1.content)}`);

  res = await call('query_paid', () => orderByNo(PAY_NO));
  S.query_paid = { status: res.status, trade_state: res.data.trade_state, transaction_id: res.data.transaction_id };
  check(res.data.trade_state === 'SUCCESS' && res.data.transaction_id === pay.transaction_id, `query_paid: ${JSON.stringify(res.data)}`);
  res = await call('query_by_transaction_id', () => wxpay.v3.pay.transactions.id.$transaction_id$.get({ params: { mchid }, transaction_id: pay.transaction_id }));
  S.query_by_transaction_id = { status: res.status, trade_state: res.data.trade_state, out_trade_no: res.data.out_trade_no };
  check(res.data.out_trade_no === PAY_NO && res.data.trade_state === 'SUCCESS', `query_by_transaction_id: ${JSON.stringify(res.data)}`);

  // 8. Refund part of it; REFUND.SUCCESS arrives; the refund query agrees.
  const refunded = sink.wait('/notify/refund', (g) => g.event_type === 'REFUND.SUCCESS' && g.content.out_refund_no === REFUND_NO, 'refund notification');
  res = await call('refund', () => wxpay.v3.refund.domestic.refunds.post({
    out_trade_no: PAY_NO, out_refund_no: REFUND_NO, reason: 'SDK walk', notify_url: sink.url('/notify/refund'),
    amount: { refund: REFUND, total: TOTAL, currency: 'CNY' },
  }));
  S.refund = { status: res.status, refund_status: res.data.status, refund_id: res.data.refund_id, refund: res.data.amount && res.data.amount.refund };
  check(['PROCESSING', 'SUCCESS'].includes(res.data.status) && res.data.refund_id, `refund: ${JSON.stringify(res.data)}`);
  res = await call('refund_query', () => wxpay.v3.refund.domestic.refunds.$out_refund_no$.get({ out_refund_no: REFUND_NO }));
  S.refund_query = { status: res.status, refund_status: res.data.status };
  check(['PROCESSING', 'SUCCESS'].includes(res.data.status), `refund_query: ${res.data.status}`);
  const n2 = await refunded;
  S.refund_notification = {
    verified: true, serial: n2.serial, event_type: n2.event_type, original_type: n2.original_type,
    refund_status: n2.content.refund_status, out_refund_no: n2.content.out_refund_no, refund_id: n2.content.refund_id,
    refund: n2.content.amount && n2.content.amount.refund,
  };
  check(n2.content.refund_status === 'SUCCESS' && n2.content.refund_id === S.refund.refund_id, `refund notification: ${JSON.stringify(n2.content)}`);
  res = await call('refund_query_settled', () => wxpay.v3.refund.domestic.refunds.$out_refund_no$.get({ out_refund_no: REFUND_NO }));
  S.refund_query_settled = { status: res.status, refund_status: res.data.status, success_time: res.data.success_time };
  check(res.data.status === 'SUCCESS', `refund_query_settled: ${res.data.status}`);
  res = await call('query_refunded', () => orderByNo(PAY_NO));
  S.query_refunded = { status: res.status, trade_state: res.data.trade_state };
  check(res.data.trade_state === 'REFUND', `query_refunded: ${res.data.trade_state}, want REFUND (转入退款)`);

  // 9. A transfer bill: user_name encrypted by the SDK with the WeChat Pay public key,
  //    Wechatpay-Serial naming it; the user confirms; MCHTRANSFER.BILL.FINISHED arrives.
  const finished = sink.wait('/notify/transfer', (g) => g.event_type === 'MCHTRANSFER.BILL.FINISHED' && g.content.out_bill_no === BILL_NO, 'transfer notification');
  res = await call('transfer', () => wxpay.v3.fundApp.mchTransfer.transferBills.post({
    appid, out_bill_no: BILL_NO, transfer_scene_id: '1000', openid: PAYER, user_name: Rsa.encrypt(USER_NAME, publicKey),
    transfer_amount: TRANSFER, transfer_remark: 'SDK walk reward', notify_url: sink.url('/notify/transfer'),
    transfer_scene_report_infos: [
      { info_type: '活动名称', info_content: 'SDK walk' },
      { info_type: '奖励说明', info_content: 'walk reward' },
    ],
  }, { headers: { 'Wechatpay-Serial': keys.wechatpay_public_key_id } }));
  S.transfer = { status: res.status, state: res.data.state, transfer_bill_no: res.data.transfer_bill_no, package_info: Boolean(res.data.package_info) };
  check(res.data.state === 'WAIT_USER_CONFIRM' && res.data.package_info, `transfer: ${JSON.stringify(res.data)}`);
  const byBillNo = () => wxpay.v3.fundApp.mchTransfer.transferBills.outBillNo.$out_bill_no$.get({ out_bill_no: BILL_NO });
  res = await call('transfer_query', byBillNo);
  S.transfer_query = { status: res.status, state: res.data.state };
  check(res.data.state === 'WAIT_USER_CONFIRM', `transfer_query: ${res.data.state}`);
  const confirm = await control('POST', `/transfers/${BILL_NO}/confirm`);
  S.transfer_confirm = { state: confirm.state, callback_ok: confirm.callback && confirm.callback.ok };
  const n3 = await finished;
  S.transfer_notification = {
    verified: true, serial: n3.serial, event_type: n3.event_type, original_type: n3.original_type,
    state: n3.content.state, out_bill_no: n3.content.out_bill_no, transfer_bill_no: n3.content.transfer_bill_no,
    transfer_amount: n3.content.transfer_amount,
  };
  check(n3.content.state === 'SUCCESS' && n3.content.transfer_bill_no === S.transfer.transfer_bill_no, `transfer notification: ${JSON.stringify(n3.content)}`);
  res = await call('transfer_query_final', byBillNo);
  S.transfer_query_final = { status: res.status, state: res.data.state };
  check(res.data.state === 'SUCCESS', `transfer_query_final: ${res.data.state}`);
  res = await call('transfer_query_by_id', () => wxpay.v3.fundApp.mchTransfer.transferBills.transferBillNo.$transfer_bill_no$.get({ transfer_bill_no: S.transfer.transfer_bill_no }));
  S.transfer_query_by_id = { status: res.status, state: res.data.state, out_bill_no: res.data.out_bill_no };
  check(res.data.out_bill_no === BILL_NO && res.data.state === 'SUCCESS', `transfer_query_by_id: ${JSON.stringify(res.data)}`);

  summary.verified_responses = verifiedResponses;
  summary.notifications = sink.got.map((g) => ({ path: g.path, ok: g.ok, reason: g.reason, event_type: g.event_type }));
}

async function main() {
  const sink = new NotifySink({}, '');
  await sink.listen();
  let code = 0;
  try {
    await walk(sink);
    summary.ok = true;
  } catch (err) {
    summary.ok = false;
    summary.error = err instanceof WalkError ? err.message : (err && err.stack) || String(err);
    code = 1;
  } finally {
    await sink.close();
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = code;
}

main();
