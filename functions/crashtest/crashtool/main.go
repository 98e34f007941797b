// Command crashtool is the crash suite's helper (functions/crashtest); it is
// never deployed. It runs, as a process of its own:
//
//	crashtool sim -addr host:port -state file -callback-base url [-refund-settle-delay d] [-retry-delays d,d,...]
//	    the WeChat Pay simulator as cmd/wechatsim serves it, with
//	    its state on disk (a kill -9 loses nothing it answered) and the
//	    redelivery schedule chosen by the test: none by default, so a
//	    callback lost in a crash comes again only if the test sends it;
//	crashtool job
//	    close-expired, built by package app from the same environment as its
//	    deployable, whose clock runs CRASHTEST_CLOCK_AHEAD (a duration)
//	    ahead of the wall clock: the suite's way of letting minutes pass
//	    (attempt leases, WeChat's 5 minutes before an order may be closed)
//	    without waiting for them.
//
// Built with -tags crashpoints, as the suite builds it, the job stops at the
// crash points of package crashpoint like the functions do.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/app"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "sim":
		err = sim(os.Args[2:])
	case len(os.Args) == 2 && os.Args[1] == "job":
		err = job()
	default:
		err = errors.New("usage: crashtool sim [flags] | crashtool job")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crashtool:", err)
		os.Exit(1)
	}
}

func sim(args []string) error {
	fs := flag.NewFlagSet("crashtool sim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	state := fs.String("state", "", "state file (JSON lines); empty keeps the state in memory")
	callbackBase := fs.String("callback-base", "", "base URL of payment-callback (Cloud Hosting callbacks)")
	subMchID := fs.String("sub-mch-id", "1900000109", "the merchant the simulator serves")
	settleDelay := fs.Duration("refund-settle-delay", -1, "how long a new refund stays PROCESSING before it succeeds on its own; negative: until settled")
	retry := fs.String("retry-delays", "", "comma-separated redelivery delays of a failed callback; empty: none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	delays := []time.Duration{}
	for d := range strings.SplitSeq(*retry, ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		v, err := time.ParseDuration(d)
		if err != nil {
			return fmt.Errorf("-retry-delays: %w", err)
		}
		delays = append(delays, v)
	}
	s, err := wechatsim.Open(wechatsim.Config{
		SubMchID:          *subMchID,
		Services:          map[string]string{"payment-callback": *callbackBase},
		RetryDelays:       delays,
		RefundSettleDelay: *settleDelay,
		StateFile:         *state,
	})
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", s.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	log := serve.Logger(serve.Config{LogLevel: "error"}, "wechatsim")
	return serve.Serve(context.Background(), serve.Config{ShutdownTimeout: time.Second}, ln, mux, log)
}

func job() error {
	ctx := context.Background()
	var cfg app.CloseExpiredConfig
	if err := serve.Load(ctx, &cfg); err != nil {
		return err
	}
	var ahead time.Duration
	if v := os.Getenv("CRASHTEST_CLOCK_AHEAD"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("CRASHTEST_CLOCK_AHEAD: %w", err)
		}
		ahead = d
	}
	log := serve.Logger(cfg.Serve, "close-expired")
	f, err := app.CloseExpired(ctx, cfg, app.WithLogger(log), app.WithClock(func() time.Time { return time.Now().Add(ahead) }))
	if err != nil {
		return err
	}
	defer f.Close()
	return serve.Run(ctx, cfg.Serve, f.Handler, log)
}
