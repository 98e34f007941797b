package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// runSimulator serves the WeChat Pay simulator alone, under /sim/ as the local stack
// mounts it, until ctx ends (or SIGINT/SIGTERM): `local sim [flags]`. Its state is on
// disk (-state), so the functions can crash and restart against it, and so can it.
// Point the functions' clients at http://ADDR/sim; Cloud Hosting callbacks go to
// -callback-base, v3 notifications to the notify_url each request names.
func runSimulator(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("local sim", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on (loopback: /sim/pay must not face a network)")
	state := fs.String("state", filepath.Join(".data", "wechatsim.jsonl"), "state file (JSON lines, created with its directory); empty keeps the state in memory")
	callbackBase := fs.String("callback-base", "http://127.0.0.1:8080/payment-callback",
		"base URL of the payment-callback function: Cloud Hosting pay and refund callbacks go to it + the container path")
	subMchID := fs.String("sub-mch-id", envOr("WECHAT_SUB_MCH_ID", "1900000109"), "the merchant the simulator serves (the functions' WECHAT_SUB_MCH_ID); empty accepts any")
	settleDelay := fs.Duration("refund-settle-delay", 0, "how long a new refund stays PROCESSING before it succeeds on its own; negative: until settled through /sim/refunds/{no}/settle")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("local sim: unexpected arguments %q", fs.Args())
	}

	log := serve.Logger(serve.Config{LogLevel: envOr("LOG_LEVEL", "info")}, "wechatsim")
	sim, err := wechatsim.Open(wechatsim.Config{
		SubMchID: *subMchID,
		// In Cloud Hosting a service name routes inside the environment; here the one
		// service the functions name is the payment-callback function, wherever it runs.
		Services:          map[string]string{"payment-callback": *callbackBase},
		RefundSettleDelay: *settleDelay,
		StateFile:         *state,
		// Cloud Hosting refund callbacks of refunds made in the merchant platform
		// (/sim/outside/refunds) of payments made outside (/sim/outside/payments).
		OutsideRefundCallbackURL: strings.TrimSuffix(*callbackBase, "/") + "/callbacks/refund",
	})
	if err != nil {
		return err
	}
	defer sim.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	base := "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/sim/", http.StripPrefix("/sim", sim.Handler()))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, simUsage(base, *state, *callbackBase))
	})
	fmt.Fprint(os.Stderr, simUsage(base, *state, *callbackBase))
	return serve.Serve(ctx, serve.Config{ShutdownTimeout: 5 * time.Second}, ln, mux, log)
}

func simUsage(base, state, callbackBase string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "WeChat Pay simulator on %s/sim/\n", base)
	if state == "" {
		fmt.Fprintf(&b, "  state: in memory (lost when this process ends)\n")
	} else {
		fmt.Fprintf(&b, "  state: %s (kept across restarts)\n", state)
	}
	fmt.Fprintf(&b, "  Cloud Hosting callbacks to %s/<container path>\n", strings.TrimSuffix(callbackBase, "/"))
	fmt.Fprintf(&b, "  clients' API URL (Cloud Hosting and API v3): %s/sim\n", base)
	fmt.Fprintf(&b, "  act as the user: curl -s -X POST %s/sim/pay -d '{\"out_trade_no\":\"<no>\"}'\n", base)
	fmt.Fprintf(&b, "  WeChat's truth: %s/sim/orders/<no>, /sim/refunds?out_trade_no=, /sim/transfers\n", base)
	return b.String()
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}
