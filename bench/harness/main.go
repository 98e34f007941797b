// Command harness benchmarks the deployable functions as they ship: it builds
// each one exactly as production does, measures binary size, start-up time to
// the first healthy answer and idle memory, then runs a storm of pay callbacks
// (every callback twice) against the payment-callback binary and checks that
// every order was paid exactly once.
//
// Everything runs on 127.0.0.1: an embedded FerretDB store and the WeChat Pay
// simulator live in this process, the functions are child processes.
//
//	go run ./bench/harness [-runs 20] [-orders 1000] [-clients 50] [-out bench/results.md]
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/embeddedmongo"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

const (
	subMchID   = "1900000109"
	adminToken = "bench-token"
	envID      = "bench-env"
	// budget bounds the whole run, whatever happens.
	budget = 6 * time.Minute
)

type settings struct {
	runs, orders, clients int
	out                   string
}

func main() {
	var opt settings
	flag.IntVar(&opt.runs, "runs", 20, "start-up runs per function")
	flag.IntVar(&opt.orders, "orders", 1000, "orders in the callback run (each called back twice)")
	flag.IntVar(&opt.clients, "clients", 50, "concurrent clients in the callback run")
	flag.StringVar(&opt.out, "out", "bench/results.md", "where to write the results (relative to the module root)")
	flag.Parse()
	if opt.runs < 1 || opt.orders < 1 || opt.clients < 1 {
		fmt.Fprintln(os.Stderr, "harness: -runs, -orders and -clients must be at least 1")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	err := run(ctx, opt)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opt settings) error {
	started := time.Now()
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	names, err := deployables(root)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "cloudpay-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	progress("building %s", strings.Join(names, ", "))
	bins := map[string]string{}
	sizes := map[string]float64{}
	for _, name := range names {
		bin, mb, err := build(ctx, root, tmp, name)
		if err != nil {
			return err
		}
		bins[name], sizes[name] = bin, mb
	}

	store, err := embeddedmongo.Start(filepath.Join(tmp, "store"), nil)
	if err != nil {
		return err
	}
	defer store.Stop()

	// The simulator must know where payment-callback listens before it
	// exists, so that port is chosen now.
	cbPort, err := freePort()
	if err != nil {
		return err
	}
	sim := wechatsim.New(wechatsim.Config{
		SubMchID:    subMchID,
		Services:    map[string]string{"payment-callback": fmt.Sprintf("http://127.0.0.1:%d", cbPort)},
		RetryDelays: []time.Duration{}, // a dropped or refused callback is never redelivered behind our back
	})
	defer sim.Close()
	simSrv := httptest.NewServer(sim.Handler())
	defer simSrv.Close()

	env := baseEnv{storeURI: store.URI(), simURL: simSrv.URL}
	var rows []startupRow
	for _, name := range names {
		progress("start-up: %s, %d runs", name, opt.runs)
		row, err := measureStartup(ctx, bins[name], name, env, opt.runs)
		if err != nil {
			return err
		}
		row.binaryMB = sizes[name]
		rows = append(rows, row)
	}

	var cb *callbackResult
	if bins["payment-callback"] != "" && bins["create-payment"] != "" {
		progress("callbacks: %d orders, %d clients", opt.orders, opt.clients)
		res, err := callbackStorm(ctx, stormConfig{
			createBin: bins["create-payment"], callbackBin: bins["payment-callback"], callbackPort: cbPort, store: store,
			env: env, sim: sim, orders: opt.orders, clients: opt.clients,
		})
		if err != nil {
			return err
		}
		cb = &res
	} else {
		progress("callbacks: skipped, create-payment or payment-callback is missing")
	}

	tables := render(rows, cb)
	fmt.Print(tables)
	doc := header(ctx, root) + "\n" + tables + notes(opt) + fmt.Sprintf("\nHarness wall time: %s.\n", time.Since(started).Round(time.Second))
	out := opt.out
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
		return err
	}
	progress("wrote %s in %s", out, time.Since(started).Round(time.Second))
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "harness: "+format+"\n", args...)
}

// moduleRoot walks up from the working directory to this module's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 64 {
		raw, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(raw, []byte("module github.com/cloudpay/cloudpay\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("run me inside github.com/cloudpay/cloudpay (no go.mod found above the working directory)")
}

// deployables lists functions/*, except the local stack, in name order.
func deployables(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "local" {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, errors.New("no deployable function under functions/")
	}
	slices.Sort(names)
	return names, nil
}

// build compiles one function the way the Dockerfile does and returns the
// binary's path and size in MB.
func build(ctx context.Context, root, dir, name string) (string, float64, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-tags", "nomsgpack",
		"-o", bin, "./functions/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", 0, fmt.Errorf("build %s: %w\n%s", name, err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		return "", 0, err
	}
	return bin, float64(fi.Size()) / (1 << 20), nil
}

func header(ctx context.Context, root string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# cloudpay benchmarks\n\n")
	fmt.Fprintf(&b, "- date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- go: %s\n", goVersion(ctx, root))
	fmt.Fprintf(&b, "- nproc: %d (GOMAXPROCS %d)\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(&b, "- cpu: %s\n", cpuModel())
	fmt.Fprintf(&b, "- os/arch: %s/%s\n", runtime.GOOS, runtime.GOARCH)
	return b.String()
}

// goVersion is the toolchain that built the functions (`go version`), which
// may differ from the one running this harness.
func goVersion(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "go", "env", "GOVERSION")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return runtime.Version()
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func render(rows []startupRow, cb *callbackResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| function | binary MB | start-up median ms | start-up p90 ms | idle RSS MB |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.1f | %.1f |\n", r.name, r.binaryMB, r.medianMS, r.p90MS, r.rssMB)
	}
	if cb != nil {
		fmt.Fprintf(&b, "\n| callback run | clients | requests | req/s | p50 ms | p99 ms | acknowledged | orders paid once |\n")
		fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
		fmt.Fprintf(&b, "| payment-callback, each callback twice | %d | %d | %.0f | %.1f | %.1f | %d/%d | %d/%d |\n",
			cb.clients, cb.requests, cb.perSecond, cb.p50MS, cb.p99MS, cb.acked, cb.requests, cb.paidOnce, cb.orders)
		if len(cb.problems) > 0 {
			fmt.Fprintf(&b, "\nProblems seen in the callback run (first few of each kind):\n\n")
			for _, p := range cb.problems {
				fmt.Fprintf(&b, "- %s\n", p)
			}
		}
	}
	return b.String()
}

func notes(opt settings) string {
	return fmt.Sprintf(`
Method (go run ./bench/harness):
- Binaries: CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -tags nomsgpack; MB = 2^20 bytes.
- Store: embedded FerretDB 1.24 (SQLite) in the harness process; simulator on a loopback httptest server.
- Start-up: exec to first 200 on GET /healthz, polled every 2 ms; %d runs per function after one
  uncounted warm-up run, all on one shared database whose indexes therefore already exist.
  Idle RSS: VmRSS 1 s after the last run's first 200.
- Callbacks: %d orders created through the create-payment binary (POST /orders, POST /payments),
  paid in the simulator with the callback dropped; the genuine bodies are then POSTed to the
  payment-callback binary by %d keep-alive clients, each twice (the duplicate follows %d
  requests after the original). Latency is per request, from send to reply read. "Paid once":
  order status paid, one paid settlement and exactly one order.paid event, read from the store.
`, opt.runs, opt.orders, opt.clients, lag(opt.clients))
}
