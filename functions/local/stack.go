package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/console"
	"github.com/cloudpay/cloudpay/shared/embeddedmongo"
	"github.com/cloudpay/cloudpay/shared/gateway"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/operator"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// stack is everything functions/local serves, on one listener.
type stack struct {
	base    string // http://127.0.0.1:PORT
	handler http.Handler
	closers []func()
	job     *job.Job
}

// tick runs a pass of close-expired every interval until ctx ends, as the
// scheduler does in production.
func (s *stack) tick(ctx context.Context, every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.job.Run(ctx)
		}
	}
}

func (s *stack) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// functions lists the deployable functions served under their own prefix.
var functions = []string{"create-payment", "payment-callback", "refund", "withdraw", "close-expired"}

func build(ctx context.Context, cfg config, ln net.Listener, log *slog.Logger) (*stack, error) {
	port := ln.Addr().(*net.TCPAddr).Port
	s := &stack{base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	uri := cfg.MongoURI
	var embedded *embeddedmongo.Server
	if uri == "" {
		srv, err := embeddedmongo.Start(cfg.DataDir, nil)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, srv.Stop)
		uri, embedded = srv.URI(), srv
	}
	store, err := mongostore.Open(ctx, mongostore.Config{URI: uri, Database: cfg.Database})
	if err != nil {
		s.close()
		return nil, err
	}
	s.closers = append(s.closers, func() { _ = store.Close(context.Background()) })
	if embedded != nil {
		if err := embedded.IndexIDs(ctx, cfg.Database); err != nil {
			s.close()
			return nil, err
		}
	}

	sim := wechatsim.New(wechatsim.Config{
		SubMchID: cfg.SubMchID,
		// In Cloud Hosting a service name routes inside the environment;
		// here every service is a prefix on this port.
		Services: map[string]string{"payment-callback": s.base + "/payment-callback"},
	})
	s.closers = append(s.closers, sim.Close)

	gw, v3, err := s.gateway(ctx, cfg)
	if err != nil {
		s.close()
		return nil, err
	}
	svc := payment.New(store, gw, cfg.Payment, payment.WithLogger(log))
	refunds := refund.New(store, gw, cfg.Refund, refund.WithLogger(log))
	s.closers = append(s.closers, refunds.Close)
	// Transfers exist only on API v3: locally its client is always there.
	withdrawals := withdraw.New(store, v3, cfg.Withdraw, withdraw.WithLogger(log))
	deliverer, err := outbox.New(store, cfg.Outbox, nil, outbox.WithLogger(log))
	if err != nil {
		s.close()
		return nil, err
	}
	j := job.New(store, svc, refunds, cfg.Job, job.WithLogger(log.With("function", "close-expired")),
		job.WithWithdrawals(withdrawals), job.WithOutbox(deliverer))
	s.job = j
	cb := httpapi.Callbacks{Payments: svc, Refunds: refunds, V3: v3, Withdrawals: withdrawals}

	mux := http.NewServeMux()
	admin := httpapi.AdminConfig{Tokens: cfg.AdminTokens}
	users := httpapi.UserConfig{RequireWXSource: cfg.RequireWXSource}
	mount(mux, "/create-payment", httpapi.CreatePayment(svc, admin, users, log.With("function", "create-payment")))
	mount(mux, "/payment-callback", httpapi.PaymentCallback(cb, log.With("function", "payment-callback")))
	mount(mux, "/refund", httpapi.Refund(refunds, httpapi.Console{Views: operator.New(store), Dead: deliverer, Page: console.Handler()},
		admin, users, log.With("function", "refund")))
	mount(mux, "/withdraw", httpapi.Withdraw(withdrawals, admin, users, log.With("function", "withdraw")))
	mount(mux, "/close-expired", httpapi.CloseExpired(j, deliverer, httpapi.JobConfig{Tokens: []string{cfg.JobToken}}, admin,
		log.With("function", "close-expired")))
	mount(mux, "/sim", sim.Handler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, s.usage(cfg))
	})
	s.handler = mux
	return s, nil
}

// gateway builds the configured channel's client, pointed at the simulator,
// and the API v3 client, which also carries transfers on either channel.
func (s *stack) gateway(ctx context.Context, cfg config) (gateway.Gateway, *wechatpay.Client, error) {
	v3, err := wechatpay.New(ctx, wechatpay.Config{
		MchID: wechatsim.DevMchID, AppID: wechatsim.DefaultAppID, MchSerial: wechatsim.DevMerchantSerial,
		PrivateKey: wechatsim.DevMerchantPrivateKeyPEM, APIv3Key: wechatsim.DevAPIv3Key,
		PublicKey: wechatsim.DevPlatformPublicKeyPEM, PublicKeyID: wechatsim.DevPublicKeyID,
		NotifyURL: s.base + "/payment-callback/callbacks/v3", APIURL: s.base + "/sim", Timeout: 5 * time.Second,
		TransferReportInfos: cfg.TransferReportInfos,
	}, nil)
	if err != nil {
		return nil, nil, err
	}
	switch cfg.Channel {
	case gateway.CloudHosting:
		return cloudhosting.New(cloudhosting.Config{
			APIURL: s.base + "/sim", SubMchID: cfg.SubMchID, EnvID: cfg.EnvID,
			CallbackService: "payment-callback", CallbackPath: "/callbacks/pay", RefundCallbackPath: "/callbacks/refund",
			Timeout: 5 * time.Second,
		}, nil), v3, nil
	case gateway.V3:
		return v3, v3, nil
	}
	return nil, nil, fmt.Errorf("PAY_CHANNEL must be %q or %q, not %q", gateway.CloudHosting, gateway.V3, cfg.Channel)
}

func mount(mux *http.ServeMux, prefix string, h http.Handler) {
	mux.Handle(prefix+"/", http.StripPrefix(prefix, h))
}

func (s *stack) usage(cfg config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cloudpay local stack on %s\n\n", s.base)
	for _, f := range functions {
		fmt.Fprintf(&b, "  %-18s %s/%s/\n", f, s.base, f)
	}
	fmt.Fprintf(&b, "  %-18s %s/refund/admin/  (the operator's console; log in with the admin token)\n", "console", s.base)
	fmt.Fprintf(&b, "  %-18s %s/sim/  (WeChat Pay simulator: /sim/pay, /sim/faults, /sim/calls, /sim/orders/{no})\n", "simulator", s.base)
	store := "embedded FerretDB (SQLite) in " + cfg.DataDir
	if cfg.MongoURI != "" {
		store = "MONGODB_URI"
	}
	fmt.Fprintf(&b, "\nstore: %s, database %q\n", store, cfg.Database)
	fmt.Fprintf(&b, "admin token (ADMIN_TOKENS, development value): %s\n", cfg.AdminTokens[0])
	fmt.Fprintf(&b, "job token (JOB_TOKEN, development value): %s; close-expired also runs every %s\n", cfg.JobToken, cfg.JobInterval)
	fmt.Fprintf(&b, "\ntry it:\n")
	fmt.Fprintf(&b, "  curl -s -X POST %s/create-payment/orders -H 'Authorization: Bearer %s' \\\n", s.base, cfg.AdminTokens[0])
	fmt.Fprintf(&b, "       -d '{\"openid\":\"oDemoUser0001\",\"amount_fen\":100,\"description\":\"demo\"}'\n")
	fmt.Fprintf(&b, "  curl -s -X POST %s/create-payment/payments -H 'X-WX-OPENID: oDemoUser0001' -d '{\"out_trade_no\":\"<from above>\"}'\n", s.base)
	fmt.Fprintf(&b, "  curl -s -X POST %s/sim/pay -d '{\"out_trade_no\":\"<from above>\"}'\n", s.base)
	fmt.Fprintf(&b, "  curl -s %s/create-payment/payments/<no> -H 'X-WX-OPENID: oDemoUser0001'\n", s.base)
	fmt.Fprintf(&b, "\nor run the whole walk: make demo\n")
	return b.String()
}

func run(ctx context.Context, cfg config) error {
	log := serve.Logger(serve.Config{LogLevel: cfg.LogLevel}, "")
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s, err := build(ctx, cfg, ln, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer s.close()
	fmt.Fprint(os.Stderr, s.usage(cfg))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.tick(ctx, cfg.JobInterval)
	return serve.Serve(ctx, serve.Config{}, ln, s.handler, log)
}
