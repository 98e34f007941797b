package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/console"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/operator"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/storetest"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

const (
	adminToken = "test-admin-token"
	subMchID   = "1900000109"
	alice      = "oAlice_0123456789abcdef"
	bob        = "oBob_0123456789abcdef"
)

// stack is cloudpay over real HTTP: the simulator, the create-payment,
// payment-callback and refund handlers, and a fresh database.
type stack struct {
	t           *testing.T
	cfg         mongostore.Config
	store       *mongostore.Store
	sim         *wechatsim.Simulator
	simURL      string
	create      *httptest.Server
	callback    *httptest.Server
	refunds     *httptest.Server
	refund      *refund.Service
	channel     string
	refundCfg   refund.Config
	settleDelay time.Duration // the simulator's RefundSettleDelay
	// withdrawals serves the withdraw function; only on the v3 channel,
	// the one that carries transfers.
	withdrawals *httptest.Server
	withdrawCfg withdraw.Config
	simCfg      func(*wechatsim.Config)
	// jobs serves close-expired; job makes passes directly.
	jobs *httptest.Server
	job  *job.Job
	// receiver is the merchant's back end receiving business events.
	receiver *receiver
	deliver  *outbox.Deliverer
	// callbackHandler is swapped to simulate a restart of payment-callback.
	callbackHandler atomic.Pointer[http.Handler]
	clock           atomic.Pointer[time.Time]
	gwTimeout       time.Duration
	envID           string
}

type stackOption func(*stack)

func withGatewayTimeout(d time.Duration) stackOption { return func(s *stack) { s.gwTimeout = d } }

// withChannel picks the WeChat Pay channel (wechat.CloudHosting by default).
func withChannel(ch string) stackOption { return func(s *stack) { s.channel = ch } }

// withManualRefunds keeps refunds PROCESSING at the simulator until a test settles them.
func withManualRefunds() stackOption { return func(s *stack) { s.settleDelay = -1 } }

func withRefundConfig(cfg refund.Config) stackOption { return func(s *stack) { s.refundCfg = cfg } }

func withWithdrawConfig(cfg withdraw.Config) stackOption {
	return func(s *stack) { s.withdrawCfg = cfg }
}

// withSim adjusts the simulator's configuration.
func withSim(f func(*wechatsim.Config)) stackOption { return func(s *stack) { s.simCfg = f } }

// channels lists the channels every channel-neutral test runs on.
var channels = []string{wechat.CloudHosting, wechat.V3}

// forEachChannel runs a test once per WeChat Pay channel.
func forEachChannel(t *testing.T, test func(t *testing.T, ch string)) {
	for _, ch := range channels {
		t.Run(ch, func(t *testing.T) { test(t, ch) })
	}
}

// withoutEnvID leaves CLOUDHOSTING_ENV_ID unset, as when the environment
// comes from the request's X-WX-ENV.
func withoutEnvID() stackOption { return func(s *stack) { s.envID = "" } }

func newStack(t *testing.T, opts ...stackOption) *stack {
	t.Helper()
	s := &stack{t: t, gwTimeout: 2 * time.Second, envID: "test-env-1a2b3c", channel: wechat.CloudHosting,
		refundCfg:   refund.Config{MinInterval: time.Minute},
		withdrawCfg: withdraw.Config{MinFen: 10, MaxFen: 500_000, DailyCount: 1000, DailyFen: 100_000_000}}
	for _, o := range opts {
		o(s)
	}
	s.cfg = storetest.Config(t)
	var simHandler atomic.Pointer[http.Handler]
	simSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*simHandler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(simSrv.Close)
	s.simURL = simSrv.URL
	s.callback = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*s.callbackHandler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(s.callback.Close)
	simCfg := wechatsim.Config{
		SubMchID:          subMchID,
		Services:          map[string]string{"payment-callback": s.callback.URL},
		RetryDelays:       []time.Duration{time.Hour}, // tests redeliver explicitly
		RefundSettleDelay: s.settleDelay,
	}
	if s.simCfg != nil {
		s.simCfg(&simCfg)
	}
	s.sim = wechatsim.New(simCfg)
	t.Cleanup(s.sim.Close)
	h := s.sim.Handler()
	simHandler.Store(&h)

	s.store = s.openStore()
	svc := s.service(s.store)
	create := httpapi.CreatePayment(svc, httpapi.AdminConfig{Tokens: []string{"old-token", adminToken}},
		httpapi.UserConfig{RequireWXSource: true}, slog.New(slog.DiscardHandler))
	s.create = httptest.NewServer(create)
	t.Cleanup(s.create.Close)
	s.refund = s.refundService(s.store)
	t.Cleanup(s.refund.Close)
	s.receiver = newReceiver(t, s.now)
	s.deliver = s.deliverer()
	s.refunds = httptest.NewServer(httpapi.Refund(s.refund, httpapi.Console{Views: operator.New(s.store), Dead: s.deliver, Page: console.Handler()},
		httpapi.AdminConfig{Tokens: []string{adminToken}},
		httpapi.UserConfig{RequireWXSource: true}, slog.New(slog.DiscardHandler)))
	t.Cleanup(s.refunds.Close)
	if s.channel == wechat.V3 {
		s.withdrawals = httptest.NewServer(httpapi.Withdraw(s.withdrawService(s.store), httpapi.AdminConfig{Tokens: []string{adminToken}},
			httpapi.UserConfig{RequireWXSource: true}, slog.New(slog.DiscardHandler)))
		t.Cleanup(s.withdrawals.Close)
	}
	s.restartCallback()
	s.job = s.newJob(s.deliver)
	s.jobs = httptest.NewServer(httpapi.CloseExpired(s.job, s.deliver, httpapi.JobConfig{Tokens: []string{jobToken}},
		httpapi.AdminConfig{Tokens: []string{adminToken}}, slog.New(slog.DiscardHandler)))
	t.Cleanup(s.jobs.Close)
	return s
}

const notifySecret = "test-notify-secret"

func (s *stack) deliverer() *outbox.Deliverer {
	s.t.Helper()
	d, err := outbox.New(s.openStore(), outbox.Config{URL: s.receiver.srv.URL, Secret: notifySecret, Timeout: 2 * time.Second},
		nil, outbox.WithClock(s.now))
	if err != nil {
		s.t.Fatal(err)
	}
	return d
}

// receiver plays the merchant's back end: it verifies every delivery's
// signature and counts acknowledged deliveries per event.
type receiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	acked map[string]int
	tries map[string]int
	bad   int
	down  atomic.Bool
}

func newReceiver(t *testing.T, now func() time.Time) *receiver {
	r := &receiver{acked: map[string]int{}, tries: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		id := req.Header.Get("X-Cloudpay-Event-Id")
		r.mu.Lock()
		defer r.mu.Unlock()
		// The sender signs with the stack's clock, which tests move.
		if err := outbox.Verify(notifySecret, req.Header.Get(outbox.SignatureHeader), body, now(), 5*time.Minute); err != nil {
			r.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.tries[id]++
		if r.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.acked[id]++
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) counts() (acked, tries map[string]int, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.acked), maps.Clone(r.tries), r.bad
}

const jobToken = "test-job-token"

// newJob builds a close-expired core on its own store connection, as
// another instance would be.
func (s *stack) newJob(deliverer *outbox.Deliverer) *job.Job {
	st := s.openStore()
	opts := []job.Option{job.WithClock(s.now), job.WithOutbox(deliverer)}
	if s.channel == wechat.V3 {
		opts = append(opts, job.WithWithdrawals(s.withdrawService(st)))
	}
	return job.New(st, s.service(st), s.refundService(st), job.Config{Budget: 5 * time.Minute}, opts...)
}

func (s *stack) withdrawService(st *mongostore.Store) *withdraw.Service {
	_, v3 := s.gateway()
	return withdraw.New(st, v3, s.withdrawCfg, withdraw.WithClock(s.now))
}

func (s *stack) openStore() *mongostore.Store {
	s.t.Helper()
	st, err := mongostore.Open(context.Background(), s.cfg)
	if err != nil {
		s.t.Fatalf("open store: %v", err)
	}
	s.t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

// gateway builds the channel's client, as a function would at start-up.
func (s *stack) gateway() (wechat.Channel, *wechatpay.Client) {
	s.t.Helper()
	if s.channel == wechat.V3 {
		c, err := wechatpay.New(context.Background(), wechatpay.Config{
			MchID: wechatsim.DevMchID, AppID: wechatsim.DefaultAppID, MchSerial: wechatsim.DevMerchantSerial,
			PrivateKey: wechatsim.DevMerchantPrivateKeyPEM, APIv3Key: wechatsim.DevAPIv3Key,
			PublicKey: wechatsim.DevPlatformPublicKeyPEM, PublicKeyID: wechatsim.DevPublicKeyID,
			NotifyURL: s.callback.URL + "/callbacks/v3", APIURL: s.simURL, Timeout: s.gwTimeout,
			TransferReportInfos: "活动名称=回收奖励;奖励说明=回收收益提现",
		}, nil)
		if err != nil {
			s.t.Fatalf("v3 client: %v", err)
		}
		return c, c
	}
	return cloudhosting.New(cloudhosting.Config{
		APIURL: s.simURL, SubMchID: subMchID, EnvID: s.envID,
		CallbackService: "payment-callback", CallbackPath: "/callbacks/pay", RefundCallbackPath: "/callbacks/refund",
		Timeout: s.gwTimeout,
	}, nil), nil
}

func (s *stack) service(st *mongostore.Store) *payment.Service {
	gw, _ := s.gateway()
	return payment.New(st, gw, payment.Config{ExpireMinutes: 30, MaxExpireMinutes: 1440},
		payment.WithClock(s.now))
}

func (s *stack) refundService(st *mongostore.Store) *refund.Service {
	gw, _ := s.gateway()
	return refund.New(st, gw, s.refundCfg, refund.WithClock(s.now))
}

func (s *stack) now() time.Time {
	if t := s.clock.Load(); t != nil {
		return *t
	}
	return time.Now()
}

func (s *stack) advance(d time.Duration) {
	t := s.now().Add(d)
	s.clock.Store(&t)
}

// restartCallback replaces payment-callback with a new instance on a new
// store connection, as a redeployed or rescheduled function would be.
func (s *stack) restartCallback() {
	st := s.openStore()
	cb := httpapi.Callbacks{Payments: s.service(st), Refunds: s.refundService(st)}
	if _, v3 := s.gateway(); v3 != nil {
		cb.V3 = v3
		cb.Withdrawals = s.withdrawService(st)
	}
	h := httpapi.PaymentCallback(cb, slog.New(slog.DiscardHandler))
	s.callbackHandler.Store(&h)
}

type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r response) errorCode() string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (r response) errorField() string {
	e, _ := r.body["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

func (s *stack) do(method, url string, body any, header map[string]string) response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func admin() map[string]string { return map[string]string{"Authorization": "Bearer " + adminToken} }

func user(openid string) map[string]string {
	return map[string]string{"X-WX-OPENID": openid, "X-WX-SOURCE": "wx_client", "X-Forwarded-For": "203.0.113.7, 10.0.0.1"}
}

func (s *stack) createOrder(no string, openid string, fen int64) response {
	s.t.Helper()
	r := s.do("POST", s.create.URL+"/orders", map[string]any{
		"out_trade_no": no, "openid": openid, "amount_fen": fen, "description": "course fee",
	}, admin())
	if r.status != http.StatusCreated {
		s.t.Fatalf("create order %s: %d %s", no, r.status, r.raw)
	}
	return r
}

func (s *stack) createPayment(no, openid string) response {
	return s.do("POST", s.create.URL+"/payments", map[string]any{"out_trade_no": no}, user(openid))
}

func (s *stack) status(no, openid string) response {
	return s.do("GET", s.create.URL+"/payments/"+no, nil, user(openid))
}

// simPost calls a simulator control route.
func (s *stack) simPost(path string, body any) response {
	return s.do("POST", s.simURL+path, body, nil)
}

func (s *stack) fault(api, mode string, count int, extra map[string]any) {
	s.t.Helper()
	body := map[string]any{"api": api, "mode": mode, "count": count}
	for k, v := range extra {
		body[k] = v
	}
	if r := s.simPost("/faults", body); r.status >= 300 {
		s.t.Fatalf("add fault: %d %s", r.status, r.raw)
	}
}

func (s *stack) order(no string) cloudpay.Order {
	s.t.Helper()
	o, err := s.store.Order(context.Background(), no)
	if err != nil {
		s.t.Fatalf("load order %s: %v", no, err)
	}
	return o
}

func (s *stack) count(collection string) int64 {
	s.t.Helper()
	n, err := s.store.Database().Collection(collection).CountDocuments(context.Background(), map[string]any{})
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

func (s *stack) events(no string) []cloudpay.Event {
	s.t.Helper()
	evs, err := s.store.Events(context.Background(), no)
	if err != nil {
		s.t.Fatal(err)
	}
	return evs
}

// simCalls counts the calls the simulator received for one API.
func (s *stack) simCalls(api string) []map[string]any {
	s.t.Helper()
	r := s.do("GET", s.simURL+"/calls?api="+api, nil, nil)
	list, _ := r.body["calls"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, c := range list {
		m, _ := c.(map[string]any)
		out = append(out, m)
	}
	return out
}

func callbackOK(r response) bool {
	cb, _ := r.body["callback"].(map[string]any)
	ok, _ := cb["ok"].(bool)
	return ok
}

// payWithCallbackHeld creates an order and its payment, and has the user pay
// while WeChat's callback is lost: WeChat says paid, cloudpay has not heard.
// It returns the simulator's answer and the genuine callback body.
func (s *stack) payWithCallbackHeld(no, openid string, fen int64) (response, map[string]any) {
	s.t.Helper()
	s.createOrder(no, openid, fen)
	if r := s.createPayment(no, openid); r.status != http.StatusOK {
		s.t.Fatalf("create payment %s: %d %s", no, r.status, r.raw)
	}
	s.fault(s.payCallbackKind(), "drop", 1, nil)
	paid := s.simPost("/pay", map[string]any{"out_trade_no": no})
	cb, _ := paid.body["callback"].(map[string]any)
	body, _ := cb["body"].(map[string]any)
	if paid.status != http.StatusOK || cb["dropped"] != true {
		s.t.Fatalf("pay %s with the callback held: %d %s", no, paid.status, paid.raw)
	}
	if s.channel == wechat.CloudHosting && body["outTradeNo"] != no {
		s.t.Fatalf("pay %s: callback body %v", no, body)
	}
	return paid, body
}

// payCallbackKind names the simulator's pay result delivery on the channel.
func (s *stack) payCallbackKind() string {
	if s.channel == wechat.V3 {
		return "v3_notify"
	}
	return "pay_callback"
}
