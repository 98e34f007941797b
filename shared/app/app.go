// Package app is the composition root: the one place that turns a
// function's configuration into its store, WeChat Pay clients, use cases
// and HTTP handler. The deployables (functions/<name>/main.go), the local
// stack, the tests and the bench all build through it, so what they run is
// what ships.
//
// Each function has a config struct that lists everything it reads from the
// environment (loaded once, by Main) and a builder that takes only that
// struct: nothing here reads the environment again. There is one builder
// per function and no table of them, so a binary links no other
// function's wiring.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/cloudpay/cloudpay/shared/alipay"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/recon"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/shipping"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// Function is one function, built: its handler, and the parts it is made
// of for tests, the bench and the local stack to reach past HTTP. A part
// the function does not have is nil.
type Function struct {
	Handler http.Handler
	// Scheduled is the pass an EventBridge schedule runs on AWS Lambda in
	// place of serving Handler: set for close-expired with
	// JOB_TRIGGER=schedule only.
	Scheduled func(context.Context) job.Report

	Store       *mongostore.Store
	Payments    *payment.Service
	Refunds     *refund.Service
	Withdrawals *withdraw.Service
	Outbox      *outbox.Deliverer
	Job         *job.Job
	Recon       *recon.Service // daily reconciliation against WeChat's bills
	Shipping    *shipping.Service
	// V3 is the API v3 client, when the function has one: the channel's
	// (PAY_CHANNEL=v3) or the one that carries transfers.
	V3 *wechatpay.Client

	closers []func()
}

// Close stops the function's background work (running refund batches)
// and closes the store if the function opened it; a store given with
// WithStore stays open.
func (f *Function) Close() {
	for i := len(f.closers) - 1; i >= 0; i-- {
		f.closers[i]()
	}
	f.closers = nil
}

// onClose registers what Close undoes, last in first out.
func (f *Function) onClose(c func()) { f.closers = append(f.closers, c) }

// fail closes what a builder built before it failed and returns err.
func (f *Function) fail(err error) (*Function, error) {
	f.Close()
	return nil, err
}

// Option changes how a function is built, not what it is configured to do.
type Option func(*options)

type options struct {
	now           func() time.Time // nil: the services' own clock
	log           *slog.Logger
	hc            *http.Client // nil: each client's default
	store         *mongostore.Store
	outboxBackoff []time.Duration
}

// WithClock gives every service the same clock (tests move it).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets the logger of the handler and every service (default:
// discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithHTTPClient is the client for WeChat Pay and for business
// notifications (default: each one's own).
func WithHTTPClient(hc *http.Client) Option { return func(o *options) { o.hc = hc } }

// WithStore reuses an open store instead of opening one from the
// configuration, so several functions in one process (the local stack, a
// test) share it. The caller closes it.
func WithStore(s *mongostore.Store) Option { return func(o *options) { o.store = s } }

// WithOutboxBackoff replaces the waits between failed deliveries of a
// business notification (tests that watch retries).
func WithOutboxBackoff(steps []time.Duration) Option {
	return func(o *options) { o.outboxBackoff = steps }
}

func collect(opts []Option) options {
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return o
}

// openStore opens the function's store, or takes the one given with
// WithStore, and puts it on f.
func (o options) openStore(ctx context.Context, f *Function, cfg mongostore.Config) error {
	if o.store != nil {
		f.Store = o.store
		return nil
	}
	s, err := mongostore.Open(ctx, cfg)
	if err != nil {
		return err
	}
	f.Store = s
	f.onClose(func() { _ = s.Close(context.Background()) })
	return nil
}

// auditedAdmin is the admin settings with the store as their audit log.
func auditedAdmin(cfg httpapi.AdminConfig, st *mongostore.Store) httpapi.AdminConfig {
	cfg.Audit = st
	return cfg
}

// The services' options, from the builder's.

func (o options) payment(st withdraw.BalanceStore, ali *alipay.Gateway) []payment.Option {
	opts := []payment.Option{payment.WithLogger(o.log), payment.WithWallet(o.balance(st))}
	if ali != nil {
		opts = append(opts, payment.WithAlipay(ali))
	}
	if o.now != nil {
		opts = append(opts, payment.WithClock(o.now))
	}
	return opts
}

func (o options) refund(st withdraw.BalanceStore, ali *alipay.Gateway) []refund.Option {
	opts := []refund.Option{refund.WithLogger(o.log), refund.WithWallet(o.balance(st))}
	if ali != nil {
		opts = append(opts, refund.WithAlipay(ali))
	}
	if o.now != nil {
		opts = append(opts, refund.WithClock(o.now))
	}
	return opts
}

// balance is the wallet as a way to pay, and where refunds of balance
// payments go: the store's wallet ledger, on every channel.
func (o options) balance(st withdraw.BalanceStore) *withdraw.Balance {
	return withdraw.NewBalance(st, o.now)
}

func (o options) withdraw() []withdraw.Option {
	opts := []withdraw.Option{withdraw.WithLogger(o.log)}
	if o.now != nil {
		opts = append(opts, withdraw.WithClock(o.now))
	}
	return opts
}

func (o options) outbox() []outbox.Option {
	opts := []outbox.Option{outbox.WithLogger(o.log)}
	if o.now != nil {
		opts = append(opts, outbox.WithClock(o.now))
	}
	if o.outboxBackoff != nil {
		opts = append(opts, outbox.WithBackoff(o.outboxBackoff))
	}
	return opts
}

func (o options) job() []job.Option {
	opts := []job.Option{job.WithLogger(o.log)}
	if o.now != nil {
		opts = append(opts, job.WithClock(o.now))
	}
	return opts
}

// Binary is one function as its deployable runs it: the function's
// configuration, loaded once from the environment, and its builder. It is
// deliberately not generic and never held in an interface: either would
// make the linker keep every service's methods in every binary (measured:
// +0.3 MB each).
type Binary struct {
	name  string
	cfg   any           // a pointer to the function's config struct
	serve *serve.Config // the Serve section of *cfg
	build func(context.Context, ...Option) (*Function, error)
}

// Main is a deployable's whole main: it runs the function (see Run) and,
// if the function cannot start or stops on an error, prints
// "<name>: <error>" to stderr and exits 1.
func Main(b Binary) {
	if err := Run(context.Background(), b); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", b.name, err)
		os.Exit(1)
	}
}

// Run loads the function's configuration from the environment (the only
// read), builds the function with the JSON logger and serves it until ctx
// ends or the process is told to stop. On AWS Lambda a function with a
// Scheduled pass answers schedule events instead, and Run does not return.
func Run(ctx context.Context, b Binary) error {
	if err := serve.Load(ctx, b.cfg); err != nil {
		return err
	}
	log := serve.Logger(*b.serve, b.name)
	f, err := b.build(ctx, WithLogger(log))
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Scheduled != nil && serve.OnLambda() {
		serve.RunScheduled(serve.Scheduled(f.Scheduled, log))
		return nil
	}
	return serve.Run(ctx, *b.serve, f.Handler, log)
}

// adopter lets refunds name a payment made outside cloudpay by its
// transaction_id: the payment is adopted first (payment.Service.Adopt).
func adopter(p *payment.Service) refund.Adopter {
	return func(ctx context.Context, outTradeNo, transactionID, payer string) (string, error) {
		n := payment.Outside{TransactionID: transactionID, Payer: payer}
		if transactionID == "" {
			n.OutTradeNo = outTradeNo
		}
		o, _, err := p.Adopt(ctx, n)
		return o.OutTradeNo, err
	}
}

// reconciler reconciles days against the channels' bills — WeChat's, and
// Alipay's when ali is configured — adopting what a channel did that
// cloudpay did not see.
func reconciler(f *Function, bills wechat.Bills, ali *alipay.Gateway, o options) *recon.Service {
	var opts []recon.Option
	if ali != nil {
		opts = append(opts, recon.WithAlipay(ali, recon.AlipayLines(ali.MerchantID())))
	}
	return recon.New(f.Store, bills, recon.TradeLines, recon.Adopters{
		Payment: func(ctx context.Context, transactionID string) error {
			_, _, err := f.Payments.Adopt(ctx, payment.Outside{TransactionID: transactionID})
			return err
		},
		Refund: f.Refunds.AdoptRefund,
		Attempt: func(ctx context.Context, channel, tradeNo string) error {
			_, err := f.Payments.AdoptAttempt(ctx, channel, tradeNo)
			return err
		},
	}, o.log, o.now, opts...)
}
