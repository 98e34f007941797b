package effect_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/effect"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/storetest"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// The engine's rules are tested on a toy movement: a document with a
// number, attempts and a status, outcomes kept in memory with insert-once
// semantics, and a scripted WeChat. The attempt claims are the real
// store's, on a database of each test's own.

type status string

const (
	created    status = "created"    // recorded, never sent
	processing status = "processing" // sent; its call may be in flight
	retrying   status = "retrying"   // refused for now
	succeeded  status = "succeeded"  // ended: WeChat made it
	released   status = "released"   // ended: the money went back
)

// doc is the toy movement's document.
type doc struct {
	No        string
	Attempts  int
	Status    status
	Kind      wechat.CallFailure // of the last call that brought no verdict
	LastError *cloudpay.Failure
	UpdatedAt time.Time
}

// answer is what the toy WeChat says about a number.
type answer struct {
	No    string
	State string // "absent", "processing" or "succeeded"
}

// outcome is how a toy movement ended.
type outcome struct {
	No      string
	Status  status
	Failure *cloudpay.Failure
}

type op string

const (
	call  op = "call"
	query op = "query"
)

var errMismatch = errors.New("WeChat's answer is about another movement")

type step = effect.Step[doc, outcome]

// toy is the movement: its store is two maps, its WeChat a function.
type toy struct {
	wechat          func(o op, n int, d doc) (answer, error) // n: the how-manieth call of kind o
	releaseNotFinal bool

	mu          sync.Mutex
	docs        map[string]doc
	outcomes    map[string]outcome
	calls       int
	queries     int
	claims      int // outcome inserts tried
	saves       int
	projections int
	points      []effect.Point
	asked       snapshot // at the last call or query
}

// snapshot is the document the engine asked WeChat about, and the stored
// document and the number of saves at that moment.
type snapshot struct {
	doc, stored doc
	saves       int
}

var _ effect.Movement[doc, answer, outcome] = (*toy)(nil)

func (*toy) Subject(d doc) string { return d.No }

// Final: with releaseNotFinal, a released movement is not final, as a
// refund refused for good is not (it may be reserved again and retried).
func (m *toy) Final(d doc) bool {
	return d.Status == succeeded || (d.Status == released && !m.releaseNotFinal)
}

func (*toy) Attempts(d doc) (int, bool) { return d.Attempts, d.Status == processing }

func (*toy) Sending(d doc, n int, now time.Time) doc {
	d.Attempts, d.Status, d.UpdatedAt = n, processing, now
	return d
}

func (m *toy) Call(_ context.Context, d doc) (answer, error) { return m.ask(call, d) }

func (m *toy) Query(_ context.Context, d doc) (answer, error) { return m.ask(query, d) }

func (m *toy) ask(o op, d doc) (answer, error) {
	m.mu.Lock()
	n := &m.calls
	if o == query {
		n = &m.queries
	}
	*n++
	nth := *n
	m.asked = snapshot{doc: d, stored: m.docs[d.No], saves: m.saves}
	m.mu.Unlock()
	return m.wechat(o, nth, d)
}

func (*toy) Judge(d doc, a answer, now time.Time) (step, error) {
	if a.No != d.No {
		return step{}, errMismatch
	}
	switch a.State {
	case "absent":
		return step{Absent: true}, nil
	case "succeeded":
		return step{End: &outcome{No: d.No, Status: succeeded}}, nil
	case "processing":
		d.Status, d.LastError, d.UpdatedAt = processing, nil, now
		return step{Next: &d}, nil
	}
	return step{}, fmt.Errorf("unknown state %q", a.State)
}

func (*toy) Unsettled(d doc, kind wechat.CallFailure, f *cloudpay.Failure, now time.Time) doc {
	d.Kind, d.LastError, d.UpdatedAt = kind, f, now
	if kind == wechat.Retryable {
		d.Status = retrying
	}
	return d
}

func (*toy) Released(d doc, f *cloudpay.Failure, now time.Time) (doc, outcome) {
	d.LastError, d.UpdatedAt = f, now
	return d, outcome{No: d.No, Status: released, Failure: f}
}

func (m *toy) Claim(_ context.Context, o outcome) (outcome, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claims++
	if held, ok := m.outcomes[o.No]; ok {
		return held, false, nil
	}
	m.outcomes[o.No] = o
	return o, true, nil
}

func (m *toy) Outcome(_ context.Context, d doc) (outcome, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.outcomes[d.No]
	return o, ok, nil
}

func (m *toy) Project(_ context.Context, d doc, o outcome) (doc, error) {
	if d.Status == o.Status {
		return d, nil
	}
	d.Status, d.LastError = o.Status, o.Failure
	m.mu.Lock()
	defer m.mu.Unlock()
	m.projections++
	m.docs[d.No] = d
	return d, nil
}

func (m *toy) Save(_ context.Context, d doc) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saves++
	m.docs[d.No] = d
	return nil
}

func (m *toy) Load(_ context.Context, d doc) (doc, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	held, ok := m.docs[d.No]
	if !ok {
		return d, fmt.Errorf("no document %s", d.No)
	}
	return held, nil
}

func (m *toy) Reached(p effect.Point) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.points = append(m.points, p)
}

// counts is what the toy has been asked so far.
type counts struct{ calls, queries, claims, saves, projections int }

func (m *toy) counts() counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return counts{m.calls, m.queries, m.claims, m.saves, m.projections}
}

// clock stands still until a test moves it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var start = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// reply is one scripted answer of WeChat.
type reply struct {
	state   string
	foreign bool // about another number
	err     error
}

func says(state string) reply    { return reply{state: state} }
func foreign(state string) reply { return reply{state: state, foreign: true} }
func fails(err error) reply      { return reply{err: err} }

func (p reply) to(d doc) (answer, error) {
	if p.err != nil {
		return answer{}, p.err
	}
	no := d.No
	if p.foreign {
		no = "OTHER" + d.No
	}
	return answer{No: no, State: p.state}, nil
}

// refusal is WeChat refusing a call, as the v3 gateway reports it.
func refusal(code string, httpStatus int) error {
	return &cloudpay.Error{Code: cloudpay.CodeWeChatError, Message: "WeChat Pay refused the request: " + code,
		Err: &wechat.Error{Code: code, Message: "refused: " + code, HTTPStatus: httpStatus}}
}

// errNoAnswer is a call that got no answer at all.
var errNoAnswer = errors.New("read tcp 10.0.0.1:443: connection reset by peer")

// timeout is a call that got no answer in time, as the gateways report it.
var timeout = &cloudpay.Error{Code: cloudpay.CodeWeChatTimeout, Message: "WeChat Pay did not answer in time", Err: context.DeadlineExceeded}

// rig is one test's engine, store, clock and toy, with the document R1
// recorded and never sent.
type rig struct {
	t     *testing.T
	ctx   context.Context
	store *mongostore.Store
	clock *clock
	toy   *toy
	eng   *effect.Engine[doc, answer, outcome]
	fresh doc
}

// newRig scripts WeChat's answers to calls and to queries, in order; an
// unscripted one fails the test.
func newRig(t *testing.T, calls, queries []reply) *rig {
	t.Helper()
	r := &rig{t: t, ctx: t.Context(), store: storetest.New(t), clock: &clock{t: start},
		toy: &toy{docs: map[string]doc{}, outcomes: map[string]outcome{}}}
	r.toy.wechat = func(o op, n int, d doc) (answer, error) {
		replies := calls
		if o == query {
			replies = queries
		}
		if n > len(replies) {
			t.Errorf("unscripted %s #%d to WeChat", o, n)
			return answer{}, errors.New("unscripted")
		}
		return replies[n-1].to(d)
	}
	r.eng = effect.New[doc, answer, outcome](r.toy, r.store, r.clock.now, slog.New(slog.DiscardHandler))
	r.fresh = doc{No: "R1", Status: created, UpdatedAt: start}
	r.record(r.fresh)
	return r
}

// record stores d as the use case recorded it, and claims its attempts
// 1..d.Attempts an hour ago (their leases long over).
func (r *rig) record(d doc) {
	r.t.Helper()
	r.toy.mu.Lock()
	r.toy.docs[d.No] = d
	r.toy.mu.Unlock()
	for n := 1; n <= d.Attempts; n++ {
		r.claimAttempt(d.No, n, start.Add(-time.Hour))
	}
}

func (r *rig) claimAttempt(subject string, n int, at time.Time) {
	r.t.Helper()
	if _, won, err := r.store.ClaimAttempt(r.ctx, subject, n, at); err != nil || !won {
		r.t.Fatalf("claim attempt %s:%d: won %v, %v", subject, n, won, err)
	}
}

// attempt is when attempt n of R1 was claimed, if it was.
func (r *rig) attempt(n int) (time.Time, bool) {
	r.t.Helper()
	a, found, err := r.store.AttemptAt(r.ctx, "R1", n)
	if err != nil {
		r.t.Fatalf("attempt %d: %v", n, err)
	}
	return a.StartedAt, found
}

func (r *rig) stored() doc {
	r.t.Helper()
	d, err := r.toy.Load(r.ctx, r.fresh)
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

func (r *rig) outcome() (outcome, bool) {
	o, ok, _ := r.toy.Outcome(r.ctx, r.fresh)
	return o, ok
}

// wantOutcome fails the test unless R1's outcome is want (nil: none).
func (r *rig) wantOutcome(want *outcome) {
	r.t.Helper()
	got, ok := r.outcome()
	switch {
	case want == nil && ok:
		r.t.Errorf("outcome %+v, want none", got)
	case want != nil && !ok:
		r.t.Errorf("no outcome, want %+v", *want)
	case want != nil && !reflect.DeepEqual(got, *want):
		r.t.Errorf("outcome %+v, want %+v", got, *want)
	}
}

// wantDoc fails the test unless the returned and the stored document are
// both want.
func (r *rig) wantDoc(got, want doc) {
	r.t.Helper()
	if !reflect.DeepEqual(got, want) {
		r.t.Errorf("returned document %+v, want %+v", got, want)
	}
	if s := r.stored(); !reflect.DeepEqual(s, want) {
		r.t.Errorf("stored document %+v, want %+v", s, want)
	}
}

func (r *rig) wantCounts(calls, queries int) {
	r.t.Helper()
	if c := r.toy.counts(); c.calls != calls || c.queries != queries {
		r.t.Errorf("%d calls and %d queries to WeChat, want %d and %d", c.calls, c.queries, calls, queries)
	}
}

func failure(code, message string) *cloudpay.Failure {
	return &cloudpay.Failure{Code: code, Message: message}
}

// A call that WeChat answers with success ends the movement with one
// outcome claim, projected onto the document; a later word of WeChat's on
// the ended movement (a callback, a query) claims nothing more.
func TestSuccessIsClaimedOnceAndProjected(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		stale      bool // WeChat's later word is applied to the copy read before the send
		wantClaims int
	}{
		{name: "later word on the ended document", wantClaims: 1},
		{name: "later word on a stale copy", stale: true, wantClaims: 2}, // tried, lost to the first
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, []reply{says("succeeded")}, nil)
			d, called, err := r.eng.Send(r.ctx, r.fresh)
			if err != nil || !called {
				t.Fatalf("send: called %v, %v", called, err)
			}
			want := doc{No: "R1", Attempts: 1, Status: succeeded, UpdatedAt: start}
			r.wantDoc(d, want)
			r.wantOutcome(&outcome{No: "R1", Status: succeeded})
			if c := r.toy.counts(); c.claims != 1 || c.projections != 1 {
				t.Errorf("%d outcome claims and %d projections, want 1 and 1", c.claims, c.projections)
			}
			r.wantCounts(1, 0)
			if at, found := r.attempt(1); !found || !at.Equal(start) {
				t.Errorf("attempt 1 claimed %v at %v, want at %v", found, at, start)
			}
			if p := r.toy.points; !reflect.DeepEqual(p, []effect.Point{effect.AfterAttemptClaim, effect.AfterCall, effect.AfterOutcomeClaim}) {
				t.Errorf("points reached %v", p)
			}

			later := d
			if tc.stale {
				later = r.fresh
			}
			after, err := r.eng.Apply(r.ctx, later, answer{No: "R1", State: "succeeded"})
			if err != nil {
				t.Fatal(err)
			}
			if after.Status != succeeded || r.stored().Status != succeeded {
				t.Errorf("after WeChat's later word: returned %+v, stored %+v; want both succeeded", after, r.stored())
			}
			if c := r.toy.counts(); c.claims != tc.wantClaims || len(r.toy.outcomes) != 1 {
				t.Errorf("%d outcome claims, %d outcomes; want %d and 1", c.claims, len(r.toy.outcomes), tc.wantClaims)
			}
			r.wantOutcome(&outcome{No: "R1", Status: succeeded})
		})
	}
}

// A movement that ended, however it ended, is never sent to WeChat again:
// not the ended document, nor a stale copy of it, within the last lease or
// after it. (A call after a release would make at WeChat a movement whose
// money was given back.)
func TestEndedMovementIsNotSentAgain(t *testing.T) {
	t.Parallel()
	retry := doc{No: "R1", Attempts: 2, Status: retrying, Kind: wechat.Retryable, LastError: failure("SYSTEM_ERROR", "busy"), UpdatedAt: start}
	ends := []struct {
		name    string
		given   doc // as recorded before it ended
		calls   []reply
		queries []reply
		end     func(r *rig, d doc) (doc, error)
		want    status
	}{
		{name: "succeeded", given: doc{No: "R1", Status: created, UpdatedAt: start}, calls: []reply{says("succeeded")},
			end: send, want: succeeded},
		{name: "released after WeChat said absent", given: doc{No: "R1", Status: created, UpdatedAt: start},
			calls: []reply{fails(refusal("PARAM_ERROR", 400))}, queries: []reply{says("absent")}, end: send, want: released},
		{name: "released before any call", given: doc{No: "R1", Status: created, UpdatedAt: start},
			calls: []reply{fails(cloudpay.FieldError("user_name", "required"))}, end: send, want: released},
		{name: "abandoned", given: retry, queries: []reply{says("absent")}, want: released,
			end: func(r *rig, d doc) (doc, error) {
				d, _, err := r.eng.Abandon(r.ctx, d, failure("GIVEN_UP", "given up"))
				return d, err
			}},
	}
	for _, end := range ends {
		for _, again := range []struct {
			name            string
			stale           bool
			advance         time.Duration
			releaseNotFinal bool // released money may be reserved again later (refunds)
		}{
			{name: "the ended document"},
			{name: "the ended document after the lease", advance: effect.Lease + time.Second},
			{name: "a stale copy", stale: true},
			{name: "a stale copy after the lease", stale: true, advance: effect.Lease + time.Second},
			{name: "a stale copy after the lease, released not final", stale: true, advance: effect.Lease + time.Second, releaseNotFinal: true},
			{name: "the ended document after the lease, released not final", advance: effect.Lease + time.Second, releaseNotFinal: true},
		} {
			t.Run(end.name+"/"+again.name, func(t *testing.T) {
				t.Parallel()
				r := newRig(t, end.calls, end.queries)
				r.toy.releaseNotFinal = again.releaseNotFinal
				r.record(end.given)
				d, err := end.end(r, end.given)
				if err != nil || d.Status != end.want {
					t.Fatalf("ending: %+v, %v; want %s", d, err, end.want)
				}
				before := r.toy.counts()

				r.clock.advance(again.advance)
				if again.stale {
					d = end.given
				}
				after, called, err := r.eng.Send(r.ctx, d)
				if err != nil || called {
					t.Fatalf("send again at +%v: called %v, %v; want no call", again.advance, called, err)
				}
				if after.Status != end.want || r.stored().Status != end.want {
					t.Errorf("after sending again: returned %+v, stored %+v; want both %s", after, r.stored(), end.want)
				}
				r.wantCounts(before.calls, before.queries)
				if c := r.toy.counts(); c.claims != before.claims {
					t.Errorf("%d outcome claims, want %d", c.claims, before.claims)
				}
			})
		}
	}
}

// A call without an answer leaves the movement in flight, its money held:
// no outcome, no query; nobody calls again under the same number while
// its attempt's lease holds, and the first send after it claims the next
// attempt and calls.
func TestUnknownFailureWaitsForTheLease(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		err      error
		code     cloudpay.Code
		stale    bool // send again the copy read before the first send
		advance  time.Duration
		wantCall bool
	}{
		{name: "no answer, within the lease", err: errNoAnswer, code: cloudpay.CodeInternal},
		{name: "no answer, as the lease ends", err: errNoAnswer, code: cloudpay.CodeInternal, advance: effect.Lease - time.Millisecond},
		{name: "no answer, a stale copy within the lease", err: errNoAnswer, code: cloudpay.CodeInternal, stale: true, advance: time.Minute},
		{name: "no answer, lease over", err: errNoAnswer, code: cloudpay.CodeInternal, advance: effect.Lease, wantCall: true},
		{name: "no answer, a stale copy after the lease", err: errNoAnswer, code: cloudpay.CodeInternal, stale: true, advance: effect.Lease + time.Second, wantCall: true},
		{name: "timeout, within the lease", err: timeout, code: cloudpay.CodeWeChatTimeout, advance: time.Minute},
		{name: "timeout, lease over", err: timeout, code: cloudpay.CodeWeChatTimeout, advance: effect.Lease + time.Hour, wantCall: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, []reply{fails(tc.err), says("succeeded")}, nil)
			d, called, err := r.eng.Send(r.ctx, r.fresh)
			if err != nil || !called {
				t.Fatalf("send: called %v, %v", called, err)
			}
			unsettled := doc{No: "R1", Attempts: 1, Status: processing, Kind: wechat.Unknown,
				LastError: wechat.FailureOf(tc.err), UpdatedAt: start}
			r.wantDoc(d, unsettled)
			if d.LastError == nil || d.LastError.Code != string(tc.code) {
				t.Errorf("last error %+v, want code %s", d.LastError, tc.code)
			}
			r.wantOutcome(nil)
			r.wantCounts(1, 0)

			r.clock.advance(tc.advance)
			again := d
			if tc.stale {
				again = r.fresh
			}
			after, called, err := r.eng.Send(r.ctx, again)
			if err != nil {
				t.Fatalf("send again: %v", err)
			}
			if called != tc.wantCall {
				t.Fatalf("send again at +%v: called %v, want %v", tc.advance, called, tc.wantCall)
			}
			if !tc.wantCall {
				r.wantDoc(after, unsettled)
				r.wantOutcome(nil)
				r.wantCounts(1, 0)
				if _, found := r.attempt(2); found {
					t.Error("attempt 2 claimed within the lease")
				}
				return
			}
			r.wantDoc(after, doc{No: "R1", Attempts: 2, Status: succeeded, UpdatedAt: start.Add(tc.advance)})
			r.wantOutcome(&outcome{No: "R1", Status: succeeded})
			r.wantCounts(2, 0)
			if at, found := r.attempt(2); !found || !at.Equal(start.Add(tc.advance)) {
				t.Errorf("attempt 2 claimed %v at %v, want at %v", found, at, start.Add(tc.advance))
			}
		})
	}
}

// A final refusal releases the money only once a query shows WeChat holds
// nothing under the number; if WeChat holds the movement, its state
// decides; if the query fails, the money stays held, retryable.
func TestFinalRefusalReleasesOnlyWhatWeChatDoesNotHold(t *testing.T) {
	t.Parallel()
	paramError := refusal("PARAM_ERROR", 400)
	for _, tc := range []struct {
		name    string
		refusal error
		query   reply
		want    doc
		outcome *outcome
	}{
		{name: "absent: released", refusal: paramError, query: says("absent"),
			want:    doc{Status: released, LastError: wechat.FailureOf(paramError)},
			outcome: &outcome{Status: released, Failure: wechat.FailureOf(paramError)}},
		{name: "a v2 refusal, absent: released", refusal: &wechat.Error{Code: "ORDERNOTEXIST", Message: "no such order"}, query: says("absent"),
			want:    doc{Status: released, LastError: failure("ORDERNOTEXIST", "no such order")},
			outcome: &outcome{Status: released, Failure: failure("ORDERNOTEXIST", "no such order")}},
		{name: "succeeded at WeChat: never released", refusal: paramError, query: says("succeeded"),
			want:    doc{Status: succeeded},
			outcome: &outcome{Status: succeeded}},
		{name: "processing at WeChat: held", refusal: paramError, query: says("processing"),
			want: doc{Status: processing}},
		{name: "the query fails: held, retryable", refusal: paramError, query: fails(errNoAnswer),
			want: doc{Status: retrying, Kind: wechat.Retryable, LastError: wechat.FailureOf(paramError)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if k := wechat.Classify(tc.refusal); k != wechat.Final {
				t.Fatalf("refusal classified %v, want final", k)
			}
			r := newRig(t, []reply{fails(tc.refusal)}, []reply{tc.query})
			d, called, err := r.eng.Send(r.ctx, r.fresh)
			if err != nil || !called {
				t.Fatalf("send: called %v, %v", called, err)
			}
			want := tc.want
			want.No, want.Attempts, want.UpdatedAt = "R1", 1, start
			r.wantDoc(d, want)
			if tc.outcome != nil {
				tc.outcome.No = "R1"
			}
			r.wantOutcome(tc.outcome)
			r.wantCounts(1, 1)
		})
	}
}

// A refusal for now leaves the money held under the same number, the
// movement retryable, and asks WeChat nothing more.
func TestRetryableRefusalStaysUnsettled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{name: "SYSTEM_ERROR", err: refusal("SYSTEM_ERROR", 500), code: "SYSTEM_ERROR"},
		{name: "NOT_ENOUGH under HTTP 403", err: refusal("NOT_ENOUGH", 403), code: "NOT_ENOUGH"},
		{name: "rate limited", err: refusal("RATE_LIMITED", 429), code: "RATE_LIMITED"},
		{name: "HTTP 503 without a code", err: refusal("", 503), code: ""},
		{name: "v2 SYSTEMERROR", err: &wechat.Error{Code: "SYSTEMERROR", Message: "busy"}, code: "SYSTEMERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, []reply{fails(tc.err)}, nil)
			d, called, err := r.eng.Send(r.ctx, r.fresh)
			if err != nil || !called {
				t.Fatalf("send: called %v, %v", called, err)
			}
			r.wantDoc(d, doc{No: "R1", Attempts: 1, Status: retrying, Kind: wechat.Retryable,
				LastError: wechat.FailureOf(tc.err), UpdatedAt: start})
			if d.LastError.Code != tc.code {
				t.Errorf("last error %+v, want WeChat's code %q", d.LastError, tc.code)
			}
			r.wantOutcome(nil)
			r.wantCounts(1, 0)
		})
	}
}

// A call refused here, before any request left, releases the money at
// once on the first attempt (nothing can be at WeChat); on a later one,
// only after WeChat says it holds nothing. A refusal that came from WeChat
// is WeChat's, whatever our code.
func TestLocalRefusal(t *testing.T) {
	t.Parallel()
	local := cloudpay.FieldError("user_name", "the payee's real name is required")
	localFailure := wechat.FailureOf(local)
	for _, tc := range []struct {
		name    string
		earlier int // attempts before this send, each refused for now
		err     error
		query   []reply
		want    doc
		outcome *outcome
	}{
		{name: "attempt 1: released without a query", err: local,
			want:    doc{Status: released, LastError: localFailure},
			outcome: &outcome{Status: released, Failure: localFailure}},
		{name: "attempt 1, wrapped: released without a query", err: fmt.Errorf("build transfer: %w", local),
			want:    doc{Status: released, LastError: localFailure},
			outcome: &outcome{Status: released, Failure: localFailure}},
		{name: "attempt 1, invalid-field code around WeChat's SYSTEM_ERROR: WeChat's, retryable",
			err:  &cloudpay.Error{Code: cloudpay.CodeInvalidField, Message: "refused", Err: &wechat.Error{Code: "SYSTEM_ERROR", Message: "busy"}},
			want: doc{Status: retrying, Kind: wechat.Retryable, LastError: failure("SYSTEM_ERROR", "busy")}},
		{name: "attempt 2, absent at WeChat: released after the query", earlier: 1, err: local, query: []reply{says("absent")},
			want:    doc{Status: released, LastError: localFailure},
			outcome: &outcome{Status: released, Failure: localFailure}},
		{name: "attempt 2, succeeded at WeChat: not released", earlier: 1, err: local, query: []reply{says("succeeded")},
			want:    doc{Status: succeeded},
			outcome: &outcome{Status: succeeded}},
		{name: "attempt 3, the query fails: held", earlier: 2, err: local, query: []reply{fails(errNoAnswer)},
			want: doc{Status: retrying, Kind: wechat.Retryable, LastError: localFailure}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, []reply{fails(tc.err)}, tc.query)
			d := r.fresh
			if tc.earlier > 0 {
				d = doc{No: "R1", Attempts: tc.earlier, Status: retrying, Kind: wechat.Retryable,
					LastError: failure("SYSTEM_ERROR", "busy"), UpdatedAt: start.Add(-time.Hour)}
				r.record(d)
			}
			d, called, err := r.eng.Send(r.ctx, d)
			if err != nil || !called {
				t.Fatalf("send: called %v, %v", called, err)
			}
			want := tc.want
			want.No, want.Attempts, want.UpdatedAt = "R1", tc.earlier+1, start
			if tc.earlier > 0 {
				want.Kind = wechat.Retryable // the earlier refusal's, kept
			}
			r.wantDoc(d, want)
			if tc.outcome != nil {
				tc.outcome.No = "R1"
			}
			r.wantOutcome(tc.outcome)
			r.wantCounts(1, len(tc.query))
		})
	}
}

// Abandon fences the next attempt, then releases the money only if WeChat
// holds nothing under the number; if someone holds that attempt, it does
// nothing, and while it asks WeChat, no sender calls.
func TestAbandon(t *testing.T) {
	t.Parallel()
	budget := failure(string(cloudpay.CodeRetryBudgetExhausted), "refused for now 3 times")
	busy := failure("SYSTEM_ERROR", "busy")
	given := doc{No: "R1", Attempts: 3, Status: retrying, Kind: wechat.Retryable, LastError: busy, UpdatedAt: start.Add(-time.Hour)}
	for _, tc := range []struct {
		name         string
		held         bool // attempt 4 is claimed already
		heldLongAgo  bool // attempt 4 was claimed an hour ago by a holder that died
		recent       bool // attempt 3 was claimed a minute ago: its call may be in flight
		claimed      *outcome
		race         bool // a sender tries while Abandon asks WeChat
		query        []reply
		wantErr      bool
		wantReleased bool
		want         doc
		outcome      *outcome
	}{
		{name: "next attempt held: nothing", held: true, want: given},
		{name: "last attempt in its lease: nothing", recent: true, want: given},
		{name: "a fence whose holder died: the next attempt fences", heldLongAgo: true, query: []reply{says("absent")}, wantReleased: true,
			want:    doc{No: "R1", Attempts: 3, Status: released, Kind: wechat.Retryable, LastError: budget, UpdatedAt: start},
			outcome: &outcome{No: "R1", Status: released, Failure: budget}},
		{name: "absent at WeChat, but someone recorded success: not released", query: []reply{says("absent")},
			claimed: &outcome{No: "R1", Status: succeeded},
			want:    doc{No: "R1", Attempts: 3, Status: succeeded, Kind: wechat.Retryable, UpdatedAt: start},
			outcome: &outcome{No: "R1", Status: succeeded}},
		{name: "absent at WeChat: released", query: []reply{says("absent")}, wantReleased: true,
			want:    doc{No: "R1", Attempts: 3, Status: released, Kind: wechat.Retryable, LastError: budget, UpdatedAt: start},
			outcome: &outcome{No: "R1", Status: released, Failure: budget}},
		{name: "succeeded at WeChat: recorded, not released", query: []reply{says("succeeded")},
			want:    doc{No: "R1", Attempts: 3, Status: succeeded, Kind: wechat.Retryable, UpdatedAt: start.Add(-time.Hour)},
			outcome: &outcome{No: "R1", Status: succeeded}},
		{name: "processing at WeChat: recorded, not released", query: []reply{says("processing")},
			want: doc{No: "R1", Attempts: 3, Status: processing, Kind: wechat.Retryable, UpdatedAt: start}},
		{name: "the query fails: nothing", query: []reply{fails(errNoAnswer)}, wantErr: true, want: given},
		{name: "a sender during the query: no call", race: true, query: []reply{says("absent")}, wantReleased: true,
			want:    doc{No: "R1", Attempts: 3, Status: released, Kind: wechat.Retryable, LastError: budget, UpdatedAt: start},
			outcome: &outcome{No: "R1", Status: released, Failure: budget}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, nil, tc.query)
			if tc.recent {
				older := given
				older.Attempts = 2
				r.record(older) // attempts 1 and 2, long ago
				r.toy.docs[given.No] = given
			} else {
				r.record(given)
			}
			if tc.held {
				r.claimAttempt("R1", 4, start.Add(-time.Second))
			}
			if tc.heldLongAgo {
				r.claimAttempt("R1", 4, start.Add(-time.Hour))
			}
			if tc.recent {
				r.claimAttempt("R1", 3, start.Add(-time.Minute))
			}
			if tc.claimed != nil {
				if _, _, err := r.toy.Claim(r.ctx, *tc.claimed); err != nil {
					t.Fatal(err)
				}
			}
			if tc.race {
				script := r.toy.wechat
				r.toy.wechat = func(o op, n int, d doc) (answer, error) {
					if o == query {
						if _, called, err := r.eng.Send(r.ctx, given); err != nil || called {
							t.Errorf("send during Abandon's query: called %v, %v", called, err)
						}
					}
					return script(o, n, d)
				}
			}
			d, rel, err := r.eng.Abandon(r.ctx, given, budget)
			if (err != nil) != tc.wantErr {
				t.Fatalf("abandon: %v, want error %v", err, tc.wantErr)
			}
			if rel != tc.wantReleased {
				t.Errorf("released %v, want %v", rel, tc.wantReleased)
			}
			r.wantDoc(d, tc.want)
			r.wantOutcome(tc.outcome)
			r.wantCounts(0, len(tc.query))
			fence := 4
			if tc.heldLongAgo {
				fence = 5
			}
			if at, found := r.attempt(fence); tc.recent {
				if found {
					t.Errorf("attempt 4 claimed at %v inside attempt 3's lease", at)
				}
			} else if !found || (!tc.held && !at.Equal(start)) {
				t.Errorf("attempt 4 claimed %v at %v, want the fence at %v", found, at, start)
			}
		})
	}
}

// However many send or abandon the same movement at once, one of them
// asks WeChat, once, and one outcome holds.
func TestConcurrentSendsMakeOneCall(t *testing.T) {
	t.Parallel()
	const workers = 20
	for _, tc := range []struct {
		name     string
		abandons int // of the workers; the others send
		given    doc
	}{
		{name: "sends of a fresh movement", given: doc{No: "R1", Status: created, UpdatedAt: start}},
		{name: "sends of a movement refused for now", given: doc{No: "R1", Attempts: 2, Status: retrying, UpdatedAt: start}},
		{name: "abandons", abandons: workers, given: doc{No: "R1", Attempts: 2, Status: retrying, UpdatedAt: start}},
		{name: "sends and abandons", abandons: workers / 2, given: doc{No: "R1", Attempts: 2, Status: retrying, UpdatedAt: start}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, []reply{says("succeeded")}, []reply{says("absent")})
			r.record(tc.given)
			var (
				mu            sync.Mutex
				called, freed int
				wg            sync.WaitGroup
				// WeChat answers once every worker has returned or is
				// asking it too: the others all run while the first
				// call is in flight.
				arrived = sync.NewCond(&mu)
				done    int
				asking  int
			)
			script := r.toy.wechat
			r.toy.wechat = func(o op, n int, d doc) (answer, error) {
				mu.Lock()
				asking++
				arrived.Broadcast()
				for done+asking < workers {
					arrived.Wait()
				}
				mu.Unlock()
				return script(o, n, d)
			}
			begin := make(chan struct{})
			for i := range workers {
				wg.Go(func() {
					defer func() {
						mu.Lock()
						done++
						arrived.Broadcast()
						mu.Unlock()
					}()
					<-begin
					if i < tc.abandons {
						_, rel, err := r.eng.Abandon(r.ctx, tc.given, failure("GIVEN_UP", "given up"))
						if err != nil {
							t.Errorf("abandon: %v", err)
						}
						mu.Lock()
						if rel {
							freed++
						}
						mu.Unlock()
						return
					}
					_, c, err := r.eng.Send(r.ctx, tc.given)
					if err != nil {
						t.Errorf("send: %v", err)
					}
					mu.Lock()
					if c {
						called++
					}
					mu.Unlock()
				})
			}
			close(begin)
			wg.Wait()
			c := r.toy.counts()
			if c.calls+c.queries != 1 || called != c.calls || freed != c.queries {
				t.Errorf("%d calls and %d queries to WeChat, %d sends called and %d abandons released; want one of them, once",
					c.calls, c.queries, called, freed)
			}
			if c.claims != 1 || len(r.toy.outcomes) != 1 {
				t.Errorf("%d outcome claims, %d outcomes; want 1 and 1", c.claims, len(r.toy.outcomes))
			}
			o, _ := r.outcome()
			if want := map[bool]status{true: succeeded, false: released}[c.calls == 1]; o.Status != want || r.stored().Status != want {
				t.Errorf("outcome %+v, stored %+v; want both %s", o, r.stored(), want)
			}
		})
	}
}

// Whoever saves or reads a movement whose outcome was claimed without its
// projection writes the projection: nobody sees a movement go back from
// its end.
func TestRepairProjectsALaggingOutcome(t *testing.T) {
	t.Parallel()
	inFlight := doc{No: "R1", Attempts: 1, Status: processing, UpdatedAt: start}
	for _, tc := range []struct {
		name    string
		outcome *outcome // claimed by someone else, not projected
		do      func(r *rig, d doc) (doc, error)
		want    status
		claims  int // tried by the engine
	}{
		{name: "SaveProgress after another's outcome", outcome: &outcome{No: "R1", Status: succeeded},
			do: func(r *rig, d doc) (doc, error) { return r.eng.SaveProgress(r.ctx, d) }, want: succeeded},
		{name: "SaveProgress without an outcome",
			do: func(r *rig, d doc) (doc, error) { return r.eng.SaveProgress(r.ctx, d) }, want: processing},
		{name: "Current with a lagging projection", outcome: &outcome{No: "R1", Status: released, Failure: failure("PARAM_ERROR", "bad")},
			do: func(r *rig, d doc) (doc, error) { return r.eng.Current(r.ctx, d) }, want: released},
		{name: "Current without an outcome",
			do: func(r *rig, d doc) (doc, error) { return r.eng.Current(r.ctx, d) }, want: processing},
		{name: "Apply of progress after another's outcome", outcome: &outcome{No: "R1", Status: succeeded},
			do: func(r *rig, d doc) (doc, error) { return r.eng.Apply(r.ctx, d, answer{No: "R1", State: "processing"}) }, want: succeeded},
		{name: "Apply of success after another's release: the release holds", outcome: &outcome{No: "R1", Status: released, Failure: failure("PARAM_ERROR", "bad")},
			do: func(r *rig, d doc) (doc, error) { return r.eng.Apply(r.ctx, d, answer{No: "R1", State: "succeeded"}) }, want: released, claims: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, nil, nil)
			r.record(inFlight)
			if tc.outcome != nil {
				if _, won, _ := r.toy.Claim(r.ctx, *tc.outcome); !won {
					t.Fatal("outcome not claimed")
				}
			}
			got, err := tc.do(r, inFlight)
			if err != nil {
				t.Fatal(err)
			}
			want := inFlight
			if tc.outcome != nil {
				want.Status, want.LastError = tc.outcome.Status, tc.outcome.Failure
			}
			if want.Status != tc.want {
				t.Fatalf("bad case: %s, want %s", want.Status, tc.want)
			}
			r.wantDoc(got, want)
			r.wantOutcome(tc.outcome)
			projections := 0
			if tc.outcome != nil {
				projections = 1
			}
			if c := r.toy.counts(); c.projections != projections || c.claims != len(r.toy.outcomes)+tc.claims {
				t.Errorf("%d projections and %d outcome claims, want %d and %d", c.projections, c.claims, projections, len(r.toy.outcomes)+tc.claims)
			}
			r.wantCounts(0, 0)
		})
	}
}

// An answer from WeChat that does not fit the movement changes nothing:
// no outcome, no projection, no save; the document stays as it was when
// WeChat was asked.
func TestMismatchChangesNothing(t *testing.T) {
	t.Parallel()
	sending := doc{No: "R1", Attempts: 1, Status: processing, UpdatedAt: start}
	retry := doc{No: "R1", Attempts: 3, Status: retrying, Kind: wechat.Retryable, LastError: failure("SYSTEM_ERROR", "busy"), UpdatedAt: start.Add(-time.Hour)}
	for _, tc := range []struct {
		name  string
		given doc
		calls []reply
		query []reply
		do    func(r *rig, d doc) (doc, error)
	}{
		{name: "Apply of another's success", given: sending,
			do: func(r *rig, d doc) (doc, error) {
				return r.eng.Apply(r.ctx, d, answer{No: "OTHER", State: "succeeded"})
			}},
		{name: "Send answered with another's success", given: r1(created, 0), calls: []reply{foreign("succeeded")},
			do: send},
		{name: "Send refused, the query says another is absent", given: r1(created, 0),
			calls: []reply{fails(refusal("PARAM_ERROR", 400))}, query: []reply{foreign("absent")},
			do: send},
		{name: "Abandon, the query says another is absent", given: retry, query: []reply{foreign("absent")},
			do: func(r *rig, d doc) (doc, error) {
				d, rel, err := r.eng.Abandon(r.ctx, d, failure("GIVEN_UP", "given up"))
				if rel {
					r.t.Error("released on another's answer")
				}
				return d, err
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tc.calls, tc.query)
			r.record(tc.given)
			got, err := tc.do(r, tc.given)
			if !errors.Is(err, errMismatch) {
				t.Errorf("error %v, want the mismatch", err)
			}
			// As the engine held it and the store had it when WeChat was
			// asked (for Apply, the answer came with the document).
			asked := snapshot{doc: tc.given, stored: tc.given}
			if len(tc.calls)+len(tc.query) > 0 {
				asked = r.toy.asked
			}
			if !reflect.DeepEqual(got, asked.doc) {
				t.Errorf("returned document %+v, want %+v", got, asked.doc)
			}
			if s := r.stored(); !reflect.DeepEqual(s, asked.stored) {
				t.Errorf("stored document %+v, want %+v", s, asked.stored)
			}
			r.wantOutcome(nil)
			if c := r.toy.counts(); c.claims != 0 || c.saves != asked.saves || c.projections != 0 {
				t.Errorf("%d outcome claims, %d saves, %d projections; want 0, %d, 0", c.claims, c.saves, c.projections, asked.saves)
			}
			r.wantCounts(len(tc.calls), len(tc.query))
		})
	}
}

func r1(s status, attempts int) doc {
	return doc{No: "R1", Attempts: attempts, Status: s, UpdatedAt: start}
}

func send(r *rig, d doc) (doc, error) {
	d, called, err := r.eng.Send(r.ctx, d)
	if !called {
		r.t.Error("no call")
	}
	return d, err
}
