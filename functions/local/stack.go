package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/alipay"
	"github.com/cloudpay/cloudpay/shared/alipaysim"
	"github.com/cloudpay/cloudpay/shared/app"
	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/embeddedmongo"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/miniapp"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/openapi"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// stack is everything functions/local serves, on one listener.
type stack struct {
	base    string // http://127.0.0.1:PORT
	simBase string // the simulator's: http://127.0.0.1:SIM_PORT, or SIM_URL
	// alipay is the Alipay simulator, on the stack's port (/alipay/gateway.do,
	// /sim/alipay/…); nil with SIM_URL.
	alipay  *alipaysim.Simulator
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

// build starts the store and the simulator and builds every function
// through package app, as its deployable does, all on that one store.
func build(ctx context.Context, cfg config, ln net.Listener, log *slog.Logger) (*stack, error) {
	port := ln.Addr().(*net.TCPAddr).Port
	s := &stack{base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	if err := s.build(ctx, cfg, log); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *stack) build(ctx context.Context, cfg config, log *slog.Logger) error {
	uri := cfg.MongoURI
	var embedded *embeddedmongo.Server
	if uri == "" {
		srv, err := embeddedmongo.Start(cfg.DataDir, nil)
		if err != nil {
			return err
		}
		s.closers = append(s.closers, srv.Stop)
		uri, embedded = srv.URI(), srv
	}
	store, err := mongostore.Open(ctx, mongostore.Config{URI: uri, Database: cfg.Database})
	if err != nil {
		return err
	}
	s.closers = append(s.closers, func() { _ = store.Close(context.Background()) })
	if embedded != nil {
		if err := embedded.IndexIDs(ctx, cfg.Database); err != nil {
			return err
		}
	}

	simControl, err := s.simulator(cfg)
	if err != nil {
		return err
	}
	if cfg.SimURL == "" {
		// Alipay beside WeChat Pay, against its own simulator (in memory).
		s.alipay = alipaysim.New(alipaysim.Config{})
		s.closers = append(s.closers, s.alipay.Close)
	}

	// Every function shares the store; each logs under its own name.
	opts := func(function string) []app.Option {
		return []app.Option{app.WithStore(store), app.WithLogger(log.With("function", function))}
	}
	channel := s.channel(cfg)
	admin := httpapi.AdminConfig{Tokens: cfg.AdminTokens}
	users := httpapi.UserConfig{RequireWXSource: cfg.RequireWXSource}
	mux := http.NewServeMux()
	mountFunction := func(name string, f *app.Function, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		s.closers = append(s.closers, f.Close)
		mount(mux, "/"+name, f.Handler)
		return nil
	}

	f, err := app.CreatePayment(ctx, app.CreatePaymentConfig{Channel: channel, Payment: cfg.Payment, Admin: admin, Users: users, Shipping: s.shipping(cfg)},
		opts("create-payment")...)
	if err := mountFunction("create-payment", f, err); err != nil {
		return err
	}
	f, err = app.PaymentCallback(ctx, app.PaymentCallbackConfig{Channel: channel, Payment: cfg.Payment, Refund: cfg.Refund, Withdraw: cfg.Withdraw, Shipping: s.shipping(cfg)},
		opts("payment-callback")...)
	if err := mountFunction("payment-callback", f, err); err != nil {
		return err
	}
	f, err = app.Refund(ctx, app.RefundConfig{Channel: channel, Refund: cfg.Refund, Outbox: cfg.Outbox, Admin: admin, Users: users, Shipping: s.shipping(cfg)},
		opts("refund")...)
	if err := mountFunction("refund", f, err); err != nil {
		return err
	}
	// Transfers exist only on API v3: locally its settings are always there.
	f, err = app.Withdraw(ctx, app.WithdrawConfig{V3: channel.V3, Withdraw: cfg.Withdraw, Admin: admin, Users: users},
		opts("withdraw")...)
	if err := mountFunction("withdraw", f, err); err != nil {
		return err
	}
	f, err = app.CloseExpired(ctx, app.CloseExpiredConfig{Channel: channel, Payment: cfg.Payment, Refund: cfg.Refund, Withdraw: cfg.Withdraw, Shipping: s.shipping(cfg),
		Outbox: cfg.Outbox, Job: cfg.Job, JobAuth: httpapi.JobConfig{Tokens: []string{cfg.JobToken}}, Admin: admin, Trigger: "http"},
		opts("close-expired")...)
	if err := mountFunction("close-expired", f, err); err != nil {
		return err
	}
	s.job = f.Job

	// The simulator's control routes (and WeChat's paths) under /sim/ here too,
	// where make run has always had them.
	mux.Handle(wechatsim.ControlPrefix+"/", simControl)
	if s.alipay != nil {
		mux.Handle(alipaysim.ControlPrefix+"/", s.alipay.Handler())
		mount(mux, "/alipay", s.alipay.Handler())
	}
	// The API reference: every function's /openapi.json, browsable at /docs/.
	docs := make([]openapi.Function, len(functions))
	for i, name := range functions {
		docs[i] = openapi.Function{Name: name, Document: "../" + name + "/openapi.json"}
	}
	page := http.StripPrefix("/docs", openapi.Page(docs))
	mux.Handle("/docs", page)
	mux.Handle("/docs/", page)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, s.usage(cfg))
	})
	s.handler = mux
	return nil
}

// simulator starts the WeChat Pay simulator on its own port, as cmd/wechatsim
// serves it, or finds the one SIM_URL names; the handler it returns serves the
// simulator's /sim/ routes on the stack's port.
func (s *stack) simulator(cfg config) (http.Handler, error) {
	if cfg.SimURL != "" {
		u, err := url.Parse(strings.TrimSuffix(cfg.SimURL, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("configuration: SIM_URL %q is not an http(s) URL", cfg.SimURL)
		}
		s.simBase = u.String()
		return httputil.NewSingleHostReverseProxy(u), nil
	}
	sim, err := wechatsim.Open(wechatsim.Config{
		SubMchID: cfg.SubMchID,
		// In Cloud Hosting a service name routes inside the environment;
		// here every service is a prefix on the stack's port.
		Services: map[string]string{"payment-callback": s.base + "/payment-callback"},
		// WeChat's state survives a restart, as the store's does.
		StateFile: filepath.Join(cfg.DataDir, "wechatsim.jsonl"),
		// Refunds made in the merchant platform (/sim/outside/refunds) are
		// told of on PAY_CHANNEL, where payment-callback listens.
		OutsideRefundCallbackURL: outsideURL(cfg.Channel != wechatsim.ChannelV3, s.base+"/payment-callback/callbacks/refund"),
		OutsideNotifyURL:         outsideURL(cfg.Channel == wechatsim.ChannelV3, s.base+"/payment-callback/callbacks/v3"),
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.SimPort)))
	if err != nil {
		sim.Close()
		return nil, fmt.Errorf("simulator: listen (SIM_PORT): %w", err)
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	s.closers = append(s.closers, func() {
		_ = srv.Close()
		sim.Close()
	})
	s.simBase = fmt.Sprintf("http://127.0.0.1:%d", ln.Addr().(*net.TCPAddr).Port)
	return sim.Handler(), nil
}

// channel is both channels pointed at the simulator, the API v3 one with
// the simulator's development keys: PAY_CHANNEL picks which carries
// payments, and API v3 carries transfers either way.
func (s *stack) channel(cfg config) app.ChannelConfig {
	var ali alipay.Config
	if s.alipay != nil {
		ali = alipay.Config{
			AppID: alipaysim.DevAppID, PrivateKey: alipaysim.DevAppPrivateKeyPEM, PublicKey: alipaysim.DevAlipayPublicKeyPEM,
			SellerID: alipaysim.DevSellerID, NotifyURL: s.base + "/payment-callback/callbacks/alipay",
			GatewayURL: s.base + "/alipay" + alipaysim.GatewayPath, Timeout: 5 * time.Second,
		}
	}
	return app.ChannelConfig{
		Alipay:  ali,
		Channel: cfg.Channel,
		CloudHosting: cloudhosting.Config{
			APIURL: s.simBase, SubMchID: cfg.SubMchID, EnvID: cfg.EnvID,
			CallbackService: "payment-callback", CallbackPath: "/callbacks/pay", RefundCallbackPath: "/callbacks/refund",
			Timeout: 5 * time.Second,
		},
		V3: wechatpay.Config{
			MchID: wechatsim.DevMchID, AppID: wechatsim.DefaultAppID, MchSerial: wechatsim.DevMerchantSerial,
			PrivateKey: wechatsim.DevMerchantPrivateKeyPEM, APIv3Key: wechatsim.DevAPIv3Key,
			PublicKey: wechatsim.DevPlatformPublicKeyPEM, PublicKeyID: wechatsim.DevPublicKeyID,
			NotifyURL: s.base + "/payment-callback/callbacks/v3", APIURL: s.simBase, Timeout: 5 * time.Second,
			TransferReportInfos: cfg.TransferReportInfos,
		},
	}
}

// shipping points the mini-program platform at the simulator: the open
// interface on Cloud Hosting, access tokens with the development secret on
// API v3, as on AWS Lambda.
func (s *stack) shipping(cfg config) app.ShippingConfig {
	mp := miniapp.Config{APIURL: s.simBase, AppID: wechatsim.DefaultAppID, Timeout: 5 * time.Second}
	if cfg.Channel == "v3" {
		mp.Secret = wechatsim.DevAppSecret
	}
	return app.ShippingConfig{MiniProgram: mp}
}

// outsideURL is url if on, else "".
func outsideURL(on bool, url string) string {
	if on {
		return url
	}
	return ""
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
	fmt.Fprintf(&b, "  %-18s %s/docs/  (the API reference: each function's OpenAPI document, browsable)\n", "docs", s.base)
	fmt.Fprintf(&b, "  %-18s %s  (WeChat Pay simulator: WeChat's paths at the root for any SDK, keys at /sim/devkeys)\n", "simulator", s.simBase)
	fmt.Fprintf(&b, "  %-18s %s/sim/  (its control routes, also here: /sim/pay, /sim/faults, /sim/calls, /sim/orders/{no})\n", "", s.base)
	if s.alipay != nil {
		fmt.Fprintf(&b, "  %-18s %s/alipay/gateway.do  (Alipay simulator: pay as the user with POST %s/sim/alipay/pay)\n", "alipay", s.base, s.base)
	}
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
