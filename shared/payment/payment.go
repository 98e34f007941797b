// Package payment holds the pay use cases: orders from the business back
// end, payments for the mini-program, and confirming what WeChat says was
// paid. It decides; the store records and the gateway talks to WeChat.
package payment

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/effect"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Config holds the pay rules that are the merchant's choice.
type Config struct {
	ExpireMinutes    int `env:"ORDER_EXPIRE_MINUTES, default=30"`
	MaxExpireMinutes int `env:"ORDER_MAX_EXPIRE_MINUTES, default=1440"`
	// PayWindowMinutes bounds how long one payment attempt (a QR code, an
	// H5 link, a JSAPI prepay) can be paid, within the order's expiry;
	// 0: until the order expires.
	PayWindowMinutes int `env:"PAY_WINDOW_MINUTES, default=0"`
}

// Service is the pay use cases. Build one per process.
type Service struct {
	store Store
	gw    wechat.Payments
	ali   Alipay // nil: Alipay is not configured
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	// settled ends orders: the settlement claim and what follows from it.
	settled *effect.Ends[cloudpay.Order, cloudpay.Settlement]
	wallet  Wallet // nil: no payments from the balance
	// onPaid runs once an order's payment is recorded, before its status
	// shows it (so a crash between them runs it again): the automatic
	// shipping upload of virtual goods. It must be idempotent.
	onPaid func(ctx context.Context, o cloudpay.Order) error
}

// Option adjusts a Service.
type Option func(*Service)

// WithClock replaces the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithOnPaid runs fn for every order whose payment is recorded (again
// after a crash: fn must be idempotent).
func WithOnPaid(fn func(ctx context.Context, o cloudpay.Order) error) Option {
	return func(s *Service) { s.onPaid = fn }
}

// Alipay is what the pay use cases may ask of Alipay, in the channel
// vocabulary (shared/alipay translates): its trades are queried and closed
// like WeChat's, and prepared as a QR code or a mobile-web cashier URL.
type Alipay interface {
	wechat.Payments
	PrepayQR(ctx context.Context, req wechat.PrepayRequest) (qrCode string, err error)
	PrepayWap(ctx context.Context, req wechat.PrepayRequest, returnURL string) (cashierURL string, err error)
}

// WithAlipay lets orders be paid with Alipay.
func WithAlipay(a Alipay) Option { return func(s *Service) { s.ali = a } }

// gateway is who holds payments by m: Alipay for its methods, WeChat for
// the rest. An Alipay attempt of a deployment that no longer configures
// Alipay answers every question with an error naming the settings.
func (s *Service) gateway(m cloudpay.PayMethod) wechat.Payments {
	if m.Provider() != cloudpay.ProviderAlipay {
		return s.gw
	}
	if s.ali == nil {
		return noAlipay{}
	}
	return s.ali
}

// merchantOf is the merchant a provider's transaction must name.
func (s *Service) merchantOf(tx wechat.Transaction) string {
	return s.gateway(cloudpay.MethodOfTradeType(tx.TradeType)).MerchantID()
}

// WithWallet lets users pay from their wallet balance.
func WithWallet(w Wallet) Option { return func(s *Service) { s.wallet = w } }

// New builds the service.
func New(store Store, gw wechat.Payments, cfg Config, opts ...Option) *Service {
	if cfg.ExpireMinutes <= 0 {
		cfg.ExpireMinutes = 30
	}
	if cfg.MaxExpireMinutes < cfg.ExpireMinutes {
		cfg.MaxExpireMinutes = cfg.ExpireMinutes
	}
	s := &Service{store: store, gw: gw, cfg: cfg, log: slog.New(slog.DiscardHandler), now: time.Now}
	for _, o := range opts {
		o(s)
	}
	s.settled = effect.NewEnds(settlements{s})
	return s
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// NewOrder is what the business back end asks for.
type NewOrder struct {
	OutTradeNo    string
	OpenID        string
	AmountFen     cloudpay.Fen
	Description   string
	Attach        string
	ExpireMinutes int // 0: the configured default
}

func (s *Service) validate(n *NewOrder) error {
	if n.OutTradeNo != "" && !cloudpay.ValidOutTradeNo(n.OutTradeNo) {
		return cloudpay.FieldError("out_trade_no", "out_trade_no must be 6-32 characters of digits, letters and _-|*")
	}
	if cloudpay.IsAttemptNo(n.OutTradeNo) {
		return cloudpay.FieldError("out_trade_no", "out_trade_no may not start with CPA: cloudpay numbers its payment attempts so")
	}
	if !cloudpay.ValidOpenID(n.OpenID) {
		return cloudpay.FieldError("openid", "openid must be 1-128 characters of digits, letters, _ and -")
	}
	if n.AmountFen <= 0 || n.AmountFen > cloudpay.MaxFen {
		return cloudpay.FieldError("amount_fen", "amount_fen must be a whole number of fen between 1 and %d", cloudpay.MaxFen)
	}
	if n.Description == "" || len(n.Description) > 128 || !cloudpay.Printable(n.Description) {
		return cloudpay.FieldError("description", "description must be 1-128 bytes of printable UTF-8")
	}
	if len(n.Attach) > 127 || !cloudpay.Printable(n.Attach) {
		return cloudpay.FieldError("attach", "attach must be at most 127 bytes of printable UTF-8")
	}
	if n.ExpireMinutes == 0 {
		n.ExpireMinutes = s.cfg.ExpireMinutes
	}
	if n.ExpireMinutes < 1 || n.ExpireMinutes > s.cfg.MaxExpireMinutes {
		return cloudpay.FieldError("expire_minutes", "expire_minutes must be between 1 and %d", s.cfg.MaxExpireMinutes)
	}
	return nil
}

// CreateOrder records an order. The same out_trade_no with the same fields
// returns the stored order (created false); with other fields it is a conflict.
func (s *Service) CreateOrder(ctx context.Context, n NewOrder) (cloudpay.Order, bool, error) {
	if err := s.validate(&n); err != nil {
		return cloudpay.Order{}, false, err
	}
	now := s.clock()
	if n.OutTradeNo == "" {
		n.OutTradeNo = cloudpay.NewOutTradeNo(now)
	}
	o := cloudpay.Order{
		OutTradeNo: n.OutTradeNo, OpenID: n.OpenID, AmountFen: n.AmountFen,
		Description: n.Description, Attach: n.Attach, ExpireMinutes: n.ExpireMinutes,
		Status: cloudpay.OrderUnpaid, CreatedAt: now,
		ExpiresAt: now.Add(time.Duration(n.ExpireMinutes) * time.Minute), UpdatedAt: now,
	}
	stored, created, err := s.store.CreateOrder(ctx, o)
	if err != nil {
		return cloudpay.Order{}, false, fmt.Errorf("create order: %w", err)
	}
	if !created && !stored.SameRequest(o) {
		return cloudpay.Order{}, false, cloudpay.Errorf(cloudpay.CodeOrderConflict,
			"order %s exists with different fields", o.OutTradeNo)
	}
	return stored, created, nil
}

// ownOrder loads an order the caller must own.
func (s *Service) ownOrder(ctx context.Context, openid, outTradeNo string) (cloudpay.Order, error) {
	if !cloudpay.ValidOutTradeNo(outTradeNo) {
		return cloudpay.Order{}, cloudpay.FieldError("out_trade_no", "out_trade_no must be 6-32 characters of digits, letters and _-|*")
	}
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return cloudpay.Order{}, err
	}
	if o.OpenID != openid {
		return cloudpay.Order{}, cloudpay.Errorf(cloudpay.CodeForbidden, "order %s belongs to another user", outTradeNo)
	}
	return o, nil
}

// Payment is what the mini-program needs to call wx.requestPayment.
type Payment struct {
	Order  cloudpay.Order
	Params wechat.PaymentParams
}

// CreatePayment asks WeChat for a JSAPI prepay for the caller's own
// unpaid order. The amount comes from the stored order, never from the
// client. Asking again for the same order returns a usable payment again;
// a payment by another method is closed at WeChat first (attempts.go).
func (s *Service) CreatePayment(ctx context.Context, openid, outTradeNo, clientIP, envID string) (Payment, error) {
	o, err := s.ownOrder(ctx, openid, outTradeNo)
	if err != nil {
		return Payment{}, err
	}
	if o, err = s.payableNow(ctx, o); err != nil {
		return Payment{}, err
	}
	p, err := s.open(ctx, o, PayRequest{Method: cloudpay.MethodJSAPI, ClientIP: clientIP})
	if err != nil {
		return Payment{}, fmt.Errorf("create payment: %w", err)
	}
	prepayID, params, err := s.gw.Prepay(ctx, wechat.PrepayRequest{Order: wechatView(o, p), ClientIP: clientIP, EnvID: envID})
	if err != nil {
		return Payment{}, s.prepayFailed(ctx, o, err)
	}
	if err := s.stillNewest(ctx, o, p); err != nil {
		return Payment{}, err
	}
	if err := s.markPaying(ctx, o, prepayID, p); err != nil {
		return Payment{}, fmt.Errorf("create payment: %w", err)
	}
	o.Status, o.Method, o.TradeNo = cloudpay.OrderPaying, p.Method, attemptNo(o, p.TradeNo)
	return Payment{Order: o, Params: params}, nil
}

// payableNow is the order as its settlement says, if it can still be paid.
func (s *Service) payableNow(ctx context.Context, o cloudpay.Order) (cloudpay.Order, error) {
	o, err := s.settled.Current(ctx, o)
	if err != nil {
		return o, fmt.Errorf("payment: %w", err)
	}
	return o, payable(o, s.clock())
}

// prepayFailed is the answer to a prepay WeChat refused. ORDERPAID means
// WeChat knows of a payment whose callback has not arrived yet: it is
// recorded now.
func (s *Service) prepayFailed(ctx context.Context, o cloudpay.Order, err error) error {
	if cloudpay.ErrorCode(err) == cloudpay.CodeOrderPaid {
		if _, serr := s.sync(ctx, o); serr != nil {
			s.log.WarnContext(ctx, "sync after ORDERPAID failed", "out_trade_no", o.OutTradeNo, "err", serr)
		}
	}
	return fmt.Errorf("prepay: %w", err)
}

// markPaying shows on the order that an attempt is live, unless it
// already shows it.
func (s *Service) markPaying(ctx context.Context, o cloudpay.Order, prepayID string, p cloudpay.Prepay) error {
	if o.Status == cloudpay.OrderPaying && o.PrepayID == prepayID && o.Method == p.Method && o.WeChatTradeNo() == p.TradeNo {
		return nil
	}
	return s.store.MarkPaying(ctx, o.OutTradeNo, prepayID, p.Method, p.TradeNo, s.clock())
}

func payable(o cloudpay.Order, now time.Time) error {
	switch {
	case o.Status == cloudpay.OrderClosed:
		return cloudpay.Errorf(cloudpay.CodeOrderClosed, "order %s is closed", o.OutTradeNo)
	case !o.Status.AwaitingPayment():
		return cloudpay.Errorf(cloudpay.CodeOrderPaid, "order %s is already paid", o.OutTradeNo)
	case o.Expired(now):
		return cloudpay.Errorf(cloudpay.CodeOrderExpired, "order %s expired at %s", o.OutTradeNo, o.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

// PaymentStatus returns the caller's order. While it waits for payment,
// WeChat is asked once, so a page sees a payment whose callback is late.
// A WeChat failure is not the caller's problem: the stored state is returned.
func (s *Service) PaymentStatus(ctx context.Context, openid, outTradeNo string) (cloudpay.Order, error) {
	o, err := s.ownOrder(ctx, openid, outTradeNo)
	if err != nil {
		return cloudpay.Order{}, err
	}
	if o, err = s.settled.Current(ctx, o); err != nil {
		return cloudpay.Order{}, fmt.Errorf("payment status: %w", err)
	}
	return s.synced(ctx, o), nil
}

// Order returns any order, for the business back end, as its settlement
// says it is.
func (s *Service) Order(ctx context.Context, outTradeNo string) (cloudpay.Order, error) {
	if !cloudpay.ValidOutTradeNo(outTradeNo) {
		return cloudpay.Order{}, cloudpay.FieldError("out_trade_no", "out_trade_no must be 6-32 characters of digits, letters and _-|*")
	}
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return cloudpay.Order{}, err
	}
	return s.settled.Current(ctx, o)
}

// sync asks WeChat about every attempt of the order it may hold a
// payment under (usually one: switching closes the earlier ones) and
// records a payment it reports.
func (s *Service) sync(ctx context.Context, o cloudpay.Order) (cloudpay.Order, error) {
	a, err := s.attemptsOf(ctx, o)
	if err != nil {
		return o, err
	}
	for _, p := range a.outside(o) {
		tx, err := s.gateway(p.Method).QueryOrder(ctx, p.TradeNo)
		if err != nil {
			return o, err
		}
		if tx.State.Paid() {
			o, _, err = s.settlePaid(ctx, o, p.TradeNo, tx, "query")
			return o, err
		}
	}
	return o, nil
}

// noAlipay stands for Alipay where it is not configured.
type noAlipay struct{}

var errNoAlipay = cloudpay.Errorf(cloudpay.CodeMethodNotSupported,
	"Alipay is not configured: set ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY, ALIPAY_PUBLIC_KEY (or the certificates), ALIPAY_SELLER_ID and ALIPAY_NOTIFY_URL")

func (noAlipay) MerchantID() string { return "" }
func (noAlipay) Prepay(context.Context, wechat.PrepayRequest) (string, wechat.PaymentParams, error) {
	return "", wechat.PaymentParams{}, errNoAlipay
}
func (noAlipay) QueryOrder(context.Context, string) (wechat.Transaction, error) {
	return wechat.Transaction{}, errNoAlipay
}
func (noAlipay) QueryTransaction(context.Context, string) (wechat.Transaction, error) {
	return wechat.Transaction{}, errNoAlipay
}
func (noAlipay) CloseOrder(context.Context, string) error { return errNoAlipay }
