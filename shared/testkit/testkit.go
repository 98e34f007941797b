// Package testkit gives a test the whole of cloudpay: its own database
// (storetest), the WeChat Pay simulator over real HTTP, a settable clock,
// and every function built by shared/app from its config struct, as the
// mains build them, each on its own httptest.Server. Rule tests call the
// functions' services (s.Payments, s.Refunds, s.Withdrawals, s.Job,
// s.Outbox); HTTP tests call their URLs with s.Do. Both share the fixtures
// (Paid, Fault, Settle, Order, Events, …). Each stack is private to its
// test, so every such test can be parallel:
//
//	func TestPartialRefund(t *testing.T) {
//		t.Parallel()
//		testkit.ForEachChannel(t, func(t *testing.T, ch string) {
//			s := testkit.New(t, testkit.Channel(ch), testkit.ManualRefunds())
//			s.Paid("ORDER0001", testkit.Alice, 500)
//			r, _, err := s.Refunds.Create(ctx, refund.NewRefund{OutTradeNo: "ORDER0001", AmountFen: 200, IdempotencyKey: "k1"})
//			// check err, then:
//			s.Settle(r.OutRefundNo, "SUCCESS")
//			if o := s.Order("ORDER0001"); o.Status != cloudpay.OrderPartiallyRefunded { … }
//		})
//	}
package testkit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/alipay"
	"github.com/cloudpay/cloudpay/shared/alipaysim"
	"github.com/cloudpay/cloudpay/shared/app"
	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/miniapp"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/shipping"
	"github.com/cloudpay/cloudpay/shared/storetest"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// What the stack is configured with, for tests to present or compare.
const (
	AdminToken = "test-admin-token"
	// OldAdminToken is a second admin token that create-payment alone
	// still accepts, as while rotating tokens.
	OldAdminToken = "old-token"
	JobToken      = "test-job-token"
	NotifySecret  = "test-notify-secret"
	SubMchID      = "1900000109"      // the Cloud Hosting merchant
	EnvID         = "test-env-1a2b3c" // CLOUDHOSTING_ENV_ID, unless WithoutEnvID
	Alice         = "oAlice_0123456789abcdef"
	Bob           = "oBob_0123456789abcdef"
)

// Patience is how long a test waits for what it cannot hurry: a condition
// polled by Eventually, a callback the simulator delivers, a step of a job
// pass. It is sized for a loaded machine (every test in parallel, under
// -race, on 2 cores): a correct but slow system makes a test slower,
// never fail.
const Patience = 5 * time.Minute

// FaultTimeout is the gateway timeout for tests that inject "timeout"
// faults: short, since every such call lasts this long (holding one of
// the few parallel test slots), yet tens of times what a healthy call
// takes under -race on a loaded machine, where only the injected fault
// may time out.
const FaultTimeout = 2 * time.Second

// Channels are the WeChat Pay channels every channel-neutral test runs on.
var Channels = []string{wechat.CloudHosting, wechat.V3}

// Stack is cloudpay for one test. Its exported services are the functions'
// own: what a rule test calls is what the function's handler calls.
type Stack struct {
	// Channel carries payments and refunds (wechat.CloudHosting or
	// wechat.V3).
	Channel string
	// Store is the test's own connection to the stack's database, for
	// reading and seeding state; every function has a connection of its
	// own, as deployed functions do.
	Store *mongostore.Store
	Sim   *wechatsim.Simulator
	// SimURL is the simulator's base URL: WeChat's APIs at its root, its
	// control routes under wechatsim.ControlPrefix.
	SimURL string
	// Alipay is the Alipay simulator, and AlipayURL its base URL, when the
	// stack was built with the Alipay option (else nil and "").
	Alipay    *alipaysim.Simulator
	AlipayURL string
	// Receiver is the merchant's back end that business notifications go to.
	Receiver *Receiver

	// Each function's base URL. WithdrawURL is empty on Cloud Hosting:
	// transfers exist on API v3 only.
	CreatePaymentURL, PaymentCallbackURL, RefundURL, WithdrawURL, CloseExpiredURL string

	Payments    *payment.Service  // create-payment's
	Shipping    *shipping.Service // create-payment's
	Refunds     *refund.Service   // refund's: it runs batches and sends queued refunds
	Withdrawals *withdraw.Service // withdraw's; nil on Cloud Hosting
	Job         *job.Job          // close-expired's
	Outbox      *outbox.Deliverer // close-expired's

	t        testing.TB
	set      settings
	storeCfg mongostore.Config
	clock    atomic.Pointer[time.Time]
	// With AlipayAtNoon: the Alipay simulator's day and how far its clock
	// was moved on.
	alipayNoon  time.Time
	alipayAhead atomic.Int64
	callback    atomic.Pointer[http.Handler] // swapped by RestartCallback
	handlers    map[string]http.Handler      // by server URL
	client      *http.Client
}

type settings struct {
	channel     string
	gwTimeout   time.Duration
	envID       string
	settleDelay time.Duration
	refund      refund.Config
	withdraw    withdraw.Config
	shipping    shipping.Config
	certs       bool
	alipay      bool
	sim         func(*wechatsim.Config)
	alipayNoon  bool
}

// Option changes what New builds.
type Option func(*settings)

// Channel picks the channel that carries payments and refunds
// (wechat.CloudHosting by default).
func Channel(ch string) Option { return func(s *settings) { s.channel = ch } }

// GatewayTimeout is how long the functions wait for WeChat. The default,
// a minute, is far longer than a healthy call takes on a loaded machine,
// yet shorter than the leases of refund and transfer attempts. A test that
// injects "timeout" faults passes FaultTimeout, since each such call lasts
// exactly this long.
func GatewayTimeout(d time.Duration) Option { return func(s *settings) { s.gwTimeout = d } }

// PlatformCertificates makes the merchant one of those that verify WeChat
// Pay with platform certificates (WECHATPAY_PLATFORM_CERTS=download, no
// public key), and the simulator sign with its certificate.
func PlatformCertificates() Option { return func(s *settings) { s.certs = true } }

// AutoVirtualShipping turns on SHIPPING_AUTO_VIRTUAL: every paid order
// gets a virtual-goods shipping upload.
func AutoVirtualShipping() Option { return func(s *settings) { s.shipping.AutoVirtual = true } }

// ManualRefunds keeps refunds PROCESSING at the simulator until the test
// settles them (Settle); by default WeChat settles each one right away.
func ManualRefunds() Option { return func(s *settings) { s.settleDelay = -1 } }

// RefundConfig replaces the refund rules (default: WeChat's, with a minute
// between two refunds of one order).
func RefundConfig(cfg refund.Config) Option { return func(s *settings) { s.refund = cfg } }

// WithdrawConfig replaces the withdrawal limits (default: generous enough
// that only tests of the limits meet them).
func WithdrawConfig(cfg withdraw.Config) Option { return func(s *settings) { s.withdraw = cfg } }

// Alipay configures Alipay beside WeChat Pay (ALIPAY_* settings), against an
// Alipay simulator (Stack.Alipay) with the development application.
func Alipay() Option { return func(s *settings) { s.alipay = true } }

// AlipayAtNoon configures Alipay (as Alipay does) with a simulator whose
// clock starts at noon of today in Beijing (AlipayDay) and runs on from
// there, so that a test's payments never straddle midnight; AdvanceAlipay
// moves it on (past 10:00 the next day, Alipay's bill of the day is
// ready).
func AlipayAtNoon() Option { return func(s *settings) { s.alipay, s.alipayNoon = true, true } }

// Sim adjusts the simulator's configuration after the stack's own.
func Sim(f func(*wechatsim.Config)) Option { return func(s *settings) { s.sim = f } }

// WithoutEnvID leaves CLOUDHOSTING_ENV_ID unset, as when the environment
// comes from the request's X-WX-ENV.
func WithoutEnvID() Option { return func(s *settings) { s.envID = "" } }

// New builds a stack for t on a database of its own; t's cleanup takes it
// all down.
func New(t testing.TB, opts ...Option) *Stack {
	t.Helper()
	s := &Stack{t: t, handlers: map[string]http.Handler{}, set: settings{
		channel: wechat.CloudHosting, gwTimeout: time.Minute, envID: EnvID,
		refund:   refund.Config{MinInterval: time.Minute},
		withdraw: withdraw.Config{MinFen: 10, MaxFen: 500_000, DailyCount: 1000, DailyFen: 100_000_000},
	}}
	for _, o := range opts {
		o(&s.set)
	}
	s.Channel = s.set.channel
	// Connections are reused across the test's requests, concurrent ones
	// included, instead of being opened and left in TIME_WAIT.
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 256}
	s.client = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)

	s.storeCfg = storetest.Config(t)
	s.Store = s.openStore()
	s.Receiver = newReceiver(t, s.Now)

	// payment-callback's server comes first: the simulator and the v3
	// channel need its URL. It serves whichever instance is current.
	cb := s.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*s.callback.Load()).ServeHTTP(w, r)
	}))
	s.PaymentCallbackURL = cb
	simCfg := wechatsim.Config{
		SubMchID:          SubMchID,
		Services:          map[string]string{"payment-callback": cb},
		RetryDelays:       []time.Duration{time.Hour}, // tests redeliver explicitly
		RefundSettleDelay: s.set.settleDelay,
		HTTPClient:        &http.Client{Timeout: Patience},
	}
	// Refunds made in the merchant platform are told of on the stack's channel
	// (so an outside payment defaults to it): see wechatsim.OutsideRefund.
	if s.Channel == wechat.V3 {
		simCfg.OutsideNotifyURL = cb + "/callbacks/v3"
	} else {
		simCfg.OutsideRefundCallbackURL = cb + "/callbacks/refund"
	}
	if s.set.certs {
		simCfg.Signing = wechatsim.SignCertificate
	}
	if s.set.sim != nil {
		s.set.sim(&simCfg)
	}
	s.Sim = wechatsim.New(simCfg)
	t.Cleanup(s.Sim.Close)
	simSrv := httptest.NewServer(s.Sim.Handler())
	t.Cleanup(simSrv.Close)
	s.SimURL = simSrv.URL
	if s.set.alipay {
		aliCfg := alipaysim.Config{
			RetryDelays: []time.Duration{time.Hour}, // tests redeliver explicitly
			HTTPClient:  &http.Client{Timeout: Patience},
		}
		if s.set.alipayNoon {
			today := time.Now().In(cloudpay.Beijing)
			s.alipayNoon = time.Date(today.Year(), today.Month(), today.Day(), 12, 0, 0, 0, cloudpay.Beijing)
			start := time.Now()
			aliCfg.Now = func() time.Time {
				return s.alipayNoon.Add(time.Since(start) + time.Duration(s.alipayAhead.Load()))
			}
		}
		s.Alipay = alipaysim.New(aliCfg)
		t.Cleanup(s.Alipay.Close)
		aliSrv := httptest.NewServer(s.Alipay.Handler())
		t.Cleanup(aliSrv.Close)
		s.AlipayURL = aliSrv.URL
	}

	ctx := context.Background()
	create := s.build(app.CreatePayment(ctx, app.CreatePaymentConfig{Store: s.storeCfg, Channel: s.channelConfig(),
		Payment: payment.Config{ExpireMinutes: 30, MaxExpireMinutes: 1440},
		Admin:   httpapi.AdminConfig{Tokens: []string{OldAdminToken, AdminToken}, Operators: operators()}, Users: users, Shipping: s.shippingConfig()}, s.options()...))
	s.Payments, s.Shipping = create.Payments, create.Shipping
	s.CreatePaymentURL = s.serve(create.Handler)

	rf := s.build(app.Refund(ctx, app.RefundConfig{Store: s.storeCfg, Channel: s.channelConfig(), Refund: s.set.refund,
		Outbox: s.outboxConfig(), Admin: admin, Users: users, Shipping: s.shippingConfig()}, s.options()...))
	s.Refunds = rf.Refunds
	s.RefundURL = s.serve(rf.Handler)

	if s.Channel == wechat.V3 {
		wd := s.build(app.Withdraw(ctx, app.WithdrawConfig{Store: s.storeCfg, V3: s.v3Config(), Withdraw: s.set.withdraw,
			Admin: admin, Users: users}, s.options()...))
		s.Withdrawals = wd.Withdrawals
		s.WithdrawURL = s.serve(wd.Handler)
	}

	s.RestartCallback()

	ce := s.build(app.CloseExpired(ctx, app.CloseExpiredConfig{Store: s.storeCfg, Channel: s.channelConfig(),
		Payment: payment.Config{ExpireMinutes: 30, MaxExpireMinutes: 1440}, Refund: s.set.refund, Withdraw: s.set.withdraw,
		Outbox: s.outboxConfig(), Job: job.Config{Budget: jobBudget},
		JobAuth: httpapi.JobConfig{Tokens: []string{JobToken}}, Admin: admin, Trigger: "http", Shipping: s.shippingConfig()}, s.options()...))
	s.Job, s.Outbox = ce.Job, ce.Outbox
	s.CloseExpiredURL = s.serve(ce.Handler)
	return s
}

// jobBudget is a pass's time: each of its six steps may take a sixth of
// what is left, so the first gets Patience. A step cut short would leave
// work that a test expects done.
const jobBudget = 6 * Patience

var (
	admin = httpapi.AdminConfig{Tokens: []string{AdminToken}, Operators: operators()}
	users = httpapi.UserConfig{RequireWXSource: true}
)

// Named tokens, one per role (OPERATORS): "<role>-person" holds the token
// RoleToken(role).
func operators() []string {
	var out []string
	for _, r := range []cloudpay.Role{cloudpay.RoleViewer, cloudpay.RoleOperator, cloudpay.RoleApprover, cloudpay.RoleService} {
		out = append(out, OperatorName(r)+":"+string(r)+":"+TokenHash(RoleToken(r)))
	}
	return out
}

// RoleToken is the test token of the operator named OperatorName(role).
func RoleToken(r cloudpay.Role) string { return "test-token-" + string(r) }

// OperatorName is the name of the test token with role r.
func OperatorName(r cloudpay.Role) string { return string(r) + "-person" }

// TokenHash is how OPERATORS holds a token: SHA-256, hex.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// RestartCallback replaces payment-callback with a new instance on a new
// store connection, as a redeployed or rescheduled function would be; the
// old one keeps serving the requests it has.
func (s *Stack) RestartCallback() {
	s.t.Helper()
	cfg := app.PaymentCallbackConfig{Store: s.storeCfg, Channel: s.channelConfig(),
		Payment: payment.Config{ExpireMinutes: 30, MaxExpireMinutes: 1440}, Refund: s.set.refund, Withdraw: s.set.withdraw,
		Shipping: s.shippingConfig()}
	f := s.build(app.PaymentCallback(context.Background(), cfg, s.options()...))
	s.callback.Store(&f.Handler)
}

// Handler is what the function at url (one of the stack's URLs) serves,
// for tests that reach it another way, such as a Lambda event.
func (s *Stack) Handler(url string) http.Handler {
	s.t.Helper()
	h, ok := s.handlers[url]
	if !ok {
		s.t.Fatalf("testkit: no function at %q in this stack", url)
	}
	return h
}

// Now is the stack's clock, which every service and the receiver read.
func (s *Stack) Now() time.Time {
	if t := s.clock.Load(); t != nil {
		return *t
	}
	return time.Now()
}

// AlipayDay is the Beijing day of the Alipay simulator's noon
// (AlipayAtNoon), as 2006-01-02.
func (s *Stack) AlipayDay() string { return s.AlipayNoon().Format(time.DateOnly) }

// AlipayNoon is when the Alipay simulator's clock started (AlipayAtNoon).
func (s *Stack) AlipayNoon() time.Time { return s.alipayNoon }

// AdvanceAlipay moves the Alipay simulator's clock on by d (AlipayAtNoon).
func (s *Stack) AdvanceAlipay(d time.Duration) { s.alipayAhead.Add(int64(d)) }

// Advance moves the stack's clock forward by d; from then on it stands
// still until the next Advance. The simulator keeps the wall clock.
func (s *Stack) Advance(d time.Duration) {
	t := s.Now().Add(d)
	s.clock.Store(&t)
}

func (s *Stack) options() []app.Option { return []app.Option{app.WithClock(s.Now)} }

// build fails the test if a function cannot be built, and closes it after
// the test.
func (s *Stack) build(f *app.Function, err error) *app.Function {
	s.t.Helper()
	if err != nil {
		s.t.Fatalf("testkit: build a function: %v", err)
	}
	s.t.Cleanup(f.Close)
	return f
}

// serve starts a function's server and returns its URL.
func (s *Stack) serve(h http.Handler) string {
	srv := httptest.NewServer(h)
	s.t.Cleanup(srv.Close)
	s.handlers[srv.URL] = h
	return srv.URL
}

func (s *Stack) openStore() *mongostore.Store {
	s.t.Helper()
	st, err := mongostore.Open(context.Background(), s.storeCfg)
	if err != nil {
		s.t.Fatalf("testkit: open store: %v", err)
	}
	s.t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

// channelConfig is PAY_CHANNEL and its settings, pointed at the simulator.
func (s *Stack) channelConfig() app.ChannelConfig {
	cfg := app.ChannelConfig{Channel: wechat.CloudHosting, CloudHosting: s.cloudHostingConfig()}
	if s.Channel == wechat.V3 {
		cfg = app.ChannelConfig{Channel: wechat.V3, V3: s.v3Config()}
	}
	if s.set.alipay {
		cfg.Alipay = alipay.Config{
			AppID: alipaysim.DevAppID, PrivateKey: alipaysim.DevAppPrivateKeyPEM, PublicKey: alipaysim.DevAlipayPublicKeyPEM,
			SellerID: alipaysim.DevSellerID, NotifyURL: s.PaymentCallbackURL + "/callbacks/alipay",
			GatewayURL: s.AlipayURL + alipaysim.GatewayPath, Timeout: s.set.gwTimeout,
		}
	}
	return cfg
}

// shippingConfig points the mini-program platform at the simulator: the
// open interface on Cloud Hosting, access tokens (the Lambda path) on v3.
func (s *Stack) shippingConfig() app.ShippingConfig {
	mp := miniapp.Config{APIURL: s.SimURL, AppID: wechatsim.DefaultAppID, Timeout: s.set.gwTimeout}
	if s.Channel == wechat.V3 {
		mp.Secret = wechatsim.DevAppSecret
	}
	return app.ShippingConfig{MiniProgram: mp, Shipping: s.set.shipping}
}

// cloudHostingConfig is the open interface's settings, pointed at the simulator.
func (s *Stack) cloudHostingConfig() cloudhosting.Config {
	return cloudhosting.Config{
		APIURL: s.SimURL, SubMchID: SubMchID, EnvID: s.set.envID,
		CallbackService: "payment-callback", CallbackPath: "/callbacks/pay", RefundCallbackPath: "/callbacks/refund",
		Timeout: s.set.gwTimeout,
	}
}

// v3Config is the simulator's development merchant.
func (s *Stack) v3Config() wechatpay.Config {
	cfg := wechatpay.Config{
		MchID: wechatsim.DevMchID, AppID: wechatsim.DefaultAppID, MchSerial: wechatsim.DevMerchantSerial,
		PrivateKey: wechatsim.DevMerchantPrivateKeyPEM, APIv3Key: wechatsim.DevAPIv3Key,
		PublicKey: wechatsim.DevPlatformPublicKeyPEM, PublicKeyID: wechatsim.DevPublicKeyID,
		NotifyURL: s.PaymentCallbackURL + "/callbacks/v3", APIURL: s.SimURL, Timeout: s.set.gwTimeout,
		TransferReportInfos: "活动名称=回收奖励;奖励说明=回收收益提现",
	}
	if s.set.certs {
		cfg.PublicKey, cfg.PublicKeyID, cfg.PlatformCerts = "", "", "download"
	}
	return cfg
}

// outboxConfig sends business notifications to the receiver. Its timeout
// is generous for a loaded machine, yet short enough that the claim on a
// delivery (which outlives it) stays well under the hours tests advance by.
func (s *Stack) outboxConfig() outbox.Config {
	return outbox.Config{URL: s.Receiver.URL, Secret: NotifySecret, Timeout: time.Minute}
}
