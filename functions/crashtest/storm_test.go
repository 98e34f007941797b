//go:build linux

package crashtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// stormLength is how long functions are killed while the workload runs;
// every loop below is bounded by it or by a count.
const stormLength = 8 * time.Second

// stormGrace is the sweep's grace while the storm runs (the job's clock
// right): a request slower than this races the sweep, which must be
// harmless.
const stormGrace = time.Second

// armable are the crash points each function can reach in the storm's
// workload; a function restarted in the storm is sometimes armed at one.
var armable = map[string][]string{
	createPayment:   {"pay.after-outcome-claim"},
	paymentCallback: {"pay.after-outcome-claim", "refund.after-outcome-claim", "refund.after-final-save", "withdraw.after-outcome-claim"},
	refundFn: {"refund.after-reserve", "refund.after-attempt-claim", "refund.after-call", "refund.after-outcome-claim",
		"refund.after-final-save", "refund.after-review"},
	withdrawFn: {"withdraw.after-freeze", "withdraw.after-attempt-claim", "withdraw.after-call", "withdraw.after-outcome-claim"},
	closeExpired: {"job.after-wechat-close", "pay.after-outcome-claim", "refund.after-attempt-claim",
		"refund.after-call", "refund.after-outcome-claim", "refund.after-reserve", "withdraw.after-attempt-claim",
		"withdraw.after-call", "withdraw.after-outcome-claim"},
}

// A random kill -9 storm over a mixed workload: users pay, ask for refunds
// and withdraw; the merchant refunds, in batches too, and reviews; WeChat
// settles and calls back (and redelivers); the scheduler runs passes;
// meanwhile every function is killed with SIGKILL at random moments, or
// restarted armed at a random crash point, and the simulator dies once.
// Some clients retry what failed (with the same keys), some give up. When
// the storm is over, time passes (converge) and every invariant must hold.
// CRASHTEST_SEED=n replays a storm's randomness (not its timing).
func TestKillStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the functions as processes and kills them")
	}
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CRASHTEST_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("CRASHTEST_SEED: %v", err)
		}
	}
	t.Logf("CRASHTEST_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	w := newWorld(t, worldOptions{channel: "v3", retryDelays: "300ms,1s,2s,3s,5s",
		start: []string{createPayment, paymentCallback, refundFn, withdrawFn}})
	w.fn(closeExpired).start(t, w.jobEnv(0, stormGrace))
	s := &storm{w: w, stop: make(chan struct{})}
	var supervisors, clients sync.WaitGroup
	for _, name := range []string{createPayment, paymentCallback, refundFn, withdrawFn, closeExpired} {
		r := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		supervisors.Go(func() { s.supervise(name, r) })
	}
	simKill := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	supervisors.Go(func() { s.killSimOnce(simKill) })
	supervisors.Go(s.schedule)

	users := []string{"oStormUser001", "oStormUser002", "oStormUser003", "oStormUser004"}
	batchOrders := make(chan string, len(users))
	for i, u := range users {
		r := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		clients.Go(func() { s.user(u, i, r, batchOrders) })
	}
	r := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	clients.Go(func() { s.merchant(r, batchOrders, len(users)) })

	time.Sleep(stormLength)
	close(s.stop)
	supervisors.Wait()
	clients.Wait()
	w.step("storm over: %d kills, %d armed restarts, %d requests (%d without answer)",
		s.kills, s.armed, s.requests, s.unanswered)
	for _, name := range []string{createPayment, paymentCallback, refundFn, withdrawFn} {
		w.restart(name)
	}
	if !w.sim.running() {
		w.sim.kill()
		w.sim.start(t, []string{"LOG_LEVEL=error"})
	}
	for _, e := range s.errors {
		t.Error(e)
	}
	w.converge()
	w.step("converged")
	snap := w.snapshot()
	t.Logf("end state: %d orders, %d refunds (%d at WeChat), %d withdrawals (%d bills at WeChat)",
		len(snap.orders), len(snap.refunds), len(snap.simRefunds), len(snap.withdrawals), len(snap.simTransfers))
}

// storm is the workload's shared state.
type storm struct {
	w    *world
	stop chan struct{}

	mu                   sync.Mutex
	kills, armed         int
	requests, unanswered int
	errors               []string
}

func (s *storm) over() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

func (s *storm) sleep(r *rand.Rand, min, max time.Duration) bool {
	select {
	case <-s.stop:
		return false
	case <-time.After(min + time.Duration(r.Int64N(int64(max-min)))):
		return true
	}
}

func (s *storm) errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors = append(s.errors, fmt.Sprintf(format, args...))
}

// supervise plays the function's orchestrator and its bad luck: a dead
// process is started again (sometimes armed at a crash point), a live one
// is sometimes killed.
func (s *storm) supervise(name string, r *rand.Rand) {
	p := s.w.fn(name)
	for s.sleep(r, 100*time.Millisecond, 700*time.Millisecond) {
		if p.running() {
			if r.IntN(3) == 0 {
				p.kill()
				s.mu.Lock()
				s.kills++
				s.mu.Unlock()
			}
			continue
		}
		p.kill() // reap
		var env []string
		if points := armable[name]; r.IntN(3) == 0 {
			env = crashEnv(points[r.IntN(len(points))], 1+r.IntN(3))
			s.mu.Lock()
			s.armed++
			s.mu.Unlock()
		}
		if name == closeExpired {
			env = append(s.w.jobEnv(0, stormGrace), env...)
		} else {
			env = s.w.env(name, env...)
		}
		if err := p.launch(env); err != nil {
			s.errorf("restart %s: %v", name, err)
			return
		}
	}
}

// killSimOnce kills WeChat once, mid-storm, and brings it back: its state
// is on disk.
func (s *storm) killSimOnce(r *rand.Rand) {
	if !s.sleep(r, stormLength/4, stormLength*3/4) {
		return
	}
	s.w.sim.kill()
	s.mu.Lock()
	s.kills++
	s.mu.Unlock()
	time.Sleep(time.Duration(r.Int64N(int64(300 * time.Millisecond))))
	if err := s.w.sim.launch([]string{"LOG_LEVEL=error"}); err != nil {
		s.errorf("restart the simulator: %v", err)
	}
}

// schedule runs close-expired passes, as the scheduler does.
func (s *storm) schedule() {
	r := rand.New(rand.NewPCG(1, 2))
	for s.sleep(r, 200*time.Millisecond, 500*time.Millisecond) {
		s.w.call("POST", s.w.fnURL(closeExpired, "/run"), scheduler, nil)
	}
}

// decode reads an answer's body, recording an error if it cannot.
func (s *storm) decode(a answer, v any) bool {
	if err := json.Unmarshal(a.body, v); err != nil {
		s.errorf("decode %s: %v", a, err)
		return false
	}
	return true
}

// op is one client request in the storm. A retrying client repeats it
// (with the same keys) while it gets no answer or a transient failure; the
// others give up after the first. It returns the last answer and whether
// it was a success (2xx). Any answer that is neither a success, a
// transient failure nor one of allowed is an error of the test.
func (s *storm) op(r *rand.Rand, retry bool, method, url string, who caller, body any, allowed ...int) (answer, bool) {
	attempts := 1
	if retry {
		attempts = 8
	}
	var a answer
	for i := range attempts {
		if i > 0 {
			time.Sleep(time.Duration(50+r.IntN(200)) * time.Millisecond)
		}
		a = s.w.call(method, url, who, body)
		s.mu.Lock()
		s.requests++
		if a.err != nil {
			s.unanswered++
		}
		s.mu.Unlock()
		switch {
		case a.err != nil, a.status == http.StatusBadGateway, a.status == http.StatusServiceUnavailable, a.status == http.StatusGatewayTimeout:
			continue // transient: the process died, the store is busy, WeChat is down
		case a.status/100 == 2:
			return a, true
		case slices.Contains(allowed, a.status):
			return a, false
		}
		s.errorf("%s %s: %s", method, url, a)
		return a, false
	}
	return a, false
}

// user is one user's session: a credit from the merchant, three orders
// (one left unpaid to expire), refunds of the paid ones (the merchant's,
// the user's own requests with and without a key, reviewed) and two
// withdrawals, confirmed, declined or cancelled.
func (s *storm) user(openid string, n int, r *rand.Rand, batchOrders chan<- string) {
	w := s.w
	retry := func() bool { return r.IntN(10) < 7 }
	s.op(r, true, "POST", w.fnURL(withdrawFn, "/wallets/"+openid+"/credits"), admin,
		map[string]any{"credit_id": "credit-" + openid, "amount_fen": 20_000})

	var paid []string
	for i := range 3 {
		no := fmt.Sprintf("STORM%02d%02d", n, i)
		amount := 1000 * (i + 2)
		body := map[string]any{"out_trade_no": no, "openid": openid, "amount_fen": amount, "description": "storm", "expire_minutes": 1}
		if _, ok := s.op(r, true, "POST", w.fnURL(createPayment, "/orders"), admin, body); !ok {
			continue
		}
		if _, ok := s.op(r, retry(), "POST", w.fnURL(createPayment, "/payments"), user(openid), map[string]any{"out_trade_no": no},
			http.StatusConflict); !ok || i == 2 {
			continue // the third order is never paid: the job closes it
		}
		if _, ok := s.op(r, true, "POST", w.simControl()+"/pay", anyone, map[string]any{"out_trade_no": no}, http.StatusConflict); !ok {
			continue
		}
		// The page polls until the payment shows (the status route asks
		// WeChat while it does not).
		for range 20 {
			var o struct{ Status string }
			if a, ok := s.op(r, false, "GET", w.fnURL(createPayment, "/payments/"+no), user(openid), nil); ok {
				if s.decode(a, &o) && o.Status == string(cloudpay.OrderPaid) {
					paid = append(paid, no)
					break
				}
			}
			if s.over() {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	for i, no := range paid {
		switch i {
		case 0:
			s.op(r, retry(), "POST", w.fnURL(refundFn, "/refunds"), admin,
				map[string]any{"out_trade_no": no, "amount_fen": 300, "idempotency_key": "admin-" + no})
			var req struct {
				OutRefundNo string `json:"out_refund_no"`
			}
			if a, ok := s.op(r, retry(), "POST", w.fnURL(refundFn, "/refund-requests"), user(openid),
				map[string]any{"out_trade_no": no, "amount_fen": 200, "idempotency_key": "req-" + no}); ok && s.decode(a, &req) {
				// A decision that got an answer is the operator's for good; one
				// that did not, the operator makes again (converge approves it;
				// if the first landed, it stands).
				decision := []string{"approve", "reject"}[r.IntN(2)]
				if _, ok := s.op(r, retry(), "POST", w.fnURL(refundFn, "/refunds/"+req.OutRefundNo+"/"+decision), admin, map[string]any{}); ok {
					w.mu.Lock()
					w.decided[req.OutRefundNo] = true
					w.mu.Unlock()
				}
			}
		case 1:
			s.op(r, retry(), "POST", w.fnURL(refundFn, "/refund-requests"), user(openid),
				map[string]any{"out_trade_no": no, "amount_fen": 100})
			batchOrders <- no
		}
	}
	if len(paid) < 2 {
		batchOrders <- ""
	}

	for i := range 2 {
		key := fmt.Sprintf("wd-%s-%d", openid, i)
		a, ok := s.op(r, retry(), "POST", w.fnURL(withdrawFn, "/withdrawals"), user(openid),
			map[string]any{"amount_fen": 1000 + 500*i, "idempotency_key": key})
		if !ok {
			continue
		}
		var wd struct{ ID, Status string }
		if !s.decode(a, &wd) {
			continue
		}
		switch r.IntN(4) {
		case 0:
			s.op(r, retry(), "POST", w.simControl()+"/transfers/"+wd.ID+"/confirm", anyone, nil, http.StatusConflict, http.StatusNotFound)
		case 1:
			s.op(r, retry(), "POST", w.simControl()+"/transfers/"+wd.ID+"/decline", anyone, nil, http.StatusConflict, http.StatusNotFound)
		case 2:
			s.op(r, retry(), "POST", w.fnURL(withdrawFn, "/withdrawals/"+wd.ID+"/cancel"), user(openid), nil, http.StatusConflict)
		}
	}
}

// merchant refunds one item of each user's second paid order in a batch.
func (s *storm) merchant(r *rand.Rand, batchOrders <-chan string, users int) {
	var items []map[string]any
	for range users {
		if no := <-batchOrders; no != "" {
			items = append(items, map[string]any{"out_trade_no": no, "amount_fen": 500, "key": "batch-" + no})
		}
	}
	if len(items) == 0 {
		return
	}
	s.op(r, r.IntN(10) < 7, "POST", s.w.fnURL(refundFn, "/refunds/batch"), admin,
		map[string]any{"idempotency_key": "storm-batch", "items": items})
}
