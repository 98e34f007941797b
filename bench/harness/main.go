// Command harness benchmarks the deployable functions as they ship: it builds
// each one exactly as production does, measures binary size, image size
// (through make image, where docker or podman can build one), start-up time
// to the first healthy answer and idle memory, then runs a storm of pay
// callbacks (every callback twice) against the payment-callback binary and
// checks that every order was paid exactly once, and a refund batch through
// the refund binary.
//
// Everything runs on 127.0.0.1: an embedded FerretDB store and the WeChat Pay
// simulator live in this process, the functions are child processes, each
// given the settings template.yaml gives it.
//
//	go run ./bench/harness [-runs 20] [-orders 1000] [-clients 50] [-refunds 200] [-images=true] [-out bench/results.md]
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
	jobToken   = "bench-job-token"
	envID      = "bench-env"
	// budget bounds the whole run, whatever happens.
	budget = 6 * time.Minute
)

// Goals for the numbers (issue 6); reported, not enforced.
const (
	goalBinaryMB  = 20
	goalStartupMS = 20
	goalRSSMB     = 32
)

type settings struct {
	runs, orders, clients, refunds int
	images                         bool
	out                            string
}

func main() {
	var opt settings
	flag.IntVar(&opt.runs, "runs", 20, "start-up runs per function")
	flag.IntVar(&opt.orders, "orders", 1000, "orders in the callback run (each called back twice)")
	flag.IntVar(&opt.clients, "clients", 50, "concurrent clients in the callback run")
	flag.IntVar(&opt.refunds, "refunds", 200, "items in the refund batch (0: none; at most -orders)")
	flag.BoolVar(&opt.images, "images", true, "build each function's image with make image and report its size")
	flag.StringVar(&opt.out, "out", "bench/results.md", "where to write the results (relative to the module root)")
	flag.Parse()
	if opt.runs < 1 || opt.orders < 1 || opt.clients < 1 || opt.refunds < 0 || opt.refunds > opt.orders {
		fmt.Fprintln(os.Stderr, "harness: -runs, -orders and -clients must be at least 1, -refunds from 0 to -orders")
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

	images := map[string]string{}
	if opt.images {
		images = imageSizes(ctx, root, tmp, names)
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
	cbURL := fmt.Sprintf("http://127.0.0.1:%d", cbPort)
	sim := wechatsim.New(wechatsim.Config{
		SubMchID:    subMchID,
		Services:    map[string]string{"payment-callback": cbURL},
		RetryDelays: []time.Duration{}, // a dropped or refused callback is never redelivered behind our back
	})
	defer sim.Close()
	simSrv := httptest.NewServer(sim.Handler())
	defer simSrv.Close()

	env := baseEnv{storeURI: store.URI(), simURL: simSrv.URL, callbackURL: cbURL}
	load := loadAverage()
	var rows []startupRow
	for _, name := range names {
		progress("start-up: %s, %d runs", name, opt.runs)
		row, err := measureStartup(ctx, bins[name], name, env, opt.runs)
		if err != nil {
			return err
		}
		row.binaryMB, row.image = sizes[name], images[name]
		if row.image == "" {
			row.image = "not measured"
		}
		rows = append(rows, row)
	}

	var cb *callbackResult
	var rb *refundResult
	if bins["payment-callback"] != "" && bins["create-payment"] != "" {
		cb, rb, err = payRuns(ctx, opt, bins, cbPort, env, store, sim)
		if err != nil {
			return err
		}
	} else {
		progress("callbacks: skipped, create-payment or payment-callback is missing")
	}

	tables := render(rows, cb, rb)
	fmt.Print(tables)
	doc := header(ctx, root, load) + "\n" + tables + notes(opt) + fmt.Sprintf("\nHarness wall time: %s.\n", time.Since(started).Round(time.Second))
	out := opt.out
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	if kept := keptSections(out); kept != "" {
		doc += "\n" + kept
	}
	if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
		return err
	}
	progress("wrote %s in %s", out, time.Since(started).Round(time.Second))
	return nil
}

// payRuns runs the callback storm, then the refund batch, on one pay stack.
func payRuns(ctx context.Context, opt settings, bins map[string]string, cbPort int, env baseEnv,
	store *embeddedmongo.Server, sim *wechatsim.Simulator) (*callbackResult, *refundResult, error) {
	create, callback, stop, err := payStack(ctx, bins, cbPort, env, store)
	if err != nil {
		return nil, nil, err
	}
	defer stop()
	progress("callbacks: %d orders, %d clients", opt.orders, opt.clients)
	cb, err := callbackStorm(ctx, stormConfig{create: create, callback: callback, env: env, sim: sim, orders: opt.orders, clients: opt.clients})
	if err != nil {
		return nil, nil, err
	}
	if bins["refund"] == "" || opt.refunds == 0 {
		return &cb, nil, nil
	}
	progress("refunds: a batch of %d", opt.refunds)
	rb, err := refundBatch(ctx, bins["refund"], env, sim, opt.refunds)
	if err != nil {
		return nil, nil, err
	}
	progress("refunds: %d succeeded in %s", rb.succeeded, rb.wall.Round(time.Millisecond))
	return &cb, &rb, nil
}

// keptHeading starts the part of the results file that the harness does
// not measure and keeps as it finds it: the store round trips, measured by
// BenchmarkStoreRoundTrips (bench/roundtrips_test.go) and written up by
// hand, before and after a change.
const keptHeading = "## Store round trips"

// keptSections is the existing results file from keptHeading to its end
// ("" if there is none).
func keptSections(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	text := string(raw)
	i := strings.Index(text, "\n"+keptHeading+"\n")
	if i < 0 {
		return ""
	}
	return text[i+1:]
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

// deployables lists functions/*/main.go's directories, except the local
// stack, in name order: the Makefile's FUNCTIONS (a directory without a
// main.go, such as a test-only package, is not a function).
func deployables(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "local" {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, "functions", e.Name(), "main.go")); err == nil {
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

func header(ctx context.Context, root, load string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# cloudpay benchmarks\n\n")
	fmt.Fprintf(&b, "- date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- go: %s\n", goVersion(ctx, root))
	fmt.Fprintf(&b, "- nproc: %d (GOMAXPROCS %d)\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(&b, "- cpu: %s\n", cpuModel())
	fmt.Fprintf(&b, "- memory: %s\n", procField("/proc/meminfo", "MemTotal"))
	fmt.Fprintf(&b, "- os/arch: %s/%s\n", runtime.GOOS, runtime.GOARCH)
	if load != "" {
		// Other work on the machine moves start-up times most.
		fmt.Fprintf(&b, "- load average (1, 5, 15 min) before the start-up runs, the harness's own builds included: %s\n", load)
	}
	return b.String()
}

// loadAverage is /proc/loadavg's three averages, or "" where there is none.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(raw)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], ", ")
	}
	return ""
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

func cpuModel() string { return procField("/proc/cpuinfo", "model name") }

// procField is the first "key: value" line's value in a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func render(rows []startupRow, cb *callbackResult, rb *refundResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| function | binary MB | image MB | start-up median ms | start-up p90 ms | idle RSS MB |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|\n")
	var missed []string
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %.1f | %s | %.1f | %.1f | %.1f |\n", r.name, r.binaryMB, r.image, r.medianMS, r.p90MS, r.rssMB)
		if r.binaryMB > goalBinaryMB {
			missed = append(missed, fmt.Sprintf("%s binary %.1f MB", r.name, r.binaryMB))
		}
		if r.medianMS > goalStartupMS {
			missed = append(missed, fmt.Sprintf("%s start-up %.1f ms", r.name, r.medianMS))
		}
		if r.rssMB > goalRSSMB {
			missed = append(missed, fmt.Sprintf("%s idle RSS %.1f MB", r.name, r.rssMB))
		}
	}
	fmt.Fprintf(&b, "\nGoals: binary ≤ %d MB, start-up ≤ %d ms median, idle RSS ≤ %d MB: ", goalBinaryMB, goalStartupMS, goalRSSMB)
	if len(missed) == 0 {
		fmt.Fprintf(&b, "all met.\n")
	} else {
		fmt.Fprintf(&b, "missed by %s.\n", strings.Join(missed, ", "))
	}
	if cb != nil {
		fmt.Fprintf(&b, "\n| callback run | clients | requests | req/s | p50 ms | p99 ms | acknowledged | orders paid once |\n")
		fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
		fmt.Fprintf(&b, "| payment-callback, each callback twice | %d | %d | %.0f | %.1f | %.1f | %d/%d | %d/%d |\n",
			cb.clients, cb.requests, cb.perSecond, cb.p50MS, cb.p99MS, cb.acked, cb.requests, cb.paidOnce, cb.orders)
		fmt.Fprintf(&b, "\nFirst deliveries: p50 %.1f ms, p99 %.1f ms; second deliveries: p50 %.1f ms, p99 %.1f ms.\n",
			cb.firstP50, cb.firstP99, cb.dupP50, cb.dupP99)
		problems(&b, "the callback run", cb.problems)
	}
	if rb != nil {
		fmt.Fprintf(&b, "\n| refund batch | items | wall s | refunds/s | succeeded | failed | refunded once at WeChat |\n")
		fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|\n")
		fmt.Fprintf(&b, "| refund, POST /refunds/batch until done | %d | %.1f | %.0f | %d | %d | %d/%d |\n",
			rb.items, rb.wall.Seconds(), rb.perSecond, rb.succeeded, rb.failed, rb.atWeChatOnce, rb.items)
		problems(&b, "the refund batch", rb.problems)
	}
	return b.String()
}

func problems(b *strings.Builder, run string, list []string) {
	if len(list) == 0 {
		return
	}
	fmt.Fprintf(b, "\nProblems seen in %s (first few of each kind):\n\n", run)
	for _, p := range list {
		fmt.Fprintf(b, "- %s\n", p)
	}
}

func notes(opt settings) string {
	return fmt.Sprintf(`
Method (go run ./bench/harness):
- Binaries: CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -tags nomsgpack (as make build);
  MB = 2^20 bytes. Image: make image FUNCTION=<name> (docker where an engine runs, else podman
  building the Dockerfile's runtime stage from the same binary), size as the builder reports it,
  uncompressed.
- Settings: as template.yaml gives them on the Cloud Hosting channel: payment-callback, withdraw
  and close-expired also get the API v3 keys (the simulator's development keys, its v3 side as
  WECHATPAY_API_URL); close-expired its JOB_TOKEN. LOG_LEVEL=error.
- Store: embedded FerretDB 1.24 (SQLite) in the harness process; simulator on a loopback httptest server.
- Start-up: exec to first 200 on GET /healthz, polled every 2 ms; %d runs per function after one
  uncounted warm-up run, all on one shared database whose indexes therefore already exist.
  Idle RSS: VmRSS 1 s after the last run's first 200.
- Callbacks: %d orders created through the create-payment binary (POST /orders, POST /payments),
  paid in the simulator with the callback dropped; the genuine bodies are then POSTed to the
  payment-callback binary by %d keep-alive clients, each twice (the duplicate follows %d
  requests after the original). Latency is per request, from send to reply read. "Paid once":
  order status paid, one paid settlement and exactly one order.paid event, read from the store.
- Refund batch: the refund binary refunds %d fen of each of the first %d of those orders in one
  POST /refunds/batch (REFUND_* defaults: 8 at a time, at most 100 calls/s); wall time from the
  POST to GET /refunds/batches/:id reporting every item done, WeChat's refund callbacks going to
  the running payment-callback. "Refunded once": the simulator holds exactly one refund per order.
`, opt.runs, opt.orders, opt.clients, lag(opt.clients), refundFen, opt.refunds)
}
