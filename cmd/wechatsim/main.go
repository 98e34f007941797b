// Command wechatsim serves cloudpay's WeChat Pay simulator as a process of its
// own: WeChat's paths at the root exactly as WeChat serves them (API v3 as on
// api.mch.weixin.qq.com, the Cloud Hosting open interface under /_/pay/, the
// mini-program platform's /cgi-bin/stable_token and /wxa/sec/order/…), its own
// control routes under /sim/ (act as the user, inject faults, read WeChat's side
// of the truth, GET /sim/devkeys), its state on disk across restarts. Any SDK
// pointed at it with the development keys works unmodified; docs/simulator.md
// tells how. It is never deployed; the image is for merchants' CI (Dockerfile
// target wechatsim).
//
// Settings (environment): HOST (127.0.0.1; the image 0.0.0.0), PORT (8090),
// WECHATSIM_STATE (.data/wechatsim.jsonl; "memory" keeps nothing), WECHATSIM_SERVICES
// (Cloud Hosting service name=base URL, comma-separated; default
// payment-callback=http://127.0.0.1:8080/payment-callback, make run's),
// WECHATSIM_OUTSIDE_REFUND_CALLBACK_URL, WECHATSIM_OUTSIDE_NOTIFY_URL,
// WECHAT_SUB_MCH_ID, WECHATSIM_REFUND_SETTLE_DELAY, WECHATSIM_SIGNING
// (public_key | certificate), WECHATSIM_TRANSFER_NO_CONFIRM, LOG_LEVEL.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

type config struct {
	// Loopback by default: /sim/pay pays anything and the keys are public.
	Host  string `env:"HOST, default=127.0.0.1"`
	Port  int    `env:"PORT, default=8090"`
	State string `env:"WECHATSIM_STATE, default=.data/wechatsim.jsonl"`
	// Cloud Hosting delivers a callback to a container service of the environment,
	// named in unifiedOrder; here each name is a base URL.
	Services map[string]string `env:"WECHATSIM_SERVICES, separator==, default=payment-callback=http://127.0.0.1:8080/payment-callback"`
	// Where the merchant platform's own refunds (POST /sim/outside/refunds) are told
	// of: default the payment-callback service's /callbacks/refund.
	OutsideRefundCallbackURL string        `env:"WECHATSIM_OUTSIDE_REFUND_CALLBACK_URL"`
	OutsideNotifyURL         string        `env:"WECHATSIM_OUTSIDE_NOTIFY_URL"`
	SubMchID                 string        `env:"WECHAT_SUB_MCH_ID, default=1900000109"`
	RefundSettleDelay        time.Duration `env:"WECHATSIM_REFUND_SETTLE_DELAY, default=0s"`
	Signing                  string        `env:"WECHATSIM_SIGNING, default=public_key"`
	TransferNoConfirm        bool          `env:"WECHATSIM_TRANSFER_NO_CONFIRM, default=false"`
	LogLevel                 string        `env:"LOG_LEVEL, default=info"`
}

func main() {
	if err := realMain(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "wechatsim:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	if len(os.Args) > 1 {
		fmt.Fprint(os.Stderr, "usage: wechatsim (settings come from the environment; see the package documentation or docs/simulator.md)\n")
		return fmt.Errorf("unexpected arguments %q", os.Args[1:])
	}
	var cfg config
	if err := serve.Load(ctx, &cfg); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return run(ctx, cfg, ln, serve.Logger(serve.Config{LogLevel: cfg.LogLevel}, "wechatsim"))
}

// simConfig is the simulator's configuration from the process's settings.
func simConfig(cfg config) (wechatsim.Config, error) {
	if cfg.Signing != wechatsim.SignPublicKey && cfg.Signing != wechatsim.SignCertificate {
		return wechatsim.Config{}, fmt.Errorf("configuration: WECHATSIM_SIGNING %q: want %s or %s", cfg.Signing, wechatsim.SignPublicKey, wechatsim.SignCertificate)
	}
	state := cfg.State
	if state == "memory" {
		state = ""
	}
	outsideRefund := cfg.OutsideRefundCallbackURL
	if base, ok := cfg.Services["payment-callback"]; ok && outsideRefund == "" {
		outsideRefund = strings.TrimSuffix(base, "/") + "/callbacks/refund"
	}
	return wechatsim.Config{
		SubMchID: cfg.SubMchID, Services: cfg.Services, StateFile: state,
		OutsideRefundCallbackURL: outsideRefund, OutsideNotifyURL: cfg.OutsideNotifyURL,
		RefundSettleDelay: cfg.RefundSettleDelay, Signing: cfg.Signing, TransferNoConfirm: cfg.TransferNoConfirm,
	}, nil
}

// run serves the simulator on ln until ctx ends (or SIGINT/SIGTERM).
func run(ctx context.Context, cfg config, ln net.Listener, log *slog.Logger) error {
	simCfg, err := simConfig(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	sim, err := wechatsim.Open(simCfg)
	if err != nil {
		ln.Close()
		return err
	}
	defer sim.Close()
	base := "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/", sim.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, usage(base, cfg))
	})
	fmt.Fprint(os.Stderr, usage(base, cfg))
	return serve.Serve(ctx, serve.Config{ShutdownTimeout: 5 * time.Second}, ln, mux, log)
}

func usage(base string, cfg config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "WeChat Pay simulator on %s\n", base)
	fmt.Fprintf(&b, "  API v3 at %s/v3/…, Cloud Hosting's open interface at %s/_/pay/…: give SDKs the base URL %s\n", base, base, base)
	fmt.Fprintf(&b, "  development keys: %s/sim/devkeys (merchant %s; docs/simulator.md shows each SDK)\n", base, wechatsim.DevMchID)
	if cfg.State == "memory" {
		fmt.Fprintf(&b, "  state: in memory (lost when this process ends)\n")
	} else {
		fmt.Fprintf(&b, "  state: %s (kept across restarts)\n", cfg.State)
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Services)) {
		fmt.Fprintf(&b, "  Cloud Hosting service %q: callbacks to %s/<container path>\n", name, strings.TrimSuffix(cfg.Services[name], "/"))
	}
	fmt.Fprintf(&b, "  act as the user: curl -s -X POST %s/sim/pay -d '{\"out_trade_no\":\"<no>\"}'\n", base)
	fmt.Fprintf(&b, "  WeChat's truth: %s/sim/orders/<no>, /sim/refunds?out_trade_no=, /sim/transfers, /sim/calls\n", base)
	return b.String()
}
