package refund_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// paidNo is the order the rule tests refund; each test has a database of
// its own, so they all use it.
const paidNo = "RULES0001"

// paidStack is a stack whose clock stands still (tests move it with
// Advance) and in which Alice has paid fen for paidNo.
func paidStack(t *testing.T, fen int64, opts ...testkit.Option) *testkit.Stack {
	t.Helper()
	s := testkit.New(t, opts...)
	s.Paid(paidNo, testkit.Alice, fen)
	s.Advance(0)
	return s
}

// createRefund asks for fen of order no back under key, as the business
// back end does.
func createRefund(t *testing.T, s *testkit.Stack, no string, fen int64, key string) (cloudpay.Refund, bool, error) {
	t.Helper()
	return s.Refunds.Create(t.Context(), refund.NewRefund{OutTradeNo: no, AmountFen: cloudpay.Fen(fen), IdempotencyKey: key})
}

// mustCreate is createRefund that must be accepted.
func mustCreate(t *testing.T, s *testkit.Stack, no string, fen int64, key string) cloudpay.Refund {
	t.Helper()
	r, _, err := createRefund(t, s, no, fen, key)
	if err != nil {
		t.Fatalf("refund %d fen of %s (%s): %v", fen, no, key, err)
	}
	return r
}

// wantCode fails the test unless err carries code ("" for no error).
func wantCode(t *testing.T, what string, err error, code cloudpay.Code) {
	t.Helper()
	if got := cloudpay.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// wantLedger fails the test unless order no's ledger ends with these
// totals.
func wantLedger(t *testing.T, s *testkit.Stack, no string, reserved, refunded int64, count int) {
	t.Helper()
	e := s.Ledger(no)
	if e.ReservedFen != cloudpay.Fen(reserved) || e.RefundedFen != cloudpay.Fen(refunded) || e.Count != count {
		t.Fatalf("ledger of %s: reserved %d, refunded %d, count %d; want %d, %d, %d",
			no, e.ReservedFen, e.RefundedFen, e.Count, reserved, refunded, count)
	}
	if e.ReservedFen+e.RefundedFen > e.PaidFen {
		t.Fatalf("ledger of %s holds %d fen of %d paid", no, e.ReservedFen+e.RefundedFen, e.PaidFen)
	}
}

// wantRefund fails the test unless the stored refund has this status and
// retryability.
func wantRefund(t *testing.T, s *testkit.Stack, no string, status cloudpay.RefundStatus, retryable bool) cloudpay.Refund {
	t.Helper()
	r := s.Refund(no)
	if r.Status != status || r.Retryable != retryable {
		t.Fatalf("refund %s is %s (retryable %v, last error %+v), want %s (retryable %v)",
			no, r.Status, r.Retryable, r.LastError, status, retryable)
	}
	return r
}

// sentCall is one refund call WeChat received.
type sentCall struct {
	No  string // out_refund_no
	Fen int64  // the amount to refund
}

// sentCalls lists the refund calls WeChat received, in order, on either
// channel (v2 JSON: refund_fee; API v3: amount.refund).
func sentCalls(t *testing.T, s *testkit.Stack) []sentCall {
	t.Helper()
	var out []sentCall
	for _, c := range s.SimCalls("refund") {
		raw, _ := json.Marshal(c["body"])
		var b struct {
			OutRefundNo string `json:"out_refund_no"`
			RefundFee   int64  `json:"refund_fee"`
			Amount      struct {
				Refund int64 `json:"refund"`
			} `json:"amount"`
		}
		if err := json.Unmarshal(raw, &b); err != nil || b.OutRefundNo == "" {
			t.Fatalf("a refund call without out_refund_no: %s", raw)
		}
		out = append(out, sentCall{No: b.OutRefundNo, Fen: b.RefundFee + b.Amount.Refund})
	}
	return out
}

// wantSent fails the test unless WeChat received exactly these refund
// calls, by out_refund_no, in this order.
func wantSent(t *testing.T, s *testkit.Stack, nos ...string) {
	t.Helper()
	var got []string
	for _, c := range sentCalls(t, s) {
		got = append(got, c.No)
	}
	if strings.Join(got, ",") != strings.Join(nos, ",") {
		t.Fatalf("WeChat received refund calls %v, want %v", got, nos)
	}
}

// at is the stack's clock as the services record it.
func at(s *testkit.Stack) time.Time { return s.Now().UTC().Truncate(time.Millisecond) }

// instance is another instance of the refund function on the stack's
// database and simulator, with store in front of the database and gw (nil:
// the Cloud Hosting client) in front of WeChat.
func instance(t *testing.T, s *testkit.Stack, store refund.Store, gw wechat.Refunds) *refund.Service {
	t.Helper()
	if gw == nil {
		gw = simGateway(s)
	}
	rf := refund.New(store, gw, refund.Config{MinInterval: time.Minute}, refund.WithClock(s.Now))
	t.Cleanup(rf.Close)
	return rf
}

// simGateway is a Cloud Hosting client of the stack's simulator.
func simGateway(s *testkit.Stack) wechat.Refunds {
	return s.CloudHostingGateway()
}

// gatedCall is a gateway to the simulator whose refund calls wait until
// the gate opens, after telling entered about the first: a call on its
// way to WeChat.
type gatedCall struct {
	wechat.Refunds
	*gateway
}

func newGatedCall(t *testing.T, s *testkit.Stack) *gatedCall {
	return &gatedCall{Refunds: simGateway(s), gateway: newGate(t)}
}

func (g *gatedCall) Refund(ctx context.Context, req wechat.RefundRequest) (wechat.RefundResult, error) {
	g.pass()
	return g.Refunds.Refund(ctx, req)
}

// gateway holds whoever passes it until opened, and tells entered about
// the first. It opens at the latest when the test ends.
type gateway struct {
	first, opened sync.Once
	entered, open chan struct{}
}

func newGate(t *testing.T) *gateway {
	g := &gateway{entered: make(chan struct{}), open: make(chan struct{})}
	t.Cleanup(g.Open)
	return g
}

func (g *gateway) pass() {
	g.first.Do(func() { close(g.entered) })
	<-g.open
}

// Open lets everyone through, from now on.
func (g *gateway) Open() { g.opened.Do(func() { close(g.open) }) }

// gatedStore is the stack's store, except that the method named at waits
// at a gate: an instance paused at that point while another goes on.
type gatedStore struct {
	*mongostore.Store
	*gateway
	at string
}

func gate(t *testing.T, s *testkit.Stack, at string) *gatedStore {
	return &gatedStore{Store: s.Store, gateway: newGate(t), at: at}
}

func (g *gatedStore) wait(method string) {
	if method == g.at {
		g.pass()
	}
}

func (g *gatedStore) ClaimAttempt(ctx context.Context, subject string, n int, now time.Time) (cloudpay.Attempt, bool, error) {
	g.wait("ClaimAttempt")
	return g.Store.ClaimAttempt(ctx, subject, n, now)
}

func (g *gatedStore) AppendRefundEntry(ctx context.Context, outTradeNo, ref string, next cloudpay.NextEntry[cloudpay.RefundEntry]) (cloudpay.RefundEntry, bool, error) {
	g.wait("AppendRefundEntry")
	return g.Store.AppendRefundEntry(ctx, outTradeNo, ref, next)
}
