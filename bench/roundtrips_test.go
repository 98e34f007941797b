package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/cloudpay/cloudpay/shared/app"
	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/storetest"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// Goals (issue "Never stuck", item 8), in store commands per operation.
var roundTripGoals = map[string]int{
	"pay-callback": 8,
	"refund":       15,
	"withdrawal":   15,
}

// coldStartGoal is the most commands a start on an existing schema may send
// before its first answer.
const coldStartGoal = 2

// idleItems is how many of each idle item the job pass runs over.
const idleItems = 1000

// Functions, as the counter labels them.
const (
	fnCreate   = "create-payment"
	fnCallback = "payment-callback"
	fnRefund   = "refund"
	fnWithdraw = "withdraw"
	fnJob      = "close-expired"
)

var functionNames = []string{fnCreate, fnCallback, fnRefund, fnWithdraw, fnJob}

// cmdKey is one kind of command: who sent it, its name, its collection,
// and with ROUNDTRIPS_TRACE set, the store method and the use case that
// sent it.
type cmdKey struct{ fn, name, coll, via string }

// tracing records where each command comes from (ROUNDTRIPS_TRACE=1).
var tracing = os.Getenv("ROUNDTRIPS_TRACE") != ""

// caller names the store method that sent a command and the use-case
// function that called it ("mongostore.(*Store).Order < payment.(*Service).Confirm").
// The monitor runs on the goroutine that runs the command.
func caller() string {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(4, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	var store, user string
	for {
		f, more := frames.Next()
		name := f.Function
		if i := strings.LastIndex(name, "/"); i >= 0 {
			name = name[i+1:]
		}
		switch {
		case strings.Contains(f.Function, "/shared/mongostore."):
			if store == "" || strings.Contains(name, "(*Store).") {
				store = name
			}
		case store != "" && strings.Contains(f.Function, "cloudpay/shared/") && !strings.Contains(name, "func"):
			user = name
		}
		if user != "" || !more {
			break
		}
	}
	if store == "" {
		return "?"
	}
	return store + " < " + user
}

// tally counts commands by kind.
type tally map[cmdKey]int

func (t tally) total() int {
	n := 0
	for _, v := range t {
		n += v
	}
	return n
}

// minus is what t counted since earlier.
func (t tally) minus(earlier tally) tally {
	out := tally{}
	for k, v := range t {
		if d := v - earlier[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// commands counts the commands of every monitored client.
type commands struct {
	mu  sync.Mutex
	all tally
	n   atomic.Int64
}

func newCommands() *commands { return &commands{all: tally{}} }

// monitor counts the commands a client sends, as fn's.
func (c *commands) monitor(fn string) *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		k := cmdKey{fn: fn, name: e.CommandName, coll: collectionOf(e)}
		if tracing {
			k.via = caller()
		}
		c.mu.Lock()
		c.all[k]++
		c.mu.Unlock()
		c.n.Add(1)
	}}
}

// collectionOf is the collection a command names, if it names one.
func collectionOf(e *event.CommandStartedEvent) string {
	field := e.CommandName
	if field == "getMore" {
		field = "collection"
	}
	if v, err := e.Command.LookupErr(field); err == nil {
		if s, ok := v.StringValueOK(); ok {
			return s
		}
	}
	return ""
}

func (c *commands) snapshot() tally {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(tally, len(c.all))
	for k, v := range c.all {
		out[k] = v
	}
	return out
}

// quiet waits until no command has been sent for a while: what an
// operation set off in the background (a callback in flight) is over.
func (c *commands) quiet(tb testing.TB) {
	tb.Helper()
	const still = 300 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	last, since := c.n.Load(), time.Now()
	for time.Since(since) < still {
		if time.Now().After(deadline) {
			tb.Fatalf("the store never went quiet")
		}
		time.Sleep(20 * time.Millisecond)
		if n := c.n.Load(); n != last {
			last, since = n, time.Now()
		}
	}
}

// connect opens a client as mongostore.Connect does (its defaults, then the
// URI's options, majority writes unless the URI says otherwise, one ping),
// with mon counting its commands.
func connect(ctx context.Context, uri string, mon *event.CommandMonitor) (*mongo.Client, error) {
	opts := options.Client().
		SetServerSelectionTimeout(5 * time.Second).
		SetConnectTimeout(5 * time.Second).
		ApplyURI(uri).
		SetMonitor(mon)
	if opts.WriteConcern == nil {
		opts.SetWriteConcern(writeconcern.Majority())
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx, nil); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return client, nil
}

// sample is what one run of an operation sent: ops operations (0 means 1),
// whose counts the table divides by ops.
type sample struct {
	cmds tally
	wall time.Duration
	ops  int
}

// perOp is the sample's commands per operation.
func (s sample) perOp() float64 { return float64(s.cmds.total()) / float64(max(s.ops, 1)) }

// opResult is an operation's samples.
type opResult struct {
	Name    string
	Samples []sample
	Note    string
}

// results collects every operation measured in this process, for the table.
var results struct {
	mu  sync.Mutex
	ops []*opResult
}

func record(name, note string, samples []sample) {
	results.mu.Lock()
	defer results.mu.Unlock()
	results.ops = append(results.ops, &opResult{Name: name, Samples: samples, Note: note})
}

// report sets the benchmark's metrics from the samples and records them.
func report(b *testing.B, name, note string, samples []sample) {
	b.Helper()
	if len(samples) == 0 {
		b.Fatalf("%s: no sample", name)
	}
	sum := 0.0
	for _, s := range samples {
		sum += s.perOp()
	}
	b.ReportMetric(sum/float64(len(samples)), "store-cmds/op")
	record(name, note, samples)
}

// BenchmarkStoreRoundTrips counts the commands the functions send to the
// store for one operation each ("Never stuck", item 8). Every function is
// built through package app as its deployable builds it, on a store of its
// own whose *mongo.Client has an event.CommandMonitor that counts every
// command started, by function, name and collection; an operation's count
// is the difference across it, summed over the functions it passes
// through. Store: the embedded FerretDB of package storetest (by default
// in a storeserver process of its own; MONGODB_TEST_URI for a real
// MongoDB). WeChat: the simulator on a loopback httptest server, which
// calls payment-callback over loopback HTTP.
//
//	go test ./bench -run '^$' -bench StoreRoundTrips
//
// It prints a table of the counts, by operation and command name;
// ROUNDTRIPS_JSON=file also writes them as JSON, and ROUNDTRIPS_TRACE=1
// names the store method and use case behind each command (it walks the
// stack of every command). Operations:
//
//   - pay-callback: one unsigned Cloud Hosting pay callback for an order
//     whose payment WeChat has taken: payment-callback queries WeChat and
//     records the payment.
//   - pay-callback-duplicate: the same callback again, once recorded.
//   - pay-callback-storm: stormOrders orders' callbacks, each delivered
//     twice, from stormClients concurrent clients; per callback.
//   - refund: POST /refunds to refund, until the refund is succeeded in the
//     store (WeChat settles it and calls payment-callback back); refund and
//     payment-callback together.
//   - withdrawal: POST /withdrawals to withdraw (API v3 transfer bill), the
//     user confirms through the simulator's POST /transfers/{no}/confirm,
//     until the withdrawal is succeeded (WeChat's notification to
//     payment-callback); withdraw and payment-callback together.
//   - job-pass-idle: one close-expired pass over idle items (see
//     benchJobPassIdle).
//   - cold-start/FUNCTION/{schema,empty}: connect (with mongostore.Open's
//     settings and its ping), mongostore.New, the app builder, then GET
//     /healthz until its first 200, on a database whose schema exists and
//     on an empty one.
func BenchmarkStoreRoundTrips(b *testing.B) {
	results.mu.Lock()
	results.ops = nil // this run's only (-count)
	results.mu.Unlock()
	b.Run("pay-callback", benchPayCallback)
	b.Run("pay-callback-duplicate", benchPayCallbackDuplicate)
	b.Run("pay-callback-storm", benchPayCallbackStorm)
	b.Run("refund", benchRefund)
	b.Run("withdrawal", benchWithdrawal)
	b.Run("job-pass-idle", benchJobPassIdle)
	for _, fn := range functionNames {
		for _, empty := range []bool{false, true} {
			db := "schema"
			if empty {
				db = "empty"
			}
			b.Run("cold-start/"+fn+"/"+db, func(b *testing.B) { benchColdStart(b, fn, empty) })
		}
	}
	printRoundTrips(os.Stdout)
	if path := os.Getenv("ROUNDTRIPS_JSON"); path != "" {
		if err := writeRoundTripsJSON(path); err != nil {
			b.Fatal(err)
		}
	}
}

// rig is cloudpay's five functions on one database, each on a monitored
// store of its own: payments and refunds on the Cloud Hosting channel,
// transfers on API v3 (as template.yaml deploys them), WeChat played by
// the simulator.
type rig struct {
	b        *testing.B
	cmds     *commands
	cfg      mongostore.Config
	plain    *mongostore.Store // unmonitored: seeding checks and polling
	sim      *wechatsim.Simulator
	simURL   string
	funcs    map[string]*app.Function
	callback atomic.Pointer[http.Handler]
}

type rigOptions struct {
	refund  refund.Config
	jobNow  func() time.Time // close-expired's clock; nil: the wall clock
	notify  string           // BUSINESS_NOTIFY_URL for close-expired
	jobConf job.Config
}

var withdrawLimits = withdraw.Config{MinFen: 10, MaxFen: 500_000, DailyCount: 1_000_000, DailyFen: 1_000_000_000}

func newRig(b *testing.B, o rigOptions) *rig {
	b.Helper()
	ctx := context.Background()
	r := &rig{b: b, cmds: newCommands(), funcs: map[string]*app.Function{}}
	r.cfg = storetest.Config(b)
	plain, err := mongostore.Open(ctx, r.cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = plain.Close(context.Background()) })
	r.plain = plain

	cbSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h := r.callback.Load()
		if h == nil {
			http.Error(w, "payment-callback is not built yet", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, req)
	}))
	b.Cleanup(cbSrv.Close)
	r.sim = wechatsim.New(wechatsim.Config{SubMchID: subMchID, Services: map[string]string{"payment-callback": cbSrv.URL},
		RetryDelays: []time.Duration{}, HTTPClient: &http.Client{Timeout: time.Minute}})
	b.Cleanup(r.sim.Close)
	simSrv := httptest.NewServer(r.sim.Handler())
	b.Cleanup(simSrv.Close)
	r.simURL = simSrv.URL

	v3 := wechatpay.Config{
		MchID: wechatsim.DevMchID, AppID: wechatsim.DefaultAppID, MchSerial: wechatsim.DevMerchantSerial,
		PrivateKey: wechatsim.DevMerchantPrivateKeyPEM, APIv3Key: wechatsim.DevAPIv3Key,
		PublicKey: wechatsim.DevPlatformPublicKeyPEM, PublicKeyID: wechatsim.DevPublicKeyID,
		NotifyURL: cbSrv.URL + "/callbacks/v3", APIURL: simSrv.URL, Timeout: 30 * time.Second,
		TransferReportInfos: "活动名称=回收奖励;奖励说明=回收收益提现",
	}
	ch := app.ChannelConfig{Channel: wechat.CloudHosting, V3: v3, CloudHosting: cloudhosting.Config{
		APIURL: simSrv.URL, SubMchID: subMchID, EnvID: "bench-env", Timeout: 30 * time.Second,
		CallbackService: "payment-callback", CallbackPath: "/callbacks/pay", RefundCallbackPath: "/callbacks/refund",
	}}
	admin := httpapi.AdminConfig{Tokens: []string{adminToken}}
	notify := outbox.Config{}
	if o.notify != "" {
		notify = outbox.Config{URL: o.notify, Secret: "bench-notify-secret", Timeout: 30 * time.Second}
	}
	with := func(fn string, opts ...app.Option) []app.Option { return append(opts, app.WithStore(r.store(fn))) }
	r.funcs[fnCreate] = built(b)(app.CreatePayment(ctx, app.CreatePaymentConfig{Channel: ch, Admin: admin}, with(fnCreate)...))
	r.funcs[fnCallback] = built(b)(app.PaymentCallback(ctx, app.PaymentCallbackConfig{Channel: ch, Refund: o.refund, Withdraw: withdrawLimits}, with(fnCallback)...))
	r.callback.Store(&r.funcs[fnCallback].Handler)
	r.funcs[fnRefund] = built(b)(app.Refund(ctx, app.RefundConfig{Channel: ch, Refund: o.refund, Admin: admin}, with(fnRefund)...))
	r.funcs[fnWithdraw] = built(b)(app.Withdraw(ctx, app.WithdrawConfig{V3: v3, Withdraw: withdrawLimits, Admin: admin}, with(fnWithdraw)...))
	var jobOpts []app.Option
	if o.jobNow != nil {
		jobOpts = append(jobOpts, app.WithClock(o.jobNow))
	}
	r.funcs[fnJob] = built(b)(app.CloseExpired(ctx, app.CloseExpiredConfig{Channel: ch, Refund: o.refund, Withdraw: withdrawLimits,
		Outbox: notify, Job: o.jobConf, JobAuth: httpapi.JobConfig{Tokens: []string{"bench-job-token"}}, Admin: admin, Trigger: "http"},
		with(fnJob, jobOpts...)...))
	return r
}

// store opens the rig's database for fn on a monitored client of its own.
func (r *rig) store(fn string) *mongostore.Store {
	r.b.Helper()
	ctx := context.Background()
	client, err := connect(ctx, r.cfg.URI, r.cmds.monitor(fn))
	if err != nil {
		r.b.Fatal(err)
	}
	r.b.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	s, err := mongostore.New(ctx, client, r.cfg.Database)
	if err != nil {
		r.b.Fatal(err)
	}
	return s
}

// heldCallback creates order no, asks for its payment, has WeChat take the
// money with the callback held back, and returns the callback's body.
func (r *rig) heldCallback(no string) []byte {
	b := r.b
	b.Helper()
	ctx := context.Background()
	pay := r.funcs[fnCreate].Payments
	if _, _, err := pay.CreateOrder(ctx, payment.NewOrder{OutTradeNo: no, OpenID: openid, AmountFen: 1200, Description: "bench order"}); err != nil {
		b.Fatal(err)
	}
	if _, err := pay.CreatePayment(ctx, openid, no, "203.0.113.7", ""); err != nil {
		b.Fatal(err)
	}
	if err := r.sim.AddFault(wechatsim.Fault{API: "pay_callback", Mode: wechatsim.ModeDrop, Count: 1}); err != nil {
		b.Fatal(err)
	}
	paid, err := r.sim.Pay(ctx, no)
	if err != nil {
		b.Fatal(err)
	}
	if !paid.Callback.Dropped {
		b.Fatalf("no held-back callback for %s: %+v", no, paid.Callback)
	}
	return paid.Callback.Body
}

// paid creates order no and has it paid, the callback delivered to
// payment-callback.
func (r *rig) paid(ctx context.Context, no string, fen cloudpay.Fen) error {
	pay := r.funcs[fnCreate].Payments
	if _, _, err := pay.CreateOrder(ctx, payment.NewOrder{OutTradeNo: no, OpenID: openid, AmountFen: fen, Description: "bench order"}); err != nil {
		return err
	}
	if _, err := pay.CreatePayment(ctx, openid, no, "203.0.113.7", ""); err != nil {
		return err
	}
	res, err := r.sim.Pay(ctx, no)
	if err != nil {
		return err
	}
	if !res.Callback.OK {
		return fmt.Errorf("pay %s: callback not acknowledged: %+v", no, res.Callback)
	}
	return nil
}

// until polls done (on the unmonitored store) until it holds.
func until(b *testing.B, what string, done func() (bool, error)) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ok, err := done()
		if err != nil {
			b.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: not reached in 2 minutes", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func benchPayCallback(b *testing.B) {
	r := newRig(b, rigOptions{})
	var samples []sample
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		no := fmt.Sprintf("RTPAY%07d", i)
		body := r.heldCallback(no) // synchronous: nothing left running
		before, start := r.cmds.snapshot(), time.Now()
		b.StartTimer()
		rec := serve(r.funcs[fnCallback].Handler, http.MethodPost, "/callbacks/pay", body, nil)
		b.StopTimer()
		wall := time.Since(start)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"errcode":0`) {
			b.Fatalf("pay callback: %d %s", rec.Code, rec.Body)
		}
		samples = append(samples, sample{cmds: r.cmds.snapshot().minus(before), wall: wall})
		if o, err := r.plain.Order(context.Background(), no); err != nil || o.Status != cloudpay.OrderPaid {
			b.Fatalf("order %s after its callback: %v %v", no, o.Status, err)
		}
		b.StartTimer()
	}
	report(b, "pay-callback", "unsigned Cloud Hosting callback: query WeChat, record", samples)
}

func benchPayCallbackDuplicate(b *testing.B) {
	r := newRig(b, rigOptions{})
	body := r.heldCallback("RTDUP0000001")
	if rec := serve(r.funcs[fnCallback].Handler, http.MethodPost, "/callbacks/pay", body, nil); rec.Code != http.StatusOK {
		b.Fatalf("first callback: %d %s", rec.Code, rec.Body)
	}
	r.cmds.quiet(b)
	var samples []sample
	for b.Loop() {
		before, start := r.cmds.snapshot(), time.Now()
		rec := serve(r.funcs[fnCallback].Handler, http.MethodPost, "/callbacks/pay", body, nil)
		wall := time.Since(start)
		b.StopTimer()
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"errcode":0`) {
			b.Fatalf("duplicate callback: %d %s", rec.Code, rec.Body)
		}
		samples = append(samples, sample{cmds: r.cmds.snapshot().minus(before), wall: wall})
		b.StartTimer()
	}
	report(b, "pay-callback-duplicate", "the same callback once the payment is recorded", samples)
}

// stormOrders and stormClients size the concurrent run: every callback
// delivered twice, the second stormClients/2 requests after the first, as
// the harness's callback storm sends them (smaller, to stay quick).
const (
	stormOrders  = 400
	stormClients = 50
)

// benchPayCallbackStorm counts commands per callback when callbacks race:
// concurrent requests, and second deliveries that may arrive while the
// first is being recorded. Retries of a busy store and waits on the first
// delivery show here, not in pay-callback.
func benchPayCallbackStorm(b *testing.B) {
	r := newRig(b, rigOptions{})
	ctx := context.Background()
	var samples []sample
	var firstMS, secondMS []float64
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		n := stormOrders
		if err := r.sim.AddFault(wechatsim.Fault{API: "pay_callback", Mode: wechatsim.ModeDrop, Count: n}); err != nil {
			b.Fatal(err)
		}
		bodies := make([][]byte, n)
		pay := r.funcs[fnCreate].Payments
		parallel(b, n, func(i int) error {
			no := fmt.Sprintf("RTSTORM%02d%05d", round, i)
			if _, _, err := pay.CreateOrder(ctx, payment.NewOrder{OutTradeNo: no, OpenID: openid, AmountFen: 1200, Description: "bench order"}); err != nil {
				return err
			}
			if _, err := pay.CreatePayment(ctx, openid, no, "203.0.113.7", ""); err != nil {
				return err
			}
			paid, err := r.sim.Pay(ctx, no)
			if err != nil {
				return err
			}
			if !paid.Callback.Dropped {
				return fmt.Errorf("no held-back callback for %s", no)
			}
			bodies[i] = paid.Callback.Body
			return nil
		})
		lag := stormClients / 2
		type job struct {
			i      int
			second bool
		}
		var jobs []job
		for i := range n {
			jobs = append(jobs, job{i, false})
			if i >= lag {
				jobs = append(jobs, job{i - lag, true})
			}
		}
		for i := max(n-lag, 0); i < n; i++ {
			jobs = append(jobs, job{i, true})
		}
		lat := make([]float64, len(jobs))
		var next atomic.Int64
		var failed atomic.Value
		before, start := r.cmds.snapshot(), time.Now()
		b.StartTimer()
		var wg sync.WaitGroup
		for range stormClients {
			wg.Go(func() {
				for {
					j := int(next.Add(1)) - 1
					if j >= len(jobs) {
						return
					}
					t0 := time.Now()
					rec := serve(r.funcs[fnCallback].Handler, http.MethodPost, "/callbacks/pay", bodies[jobs[j].i], nil)
					lat[j] = float64(time.Since(t0).Microseconds()) / 1000
					if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"errcode":0`) {
						failed.CompareAndSwap(nil, fmt.Sprintf("callback %d: %d %s", jobs[j].i, rec.Code, rec.Body))
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		wall := time.Since(start)
		r.cmds.quiet(b)
		if f := failed.Load(); f != nil {
			b.Logf("not acknowledged (first of them): %v", f)
		}
		samples = append(samples, sample{cmds: r.cmds.snapshot().minus(before), wall: wall, ops: len(jobs)})
		for j, jb := range jobs {
			if jb.second {
				secondMS = append(secondMS, lat[j])
			} else {
				firstMS = append(firstMS, lat[j])
			}
		}
		b.StartTimer()
	}
	note := fmt.Sprintf("%d callbacks (%d orders, each twice) from %d concurrent clients per run; first deliveries p50 %.1f ms, p99 %.1f ms; second deliveries p50 %.1f ms, p99 %.1f ms",
		2*stormOrders, stormOrders, stormClients, pct(firstMS, 50), pct(firstMS, 99), pct(secondMS, 50), pct(secondMS, 99))
	b.Log(note)
	report(b, "pay-callback-storm", note, samples)
}

// pct is the nearest-rank percentile of xs (sorted in place).
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	rank := int(float64(len(xs))*p/100 + 0.999999)
	return xs[max(rank-1, 0)]
}

func benchRefund(b *testing.B) {
	r := newRig(b, rigOptions{refund: refund.Config{MinInterval: time.Minute}})
	ctx := context.Background()
	admin := map[string]string{"Authorization": "Bearer " + adminToken}
	var samples []sample
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		no, key := fmt.Sprintf("RTREF%07d", i), fmt.Sprintf("rt-refund-%d-%d", time.Now().UnixNano(), i)
		if err := r.paid(ctx, no, 1990); err != nil {
			b.Fatal(err)
		}
		r.cmds.quiet(b)
		outRefundNo := cloudpay.OutRefundNoForKey(key)
		before, start := r.cmds.snapshot(), time.Now()
		b.StartTimer()
		body := fmt.Appendf(nil, `{"out_trade_no":%q,"amount_fen":500,"reason":"bench","idempotency_key":%q}`, no, key)
		rec := serve(r.funcs[fnRefund].Handler, http.MethodPost, "/refunds", body, admin)
		if rec.Code/100 != 2 {
			b.Fatalf("POST /refunds: %d %s", rec.Code, rec.Body)
		}
		until(b, "refund "+outRefundNo+" succeeded", func() (bool, error) {
			rf, err := r.plain.Refund(ctx, outRefundNo)
			return err == nil && rf.Status == cloudpay.RefundSucceeded, nil
		})
		b.StopTimer()
		wall := time.Since(start)
		r.cmds.quiet(b)
		samples = append(samples, sample{cmds: r.cmds.snapshot().minus(before), wall: wall})
		b.StartTimer()
	}
	report(b, "refund", "POST /refunds until succeeded (refund + payment-callback)", samples)
}

func benchWithdrawal(b *testing.B) {
	r := newRig(b, rigOptions{})
	ctx := context.Background()
	hc := &http.Client{Timeout: time.Minute}
	var samples []sample
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		user, key := fmt.Sprintf("oBenchWithdraw_%07d", i), fmt.Sprintf("rt-withdraw-%d", i)
		if _, _, err := r.funcs[fnWithdraw].Withdrawals.Credit(ctx, user, "credit-"+key, 1000, "bench"); err != nil {
			b.Fatal(err)
		}
		r.cmds.quiet(b)
		id := cloudpay.WithdrawalID(user, key)
		before, start := r.cmds.snapshot(), time.Now()
		b.StartTimer()
		body := fmt.Appendf(nil, `{"amount_fen":300,"idempotency_key":%q}`, key)
		rec := serve(r.funcs[fnWithdraw].Handler, http.MethodPost, "/withdrawals", body, map[string]string{"X-WX-OPENID": user, "X-WX-SOURCE": "bench"})
		if rec.Code/100 != 2 {
			b.Fatalf("POST /withdrawals: %d %s", rec.Code, rec.Body)
		}
		// The user confirms the transfer in WeChat.
		resp, err := hc.Post(r.simURL+wechatsim.ControlPrefix+"/transfers/"+id+"/confirm", "application/json", strings.NewReader("{}"))
		if err != nil {
			b.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			b.Fatalf("confirm transfer %s: %s", id, resp.Status)
		}
		until(b, "withdrawal "+id+" succeeded", func() (bool, error) {
			w, err := r.plain.Withdrawal(ctx, id)
			return err == nil && w.Status == cloudpay.WithdrawalSucceeded, nil
		})
		b.StopTimer()
		wall := time.Since(start)
		r.cmds.quiet(b)
		samples = append(samples, sample{cmds: r.cmds.snapshot().minus(before), wall: wall})
		b.StartTimer()
	}
	report(b, "withdrawal", "POST /withdrawals, user confirms, until succeeded (withdraw + payment-callback)", samples)
}

// benchJobPassIdle measures a close-expired pass when nothing is due.
// Idle items (seedIdle): idleItems paid orders (nothing due: not expired,
// not late) and idleItems refunds waiting for their turn (WeChat's least
// interval between two refunds of one order, here 24 h: four waiting
// behind one succeeded refund on each of idleItems/4 of the orders), their
// business events delivered and their ledger entries swept. The job's
// clock starts 10 minutes after the seeding (past the sweep's grace) and
// moves one minute per pass, as the schedule runs it. Warm-up passes run
// until the job is idle (a pass that did nothing and sent as many commands
// as the one before, or three passes that sent as many; at most 20); then
// the measured passes.
func benchJobPassIdle(b *testing.B) {
	var jobClock atomic.Pointer[time.Time]
	now := func() time.Time {
		if t := jobClock.Load(); t != nil {
			return *t
		}
		return time.Now()
	}
	advance := func(d time.Duration) {
		t := now().Add(d)
		jobClock.Store(&t)
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(receiver.Close)
	r := newRig(b, rigOptions{refund: refund.Config{MinInterval: 24 * time.Hour}, jobNow: now, notify: receiver.URL,
		jobConf: job.Config{Budget: 5 * time.Minute}})
	seedStart := time.Now()
	r.seedIdle(b)
	b.Logf("seeded in %s", time.Since(seedStart).Round(time.Second))

	ctx := context.Background()
	jobs := r.funcs[fnJob].Job
	t0 := time.Now().Add(10 * time.Minute)
	jobClock.Store(&t0)
	var sent []int // commands of each warm-up pass
	for len(sent) < 20 {
		advance(time.Minute)
		before := r.cmds.snapshot()
		rep := jobs.Run(ctx)
		if len(rep.Errors) > 0 {
			b.Fatalf("warm-up pass %d: errors %+v", len(sent)+1, rep.Errors[:min(3, len(rep.Errors))])
		}
		r.cmds.quiet(b)
		sent = append(sent, r.cmds.snapshot().minus(before).total())
		n := len(sent)
		if (idle(rep) && n >= 2 && sent[n-1] == sent[n-2]) || (n >= 3 && sent[n-1] == sent[n-2] && sent[n-2] == sent[n-3]) {
			break
		}
	}
	b.Logf("warm-up passes, commands each: %v", sent)
	r.cmds.quiet(b)
	var samples []sample
	var last job.Report
	pass := func() {
		advance(time.Minute)
		before, start := r.cmds.snapshot(), time.Now()
		b.StartTimer()
		last = jobs.Run(ctx)
		b.StopTimer()
		wall := time.Since(start)
		r.cmds.quiet(b)
		samples = append(samples, sample{cmds: r.cmds.snapshot().minus(before), wall: wall})
	}
	// A pass takes about a second on the embedded store, so b.Loop would
	// stop at one: two more are measured first.
	b.StopTimer()
	pass()
	pass()
	b.StartTimer()
	for b.Loop() {
		b.StopTimer()
		pass()
		b.StartTimer()
	}
	note := fmt.Sprintf("after %d warm-up passes; last pass: synced %d, retried %d, skipped %d, sent %d, errors %d",
		len(sent), last.RefundsSynced, last.RefundsRetried, last.Skipped, last.NotificationsSent, len(last.Errors))
	b.Log(note)
	report(b, "job-pass-idle", note, samples)
}

// idle tells whether a pass did nothing.
func idle(r job.Report) bool {
	return r.Closed == 0 && r.PaidLate == 0 && r.Repaired == 0 && r.RefundsSynced == 0 && r.RefundsRetried == 0 &&
		r.BatchItemsResumed == 0 && r.WithdrawalsSynced == 0 && r.NotificationsSent == 0 && r.Skipped == 0 && len(r.Errors) == 0
}

// seedIdle stores the job pass's idle items through the functions.
func (r *rig) seedIdle(b *testing.B) {
	ctx := context.Background()
	refunds := r.funcs[fnRefund].Refunds
	no := func(i int) string { return fmt.Sprintf("RTIDLE%06d", i) }
	const perOrder = 4 // waiting refunds per refunded order
	refunded := idleItems / perOrder
	phase := time.Now()
	parallel(b, idleItems, func(i int) error { return r.paid(ctx, no(i), 1990) })
	b.Logf("seed: %d paid orders in %s", idleItems, time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	parallel(b, refunded, func(i int) error {
		_, _, err := refunds.Create(ctx, refund.NewRefund{OutTradeNo: no(i), AmountFen: 500, Reason: "bench", IdempotencyKey: fmt.Sprintf("idle-%d-0", i)})
		return err
	})
	until(b, "first refunds succeeded", func() (bool, error) {
		n, err := r.plain.Database().Collection("refunds").CountDocuments(ctx, bson.D{{Key: "status", Value: cloudpay.RefundSucceeded}})
		return n == int64(refunded), err
	})
	b.Logf("seed: %d refunds succeeded in %s", refunded, time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	parallel(b, refunded, func(i int) error {
		for k := 1; k <= perOrder; k++ {
			rf, _, err := refunds.Create(ctx, refund.NewRefund{OutTradeNo: no(i), AmountFen: 300, Reason: "bench", IdempotencyKey: fmt.Sprintf("idle-%d-%d", i, k)})
			if err == nil && rf.Status != cloudpay.RefundApproved {
				err = fmt.Errorf("refund %d of %s is %s, not waiting for its turn", k, no(i), rf.Status)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	b.Logf("seed: %d refunds waiting for their turn in %s", refunded*perOrder, time.Since(phase).Round(time.Millisecond))
	r.cmds.quiet(b)
}

// parallel runs do(0..n-1) on 8 workers and fails b on the first error.
func parallel(b *testing.B, n int, do func(i int) error) {
	b.Helper()
	var next atomic.Int64
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := do(i); err != nil {
					errs <- err
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// benchColdStart measures fn's start: connect, mongostore.New, its app
// builder and the first GET /healthz.
func benchColdStart(b *testing.B, fn string, empty bool) {
	cmds := newCommands()
	cfg := storetest.Config(b) // a database whose schema exists
	ctx := context.Background()
	v3 := wechatpay.Config{
		MchID: wechatsim.DevMchID, AppID: wechatsim.DefaultAppID, MchSerial: wechatsim.DevMerchantSerial,
		PrivateKey: wechatsim.DevMerchantPrivateKeyPEM, APIv3Key: wechatsim.DevAPIv3Key,
		PublicKey: wechatsim.DevPlatformPublicKeyPEM, PublicKeyID: wechatsim.DevPublicKeyID,
		NotifyURL: "http://127.0.0.1:1/callbacks/v3", APIURL: "http://127.0.0.1:1",
		TransferReportInfos: "活动名称=回收奖励;奖励说明=回收收益提现",
	}
	ch := app.ChannelConfig{Channel: wechat.CloudHosting, V3: v3, CloudHosting: cloudhosting.Config{
		APIURL: "http://127.0.0.1:1", SubMchID: subMchID, EnvID: "bench-env",
		CallbackService: "payment-callback", CallbackPath: "/callbacks/pay", RefundCallbackPath: "/callbacks/refund",
	}}
	admin := httpapi.AdminConfig{Tokens: []string{adminToken}}
	build := func(s *mongostore.Store) (*app.Function, error) {
		with := app.WithStore(s)
		switch fn {
		case fnCreate:
			return app.CreatePayment(ctx, app.CreatePaymentConfig{Channel: ch, Admin: admin}, with)
		case fnCallback:
			return app.PaymentCallback(ctx, app.PaymentCallbackConfig{Channel: ch, Withdraw: withdrawLimits}, with)
		case fnRefund:
			return app.Refund(ctx, app.RefundConfig{Channel: ch, Admin: admin}, with)
		case fnWithdraw:
			return app.Withdraw(ctx, app.WithdrawConfig{V3: v3, Withdraw: withdrawLimits, Admin: admin}, with)
		case fnJob:
			return app.CloseExpired(ctx, app.CloseExpiredConfig{Channel: ch, Withdraw: withdrawLimits,
				JobAuth: httpapi.JobConfig{Tokens: []string{"bench-job-token"}}, Admin: admin, Trigger: "http"}, with)
		}
		return nil, fmt.Errorf("no function %q", fn)
	}
	var samples []sample
	for b.Loop() {
		b.StopTimer()
		db := cfg.Database
		if empty {
			db = storetest.DatabaseName()
		}
		before, start := cmds.snapshot(), time.Now()
		b.StartTimer()
		client, err := connect(ctx, cfg.URI, cmds.monitor(fn))
		if err != nil {
			b.Fatal(err)
		}
		s, err := mongostore.New(ctx, client, db)
		if err != nil {
			b.Fatal(err)
		}
		f, err := build(s)
		if err != nil {
			b.Fatal(err)
		}
		rec := serve(f.Handler, http.MethodGet, "/healthz", nil, nil)
		b.StopTimer()
		wall := time.Since(start)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET /healthz: %d %s", rec.Code, rec.Body)
		}
		samples = append(samples, sample{cmds: cmds.snapshot().minus(before), wall: wall})
		f.Close()
		if empty {
			_ = client.Database(db).Drop(ctx)
		}
		_ = client.Disconnect(ctx)
		b.StartTimer()
	}
	kind := "schema"
	if empty {
		kind = "empty"
	}
	report(b, "cold-start/"+fn+"/"+kind, "connect + ping, mongostore.New, builder, first GET /healthz", samples)
}

// summary is an operation's counts, for the table and the JSON. Counts
// are per operation (a storm's are per callback).
type summary struct {
	Operation string             `json:"operation"`
	Samples   int                `json:"samples"`
	Mean      float64            `json:"mean"`
	Min       float64            `json:"min"`
	Max       float64            `json:"max"`
	Totals    []float64          `json:"totals"` // each sample's, in order
	Goal      int                `json:"goal,omitempty"`
	WallMS    float64            `json:"wall_ms_median"`
	ByName    map[string]float64 `json:"by_name"` // of the sample with the median total
	ByColl    map[string]float64 `json:"by_name_and_collection"`
	ByFn      map[string]float64 `json:"by_function"`
	ByCaller  map[string]float64 `json:"by_caller,omitempty"` // ROUNDTRIPS_TRACE
	// The same of a sample with the most commands, when samples differ.
	WorstByColl   map[string]float64 `json:"worst_by_name_and_collection,omitempty"`
	WorstByCaller map[string]float64 `json:"worst_by_caller,omitempty"`
	Note          string             `json:"note,omitempty"`
}

// breakdown is a sample's commands per operation by name and collection,
// and (tracing) by caller.
func breakdown(smp sample) (byColl, byCaller map[string]float64) {
	ops := float64(max(smp.ops, 1))
	byColl = map[string]float64{}
	if tracing {
		byCaller = map[string]float64{}
	}
	for k, n := range smp.cmds {
		name := k.name
		if k.coll != "" {
			name += " " + k.coll
		}
		byColl[name] += float64(n) / ops
		if tracing {
			byCaller[name+" ("+k.via+")"] += float64(n) / ops
		}
	}
	return byColl, byCaller
}

func summarize(op *opResult) summary {
	s := summary{Operation: op.Name, Samples: len(op.Samples), Note: op.Note, Min: -1}
	totals := make([]float64, len(op.Samples))
	walls := make([]time.Duration, len(op.Samples))
	sum := 0.0
	for i, smp := range op.Samples {
		t := smp.perOp()
		totals[i], walls[i] = t, smp.wall
		sum += t
		if s.Min < 0 || t < s.Min {
			s.Min = t
		}
		s.Max = max(s.Max, t)
	}
	s.Mean = sum / float64(len(op.Samples))
	s.Totals = totals
	slices.Sort(walls)
	s.WallMS = float64(walls[len(walls)/2].Microseconds()) / 1000
	// The breakdown is of a sample whose total is the median.
	sorted := slices.Clone(totals)
	slices.Sort(sorted)
	pick := op.Samples[slices.Index(totals, sorted[len(sorted)/2])]
	ops := float64(max(pick.ops, 1))
	s.ByName, s.ByFn = map[string]float64{}, map[string]float64{}
	for k, n := range pick.cmds {
		s.ByName[k.name] += float64(n) / ops
		s.ByFn[k.fn] += float64(n) / ops
	}
	s.ByColl, s.ByCaller = breakdown(pick)
	if s.Min != s.Max {
		s.WorstByColl, s.WorstByCaller = breakdown(op.Samples[slices.Index(totals, s.Max)])
	}
	if g, ok := roundTripGoals[op.Name]; ok {
		s.Goal = g
	} else if strings.HasPrefix(op.Name, "cold-start/") && strings.HasSuffix(op.Name, "/schema") {
		s.Goal = coldStartGoal
	}
	return s
}

func summaries() []summary {
	results.mu.Lock()
	defer results.mu.Unlock()
	out := make([]summary, 0, len(results.ops))
	for _, op := range results.ops {
		out = append(out, summarize(op))
	}
	return out
}

// num renders a count: whole, or to two places.
func num(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprint(int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}

// counts renders a breakdown, largest first.
func counts(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + num(m[k])
	}
	return strings.Join(parts, ", ")
}

func printRoundTrips(w *os.File) {
	list := summaries()
	if len(list) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nStore round trips (commands started, by the driver's command monitor):\n\n")
	fmt.Fprintf(&b, "| operation | samples | commands | goal | met | median ms | by command | by function |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---|---:|---|---|\n")
	for _, s := range list {
		n := num(s.Mean)
		if s.Min != s.Max {
			n = fmt.Sprintf("%.1f (%s–%s)", s.Mean, num(s.Min), num(s.Max))
		}
		goal, met := "", ""
		if s.Goal > 0 {
			goal, met = fmt.Sprint(s.Goal), "yes"
			if s.Max > float64(s.Goal) {
				met = "no"
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %.1f | %s | %s |\n", s.Operation, s.Samples, n, goal, met, s.WallMS, counts(s.ByName), counts(s.ByFn))
	}
	fmt.Fprintf(&b, "\nBy command and collection (a sample with the median count):\n\n")
	for _, s := range list {
		fmt.Fprintf(&b, "- %s: %s\n", s.Operation, counts(s.ByColl))
		if s.Note != "" && (strings.HasPrefix(s.Operation, "job") || strings.HasSuffix(s.Operation, "storm")) {
			fmt.Fprintf(&b, "  (%s)\n", s.Note)
		}
		if len(s.ByCaller) > 0 {
			fmt.Fprintf(&b, "  by caller: %s\n", counts(s.ByCaller))
		}
		if len(s.WorstByColl) > 0 {
			fmt.Fprintf(&b, "  a sample with the most (%s): %s\n", num(s.Max), counts(s.WorstByColl))
		}
		if len(s.WorstByCaller) > 0 {
			fmt.Fprintf(&b, "  its callers: %s\n", counts(s.WorstByCaller))
		}
	}
	fmt.Fprint(w, b.String())
}

func writeRoundTripsJSON(path string) error {
	raw, err := json.MarshalIndent(summaries(), "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}
