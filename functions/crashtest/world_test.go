//go:build linux

package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/storetest"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

const (
	adminToken = "crash-admin-token"
	jobToken   = "crash-job-token"
	subMchID   = "1900000109"
	// requestTimeout bounds one HTTP request of the test (a loaded machine,
	// a WeChat call of up to WECHAT_TIMEOUT inside).
	requestTimeout = 30 * time.Second
	// convergeTimeout bounds the passes that must leave nothing stuck.
	convergeTimeout = 60 * time.Second
)

// Time the job lets pass once a crash is over: close-expired runs with its
// clock this far ahead (crashtool job), so attempt leases (2 min) have run
// out and expired orders are old enough to close (WeChat's 5 min), while
// its sweep still looks at entries older than sweepAfter of real time.
const (
	later      = 6 * time.Minute
	sweepAfter = 300 * time.Millisecond
)

// world is one case's system: its own database on the shared store, its own
// simulator with its state on disk, and its functions, each a process that
// can be killed and restarted on the same port.
type world struct {
	t       testing.TB
	channel string // PAY_CHANNEL of the functions: cloudhosting or v3
	store   mongostore.Config
	db      *mongo.Database
	sim     *proc
	fns     map[string]*proc
	http    *http.Client

	mu      sync.Mutex
	decided map[string]bool // refunds this test reviewed itself (the admin acts once)
	began   time.Time
}

// step logs where a case is, with the time since its world began (go test
// -v shows the phases and what they cost).
func (w *world) step(format string, args ...any) {
	w.t.Helper()
	w.t.Logf("%6.2fs %s", time.Since(w.began).Seconds(), fmt.Sprintf(format, args...))
}

type worldOptions struct {
	channel string
	// settleDelay is how long a new refund stays PROCESSING at the
	// simulator before it succeeds on its own; negative: until the test
	// settles it.
	settleDelay time.Duration
	// retryDelays is the simulator's redelivery schedule of a callback
	// that was not acknowledged ("": none: WeChat's retry is the test's
	// explicit /notify).
	retryDelays string
	// start lists the functions started at once, in order.
	start []string
}

func newWorld(t testing.TB, o worldOptions) *world {
	t.Helper()
	bins := binaries(t)
	if o.channel == "" {
		o.channel = "cloudhosting"
	}
	began := time.Now()
	t.Cleanup(func() { t.Logf("%6.2fs cleaned up", time.Since(began).Seconds()) })
	w := &world{
		began: began, t: t, channel: o.channel, store: storetest.Config(t), fns: map[string]*proc{},
		http:    &http.Client{Timeout: requestTimeout, Transport: &http.Transport{DisableKeepAlives: true}},
		decided: map[string]bool{},
	}
	w.db = mongoClient(t).Database(w.store.Database)
	for _, name := range []string{createPayment, paymentCallback, refundFn, withdrawFn} {
		w.fns[name] = &proc{name: name, bin: filepath.Join(bins, name), port: freePort(t)}
	}
	w.fns[closeExpired] = &proc{name: closeExpired, bin: filepath.Join(bins, crashtool), args: []string{"job"}, port: freePort(t)}
	simPort := freePort(t)
	w.sim = &proc{name: "wechatsim", bin: filepath.Join(bins, crashtool), port: simPort, args: []string{"sim",
		"-addr", "127.0.0.1:" + strconv.Itoa(simPort),
		"-state", filepath.Join(t.TempDir(), "wechatsim.jsonl"),
		"-callback-base", w.fns[paymentCallback].url(),
		"-sub-mch-id", subMchID,
		"-refund-settle-delay", o.settleDelay.String(),
		"-retry-delays", o.retryDelays,
	}}
	t.Cleanup(func() {
		all := []*proc{w.sim}
		for _, p := range w.fns {
			all = append(all, p)
		}
		if t.Failed() {
			for _, p := range all {
				t.Logf("%s output:\n%s", p.name, p.output())
			}
		}
		var wg sync.WaitGroup
		for _, p := range all {
			wg.Go(p.kill)
		}
		wg.Wait()
		w.step("processes killed")
	})
	w.step("store ready")
	w.sim.start(t, []string{"LOG_LEVEL=error"})
	for _, name := range o.start {
		w.startFn(name, "")
	}
	w.step("simulator started")
	return w
}

var mongoOnce struct {
	sync.Once
	c   *mongo.Client
	err error
}

// mongoClient reads the worlds' databases for the checks.
func mongoClient(t testing.TB) *mongo.Client {
	t.Helper()
	uri := storetest.Config(t).URI
	mongoOnce.Do(func() { mongoOnce.c, mongoOnce.err = mongostore.Connect(context.Background(), uri) })
	if mongoOnce.err != nil {
		t.Fatal(mongoOnce.err)
	}
	return mongoOnce.c
}

func (w *world) fn(name string) *proc {
	p := w.fns[name]
	if p == nil {
		w.t.Fatalf("no function %s", name)
	}
	return p
}

// simURL is the simulator's base URL for the functions' clients (WeChat's paths at
// its root); simControl is where its control routes are.
func (w *world) simURL() string     { return w.sim.url() }
func (w *world) simControl() string { return w.sim.url() + wechatsim.ControlPrefix }

// env is the complete environment of a function process: nothing is
// inherited, so the caller's shell cannot change what is tested.
func (w *world) env(name string, extra ...string) []string {
	p := w.fn(name)
	pc := w.fn(paymentCallback).url()
	env := []string{
		"PORT=" + strconv.Itoa(p.port),
		"MONGODB_URI=" + w.store.URI,
		"MONGODB_DATABASE=" + w.store.Database,
		"LOG_LEVEL=warn",
		"SHUTDOWN_TIMEOUT=5s",
		"ADMIN_TOKENS=" + adminToken,
		"JOB_TOKEN=" + jobToken,
		"JOB_TRIGGER=http",
		"PAY_CHANNEL=" + w.channel,
		"WECHAT_SUB_MCH_ID=" + subMchID,
		"CLOUDHOSTING_API_URL=" + w.simURL(),
		"CLOUDHOSTING_ENV_ID=crash-env",
		"WECHAT_TIMEOUT=15s", // a loaded machine: a reply lost to a timeout would change the path under test
		// The simulator's development keys: withdraw transfers with them,
		// payment-callback verifies notifications, close-expired settles
		// withdrawals; on PAY_CHANNEL=v3 every function pays with them.
		"WECHATPAY_MCH_ID=" + wechatsim.DevMchID,
		"WECHATPAY_APPID=" + wechatsim.DefaultAppID,
		"WECHATPAY_MCH_SERIAL=" + wechatsim.DevMerchantSerial,
		"WECHATPAY_PRIVATE_KEY=" + wechatsim.DevMerchantPrivateKeyPEM,
		"WECHATPAY_APIV3_KEY=" + wechatsim.DevAPIv3Key,
		"WECHATPAY_PUBLIC_KEY=" + wechatsim.DevPlatformPublicKeyPEM,
		"WECHATPAY_PUBLIC_KEY_ID=" + wechatsim.DevPublicKeyID,
		"WECHATPAY_API_URL=" + w.simURL(),
		"WECHATPAY_NOTIFY_URL=" + pc + "/callbacks/v3",
		"WECHATPAY_TRANSFER_REPORT_INFOS=活动名称=余额提现;奖励说明=用户提现",
		// Waits that are the merchant's choice, made short: WeChat's own
		// rules (attempt leases, 5 minutes before a close) pass on the
		// job's clock instead (see later).
		"REFUND_MIN_INTERVAL=1ms",
		"JOB_ACTION_SPACING=1ms",
		"JOB_PAY_LATE_AFTER=1ms",
		"JOB_BUDGET=30s",
	}
	return append(env, extra...)
}

// crashEnv arms point in a crashpoints build; after > 1 crashes at that hit.
func crashEnv(point string, after int) []string {
	if point == "" {
		return nil
	}
	env := []string{"CLOUDPAY_CRASH_AT=" + point}
	if after > 1 {
		env = append(env, "CLOUDPAY_CRASH_AFTER="+strconv.Itoa(after))
	}
	return env
}

// startFn starts a function (not the job), armed at point if point is set.
func (w *world) startFn(name, point string) {
	w.t.Helper()
	w.fn(name).start(w.t, w.env(name, crashEnv(point, 1)...))
}

// restart starts a function again, unarmed, after it died (or stops it
// gracefully first).
func (w *world) restart(name string) {
	w.t.Helper()
	w.fn(name).stop()
	if name == closeExpired {
		w.startJob(later, "", 1)
		return
	}
	w.startFn(name, "")
}

// arm restarts a function with point armed.
func (w *world) arm(name, point string) {
	w.t.Helper()
	w.fn(name).stop()
	if name == closeExpired {
		w.startJob(later, point, 1)
		return
	}
	w.startFn(name, point)
}

// startJob (re)starts close-expired with its clock ahead by ahead; its
// sweep leaves entries younger than sweepAfter (of real time) to their
// writers.
func (w *world) startJob(ahead time.Duration, point string, after int) {
	w.t.Helper()
	p := w.fn(closeExpired)
	p.stop()
	p.start(w.t, append(w.jobEnv(ahead, sweepAfter), crashEnv(point, after)...))
}

// jobEnv is close-expired's environment with its clock ahead by ahead and
// a sweep that leaves entries younger than grace (of real time) alone.
func (w *world) jobEnv(ahead, grace time.Duration) []string {
	return w.env(closeExpired, "CRASHTEST_CLOCK_AHEAD="+ahead.String(), "JOB_SWEEP_GRACE="+(ahead+grace).String())
}

// --- HTTP ---

// caller is who makes a request: the merchant's back end, a user, the
// scheduler or nobody (WeChat's side, the simulator's control routes).
type caller map[string]string

var (
	admin     = caller{"Authorization": "Bearer " + adminToken}
	scheduler = caller{"Authorization": "Bearer " + jobToken}
	anyone    = caller{}
)

func user(openid string) caller {
	return caller{"X-WX-OPENID": openid, "X-WX-SOURCE": "wx_client"}
}

type answer struct {
	status int
	body   []byte
	err    error // no answer: the connection failed (the process died)
}

func (a answer) String() string {
	if a.err != nil {
		return "no answer: " + a.err.Error()
	}
	return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body))
}

// decode reads the answer's JSON body into v.
func (a answer) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
}

// call makes one request; a body of nil sends none.
func (w *world) call(method, url string, who caller, body any) answer {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return answer{err: err}
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return answer{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range who {
		req.Header.Set(k, v)
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: raw, err: err}
}

// must makes a request that has to answer one of the statuses.
func (w *world) must(method, url string, who caller, body any, statuses ...int) answer {
	w.t.Helper()
	a := w.call(method, url, who, body)
	if a.err == nil {
		for _, s := range statuses {
			if a.status == s {
				return a
			}
		}
	}
	w.t.Fatalf("%s %s: %s, want %v", method, url, a, statuses)
	return a
}

// fnURL is a route of a function.
func (w *world) fnURL(name, path string) string { return w.fn(name).url() + path }

// --- the merchant, the users and WeChat ---

// createOrder records an order and asks WeChat for its prepay, as the
// merchant's back end and the mini-program do.
func (w *world) createOrder(no, openid string, amount int64, expireMinutes int) {
	w.t.Helper()
	body := map[string]any{"out_trade_no": no, "openid": openid, "amount_fen": amount, "description": "crash test"}
	if expireMinutes > 0 {
		body["expire_minutes"] = expireMinutes
	}
	w.must("POST", w.fnURL(createPayment, "/orders"), admin, body, http.StatusCreated, http.StatusOK)
	w.must("POST", w.fnURL(createPayment, "/payments"), user(openid), map[string]any{"out_trade_no": no}, http.StatusOK)
}

// pay acts as the user paying at WeChat; WeChat then calls back.
func (w *world) pay(no string) answer {
	return w.call("POST", w.simControl()+"/pay", anyone, map[string]any{"out_trade_no": no})
}

// paidOrder makes an order the user has paid and cloudpay has recorded.
func (w *world) paidOrder(no, openid string, amount int64) {
	w.t.Helper()
	w.createOrder(no, openid, amount, 0)
	if a := w.pay(no); a.err != nil || a.status != http.StatusOK {
		w.t.Fatalf("pay %s: %s", no, a)
	}
	w.eventually("order "+no+" paid", func() error {
		var o struct{ Status string }
		w.must("GET", w.fnURL(createPayment, "/orders/"+no), admin, nil, http.StatusOK).decode(w.t, &o)
		if o.Status != "paid" {
			return fmt.Errorf("order %s is %s", no, o.Status)
		}
		return nil
	})
}

// credit puts money in a user's wallet.
func (w *world) credit(openid, id string, amount int64) {
	w.t.Helper()
	w.must("POST", w.fnURL(withdrawFn, "/wallets/"+openid+"/credits"), admin,
		map[string]any{"credit_id": id, "amount_fen": amount}, http.StatusCreated, http.StatusOK)
}

// review approves or rejects a refund request as the merchant's operator;
// the helper remembers it, so the operator never decides twice.
func (w *world) review(no, decision string) answer {
	w.mu.Lock()
	w.decided[no] = true
	w.mu.Unlock()
	return w.call("POST", w.fnURL(refundFn, "/refunds/"+no+"/"+decision), admin, map[string]any{})
}

// pass runs one close-expired pass.
func (w *world) pass() passReport {
	w.t.Helper()
	var r passReport
	w.must("POST", w.fnURL(closeExpired, "/run"), scheduler, nil, http.StatusOK).decode(w.t, &r)
	return r
}

type passReport struct {
	Closed            int `json:"closed"`
	PaidLate          int `json:"paid_late"`
	Repaired          int `json:"repaired"`
	RefundsSynced     int `json:"refunds_synced"`
	RefundsRetried    int `json:"refunds_retried"`
	RefundsGivenUp    int `json:"refunds_given_up"`
	BatchItemsResumed int `json:"batch_items_resumed"`
	WithdrawalsSynced int `json:"withdrawals_synced"`
	Skipped           int `json:"skipped"`
	Errors            []struct {
		Step, Subject, Code, Message string
	} `json:"errors"`
}

// idle reports whether a pass found nothing to do.
func (r passReport) idle() bool {
	return r.Closed+r.PaidLate+r.Repaired+r.RefundsSynced+r.RefundsRetried+r.RefundsGivenUp+
		r.BatchItemsResumed+r.WithdrawalsSynced == 0 && len(r.Errors) == 0
}

// eventually polls check until it passes, failing the test at the deadline.
func (w *world) eventually(what string, check func() error) {
	w.t.Helper()
	deadline := time.Now().Add(requestTimeout)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 250*time.Millisecond) {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: still so after %s: %v", what, requestTimeout, err)
		}
		time.Sleep(wait)
	}
}
