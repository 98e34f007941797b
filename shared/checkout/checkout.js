// cloudpay checkout page. Plain ES module, no build step, no third-party
// code; the page's CSP allows no inline script. It counts down to the QR
// code's expiry and asks the order's status route every two seconds, and
// turns to 支付成功 or 已过期 without a reload.

const POLL_MS = 2000;
const TITLES = { pending: document.title, paid: '支付成功', expired: '已过期' };

// formatRemaining shows a time left as m:ss (h:mm:ss from an hour), never
// below 0:00.
export function formatRemaining(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

// show puts the page in a state: one of pending, paid, expired.
function show(root, state) {
  root.dataset.state = state;
  for (const name of Object.keys(TITLES)) {
    document.getElementById(`state-${name}`).hidden = name !== state;
  }
  document.title = TITLES[state];
}

function start(root) {
  const statusURL = root.dataset.statusUrl;
  const deadline = performance.now() + Number(root.dataset.remainingMs || 0);
  const countdown = document.getElementById('countdown');
  const network = document.getElementById('network');
  // final: the server said paid or expired, and the page changes no more.
  let final = false;

  const tick = () => {
    const left = deadline - performance.now();
    countdown.textContent = formatRemaining(left);
    // The QR code can no longer be paid; polling goes on, since a payment
    // made at the last moment may be recorded after.
    if (left <= 0 && !final && root.dataset.state === 'pending') show(root, 'expired');
  };
  const clock = setInterval(tick, 1000);
  tick();

  const settle = (state) => {
    final = true;
    clearInterval(clock);
    show(root, state);
  };

  const poll = async () => {
    try {
      const r = await fetch(statusURL, { cache: 'no-store', credentials: 'omit', headers: { Accept: 'application/json' } });
      // 404: the link has expired, so there is nothing more to learn.
      if (r.status === 404) return settle('expired');
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const s = await r.json();
      network.hidden = true;
      if (s.paid) return settle('paid');
      if (s.expired) return settle('expired');
    } catch (e) {
      network.hidden = false;
      console.warn('checkout status:', e);
    } finally {
      if (!final) setTimeout(poll, POLL_MS);
    }
  };
  setTimeout(poll, POLL_MS);
}

const root = document.getElementById('checkout');
if (root?.dataset.state === 'pending') start(root);
