package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/embeddedmongo"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

const (
	callbackDB     = "bench_callbacks"
	prepareWorkers = 8
	maxProblems    = 5
	// requestTimeout is generous so latencies are the server's, not cut
	// short by the client; fireBudget bounds the callback storm as a whole.
	requestTimeout = 30 * time.Second
	fireBudget     = 150 * time.Second
)

type stormConfig struct {
	create, callback *proc // create-payment and payment-callback, on callbackDB
	env              baseEnv
	sim              *wechatsim.Simulator
	orders, clients  int
}

type callbackResult struct {
	clients, requests, orders int
	perSecond, p50MS, p99MS   float64
	// The same percentiles of the first and of the second delivery of each
	// callback: a second one that races the first waits for it.
	firstP50, firstP99, dupP50, dupP99 float64
	acked, paidOnce                    int
	problems                           []string
}

// lag is how many requests after an original its duplicate is sent: far
// enough that most duplicates find the payment recorded, close enough that
// some race the original.
func lag(clients int) int { return max(clients/2, 1) }

// payStack starts payment-callback on callbackPort (the simulator's callback
// address) and create-payment, both on callbackDB; stop stops both.
func payStack(ctx context.Context, bins map[string]string, callbackPort int, env baseEnv, store *embeddedmongo.Server) (create, callback *proc, stop func(), err error) {
	callback, err = startHealthy(ctx, bins["payment-callback"], "payment-callback", callbackPort, env)
	if err != nil {
		return nil, nil, nil, err
	}
	// payment-callback created the collections at start-up; as every local
	// user of the embedded store does, make its _id lookups indexed.
	if err := store.IndexIDs(ctx, callbackDB); err != nil {
		_ = callback.stop()
		return nil, nil, nil, err
	}
	port, err := freePort()
	if err == nil {
		create, err = startHealthy(ctx, bins["create-payment"], "create-payment", port, env)
	}
	if err != nil {
		_ = callback.stop()
		return nil, nil, nil, err
	}
	return create, callback, func() { _ = create.stop(); _ = callback.stop() }, nil
}

// callbackStorm prepares paid orders whose callbacks were dropped, then
// delivers every callback twice to payment-callback.
func callbackStorm(ctx context.Context, cfg stormConfig) (callbackResult, error) {
	res := callbackResult{clients: cfg.clients, orders: cfg.orders, requests: 2 * cfg.orders}
	prepStart := time.Now()
	bodies, err := prepare(ctx, cfg, cfg.create.url)
	if err != nil {
		return res, err
	}
	progress("callbacks: %d orders paid with their callbacks held back in %s", len(bodies), time.Since(prepStart).Round(time.Millisecond))

	lat, dup, acked, problems, elapsed := fire(ctx, cfg.callback.url+"/callbacks/pay", bodies, cfg.clients)
	res.requests, res.acked, res.problems = len(lat), acked, problems
	if len(lat) < 2*cfg.orders {
		res.problems = append(res.problems, fmt.Sprintf("only %d of %d callbacks were sent within %s", len(lat), 2*cfg.orders, fireBudget))
	}
	res.perSecond = float64(len(lat)) / elapsed.Seconds()
	var first, second []float64
	for i, ms := range lat {
		if dup[i] {
			second = append(second, ms)
		} else {
			first = append(first, ms)
		}
	}
	res.firstP50, res.firstP99 = percentile(first, 50), percentile(first, 99)
	res.dupP50, res.dupP99 = percentile(second, 50), percentile(second, 99)
	res.p50MS, res.p99MS = percentile(lat, 50), percentile(lat, 99)
	progress("callbacks: %d sent in %s", len(lat), elapsed.Round(time.Millisecond))
	if acked < len(lat) {
		res.problems = append(res.problems, logLines(cfg.callback, 3)...)
	}

	var why []string
	res.paidOnce, why, err = paidOnce(ctx, cfg.env.storeURI, cfg.orders)
	res.problems = append(res.problems, why...)
	return res, err
}

func startHealthy(ctx context.Context, bin, name string, port int, env baseEnv) (*proc, error) {
	p, started, err := start(bin, name, port, env.vars(name, port, callbackDB))
	if err != nil {
		return nil, err
	}
	if _, err := p.waitHealthy(ctx, started); err != nil {
		_ = p.stop()
		return nil, err
	}
	return p, nil
}

// logLines returns the first n lines p logged (LOG_LEVEL=error: its errors),
// each cut to 400 bytes.
func logLines(p *proc, n int) []string {
	var out []string
	for line := range strings.Lines(p.out.String()) {
		if len(out) == n {
			break
		}
		line = strings.TrimSpace(line)
		if len(line) > 400 {
			line = line[:400] + "…"
		}
		out = append(out, p.name+" logged: "+line)
	}
	return out
}

func orderNo(i int) string { return fmt.Sprintf("BENCH%07d", i) }

// prepare creates and pays cfg.orders orders and returns each one's genuine
// callback body, which the simulator was told to drop instead of delivering.
func prepare(ctx context.Context, cfg stormConfig, createURL string) ([][]byte, error) {
	if err := cfg.sim.AddFault(wechatsim.Fault{API: "pay_callback", Mode: wechatsim.ModeDrop, Count: cfg.orders}); err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: requestTimeout}
	defer client.CloseIdleConnections()
	bodies := make([][]byte, cfg.orders)
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range min(prepareWorkers, cfg.orders) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.orders || ctx.Err() != nil {
					return
				}
				body, err := prepareOne(ctx, client, cfg.sim, createURL, i)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					next.Store(int64(cfg.orders)) // stop the others
					return
				}
				bodies[i] = body
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return bodies, firstErr
}

func prepareOne(ctx context.Context, client *http.Client, sim *wechatsim.Simulator, createURL string, i int) ([]byte, error) {
	no, openid := orderNo(i), fmt.Sprintf("oBenchUser_%04d", i%100)
	order := map[string]any{"out_trade_no": no, "openid": openid, "amount_fen": 100 + i%900, "description": "bench order"}
	if err := postJSON(ctx, client, createURL+"/orders", order, map[string]string{"Authorization": "Bearer " + adminToken}, http.StatusCreated); err != nil {
		return nil, err
	}
	user := map[string]string{"X-WX-OPENID": openid, "X-WX-SOURCE": "wx_client", "X-Forwarded-For": "203.0.113.7"}
	if err := postJSON(ctx, client, createURL+"/payments", map[string]any{"out_trade_no": no}, user, http.StatusOK); err != nil {
		return nil, err
	}
	paid, err := sim.Pay(ctx, no)
	if err != nil {
		return nil, fmt.Errorf("simulator pay %s: %w", no, err)
	}
	if !paid.Callback.Dropped || len(paid.Callback.Body) == 0 {
		return nil, fmt.Errorf("simulator pay %s: callback was not held back: %+v", no, paid.Callback)
	}
	return []byte(paid.Callback.Body), nil
}

func postJSON(ctx context.Context, client *http.Client, url string, body any, header map[string]string, want int) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != want {
		return fmt.Errorf("POST %s: HTTP %d, want %d: %s", url, resp.StatusCode, want, reply)
	}
	return nil
}

// fire sends every body twice, the duplicate lag(clients) requests after the
// original, from clients concurrent keep-alive clients. It returns each
// request's latency in ms, how many were acknowledged (errcode 0), the first
// problems and the wall time; dup[i] tells whether lat[i] is a callback's
// second delivery. Requests not started within fireBudget are not sent
// (and not in lat).
func fire(ctx context.Context, url string, bodies [][]byte, clients int) (lat []float64, dup []bool, acked int, problems []string, elapsed time.Duration) {
	n, l := len(bodies), lag(clients)
	jobs := make([]int, 0, 2*n) // indexes into bodies, in sending order
	second := make([]bool, 0, 2*n)
	for i := range n {
		jobs, second = append(jobs, i), append(second, false)
		if i >= l {
			jobs, second = append(jobs, i-l), append(second, true)
		}
	}
	for i := max(n-l, 0); i < n; i++ {
		jobs, second = append(jobs, i), append(second, true)
	}

	transport := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	client := &http.Client{Timeout: requestTimeout, Transport: transport}
	defer transport.CloseIdleConnections()
	lat = make([]float64, len(jobs))
	ok := make([]bool, len(jobs))
	sent := make([]bool, len(jobs))
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(clients, len(jobs)) {
		wg.Go(func() {
			for {
				j := int(next.Add(1) - 1)
				if j >= len(jobs) || ctx.Err() != nil || time.Since(start) > fireBudget {
					return
				}
				sent[j] = true
				t0 := time.Now()
				good, why := sendCallback(ctx, client, url, bodies[jobs[j]])
				lat[j] = float64(time.Since(t0).Microseconds()) / 1000
				ok[j] = good
				if !good {
					mu.Lock()
					if len(problems) < maxProblems {
						problems = append(problems, fmt.Sprintf("%s: %s", orderNo(jobs[j]), why))
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	var done []float64
	for j := range jobs {
		if sent[j] {
			done = append(done, lat[j])
			dup = append(dup, second[j])
		}
		if ok[j] {
			acked++
		}
	}
	return done, dup, acked, problems, elapsed
}

// sendCallback reports whether payment-callback acknowledged the callback
// the way Cloud Hosting requires: HTTP 200 and errcode 0.
func sendCallback(ctx context.Context, client *http.Client, url string, body []byte) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return false, err.Error()
	}
	var reply struct {
		ErrCode *int `json:"errcode"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &reply) != nil || reply.ErrCode == nil || *reply.ErrCode != 0 {
		return false, fmt.Sprintf("HTTP %d %s", resp.StatusCode, bytes.TrimSpace(raw))
	}
	return true, ""
}

// paidOnce counts the bench orders that are paid exactly once according to
// the store: status paid, one paid settlement, exactly one order.paid event.
// It also says what is wrong with the first few that are not.
func paidOnce(ctx context.Context, uri string, orders int) (int, []string, error) {
	client, err := mongostore.Connect(ctx, uri)
	if err != nil {
		return 0, nil, err
	}
	defer client.Disconnect(context.Background())
	db := client.Database(callbackDB)

	status := map[string]string{}
	if err := scan(ctx, db.Collection("orders"), bson.D{}, func(d bson.M) {
		id, _ := d["_id"].(string)
		st, _ := d["status"].(string)
		status[id] = st
	}); err != nil {
		return 0, nil, err
	}
	settled := map[string]int{}
	if err := scan(ctx, db.Collection("settlements"), bson.D{{Key: "outcome", Value: string(cloudpay.SettledPaid)}}, func(d bson.M) {
		id, _ := d["_id"].(string)
		settled[id]++
	}); err != nil {
		return 0, nil, err
	}
	events := map[string]int{}
	if err := scan(ctx, db.Collection("events"), bson.D{{Key: "type", Value: string(cloudpay.EventOrderPaid)}}, func(d bson.M) {
		subject, _ := d["subject"].(string)
		events[subject]++
	}); err != nil {
		return 0, nil, err
	}
	n := 0
	var why []string
	for i := range orders {
		no := orderNo(i)
		if status[no] == string(cloudpay.OrderPaid) && settled[no] == 1 && events[no] == 1 {
			n++
		} else if len(why) < maxProblems {
			why = append(why, fmt.Sprintf("%s not paid once: status %q, %d paid settlements, %d order.paid events",
				no, status[no], settled[no], events[no]))
		}
	}
	return n, why, nil
}

func scan(ctx context.Context, col *mongo.Collection, filter bson.D, each func(bson.M)) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cur, err := col.Find(ctx, filter, options.Find().SetBatchSize(1000))
	if err != nil {
		return fmt.Errorf("read %s: %w", col.Name(), err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d bson.M
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("read %s: %w", col.Name(), err)
		}
		each(d)
	}
	return cur.Err()
}
