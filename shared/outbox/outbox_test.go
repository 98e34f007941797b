package outbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/storetest"
)

const secret = "whsec-test-0123456789abcdef"

var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// clock is a test clock that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)         { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// delivery is one request the receiver got.
type delivery struct {
	header http.Header
	body   []byte
	status int // 0: the connection was dropped
}

// receiver is the merchant's back end: it records every request and answers
// with what reply says for the n-th request (1-based); 0 drops the
// connection without a reply.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	got   []delivery
	reply func(n int) int
}

func newReceiver(t *testing.T, reply func(n int) int) *receiver {
	t.Helper()
	r := &receiver{reply: reply}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.got) + 1
		status := r.reply(n)
		r.got = append(r.got, delivery{header: req.Header.Clone(), body: body, status: status})
		r.mu.Unlock()
		if status == 0 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) setReply(f func(n int) int) { r.mu.Lock(); defer r.mu.Unlock(); r.reply = f }

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// countFor counts the requests about event id.
func (r *receiver) countFor(id string) int {
	n := 0
	for _, d := range r.deliveries() {
		if d.header.Get("X-Cloudpay-Event-Id") == id {
			n++
		}
	}
	return n
}

func always(status int) func(int) int { return func(int) int { return status } }

func newDeliverer(t *testing.T, s *mongostore.Store, cfg outbox.Config, clk *clock, opts ...outbox.Option) *outbox.Deliverer {
	t.Helper()
	d, err := outbox.New(s, cfg, nil, append([]outbox.Option{outbox.WithClock(clk.Now)}, opts...)...)
	if err != nil {
		t.Fatalf("new deliverer: %v", err)
	}
	return d
}

func enqueue(t *testing.T, s *mongostore.Store, subject string, at time.Time) cloudpay.Event {
	t.Helper()
	e := cloudpay.NewEvent(cloudpay.EventOrderPaid, subject,
		map[string]any{"out_trade_no": subject, "amount_fen": int64(1999), "paid_at": at.Add(-time.Second)}, at)
	if err := s.EnqueueEvent(context.Background(), e); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return e
}

func stored(t *testing.T, s *mongostore.Store, id string) outbox.Record {
	t.Helper()
	e, found, err := s.OutboxEvent(context.Background(), id)
	if err != nil || !found {
		t.Fatalf("read event %s: found=%v err=%v", id, found, err)
	}
	return e
}

// checkBody decodes a delivery and compares it with the event.
func checkBody(t *testing.T, d delivery, e cloudpay.Event, attempt int, now time.Time) {
	t.Helper()
	if err := outbox.Verify(secret, d.header.Get("X-Cloudpay-Signature"), d.body, now, 5*time.Minute); err != nil {
		t.Errorf("attempt %d: signature does not verify: %v", attempt, err)
	}
	if ct := d.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("attempt %d: Content-Type %q", attempt, ct)
	}
	if got := d.header.Get("X-Cloudpay-Event-Type"); got != string(e.Type) {
		t.Errorf("attempt %d: X-Cloudpay-Event-Type %q, want %q", attempt, got, e.Type)
	}
	var got struct {
		ID        string         `json:"id"`
		Type      string         `json:"type"`
		Subject   string         `json:"subject"`
		Data      map[string]any `json:"data"`
		CreatedAt time.Time      `json:"created_at"`
		Attempt   int            `json:"attempt"`
	}
	dec := json.NewDecoder(bytes.NewReader(d.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("attempt %d: body %s: %v", attempt, d.body, err)
	}
	paidAt := e.Data["paid_at"].(time.Time).UTC().Format(time.RFC3339Nano)
	if got.ID != e.ID || got.Type != string(e.Type) || got.Subject != e.Subject || !got.CreatedAt.Equal(e.CreatedAt) ||
		got.Attempt != attempt || got.Data["out_trade_no"] != e.Subject || got.Data["amount_fen"] != float64(1999) ||
		got.Data["paid_at"] != paidAt {
		t.Errorf("attempt %d: body %s does not describe event %+v", attempt, d.body, e)
	}
}

func TestDeliverRetriesUntilAcknowledged(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	clk := &clock{t: t0}
	rcv := newReceiver(t, func(n int) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	var logs bytes.Buffer
	d := newDeliverer(t, s, outbox.Config{URL: rcv.URL, Secret: secret}, clk,
		outbox.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	e := enqueue(t, s, "ORDER0001", t0)

	// The first attempt is immediate; each retry comes once its backoff has
	// passed, and not a second earlier.
	var times []time.Time
	for i, wait := range []time.Duration{0, 15 * time.Second, time.Minute, 5 * time.Minute} {
		attempt := i + 1
		if wait > 0 {
			clk.Advance(wait - time.Second)
			if sent, errs, err := d.DeliverDue(ctx, fmt.Sprintf("early-%d", attempt), 10); sent != 0 || len(errs) != 0 || err != nil {
				t.Fatalf("attempt %d a second early: sent=%d errs=%v err=%v", attempt, sent, errs, err)
			}
			if n := len(rcv.deliveries()); n != i {
				t.Fatalf("attempt %d a second early: receiver got %d requests, want %d", attempt, n, i)
			}
			clk.Advance(time.Second)
		}
		times = append(times, clk.Now())
		sent, errs, err := d.DeliverDue(ctx, fmt.Sprintf("pass-%d", attempt), 10)
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		got := stored(t, s, e.ID)
		if got.Attempts != attempt {
			t.Fatalf("attempt %d: stored attempts %d", attempt, got.Attempts)
		}
		if attempt < 4 {
			if sent != 0 || len(errs) != 1 || errs[0].Code != "DELIVERY_FAILED" || errs[0].Subject != e.ID || errs[0].Step != "notifications" ||
				!strings.Contains(errs[0].Message, "HTTP 503") {
				t.Fatalf("attempt %d: sent=%d errs=%+v", attempt, sent, errs)
			}
			if got.Status != cloudpay.EventPending || got.LastError != "HTTP 503" {
				t.Fatalf("attempt %d: stored %+v", attempt, got)
			}
			continue
		}
		if sent != 1 || len(errs) != 0 {
			t.Fatalf("attempt 4: sent=%d errs=%+v", sent, errs)
		}
		if got.Status != cloudpay.EventDelivered || !got.DeliveredAt.Equal(clk.Now()) || got.LastError != "" {
			t.Fatalf("attempt 4: stored %+v", got)
		}
	}
	// Delivered: later passes leave it alone.
	clk.Advance(24 * time.Hour)
	if sent, errs, err := d.DeliverDue(ctx, "pass-later", 10); sent != 0 || len(errs) != 0 || err != nil {
		t.Fatalf("pass after delivery: sent=%d errs=%v err=%v", sent, errs, err)
	}

	got := rcv.deliveries()
	if len(got) != 4 {
		t.Fatalf("receiver got %d requests, want 4", len(got))
	}
	acked := 0
	for i, dl := range got {
		if dl.status/100 == 2 {
			acked++
		}
		checkBody(t, dl, e, i+1, times[i])
	}
	if acked != 1 {
		t.Fatalf("receiver acknowledged %d deliveries, want 1", acked)
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatalf("the secret reached the log:\n%s", logs.String())
	}
}

// Two passes run at once over the same due events, and every event is
// delivered exactly once. The passes are held in lockstep: both list the
// events before either delivers, and both reach each event's claim before
// either makes it, so every event is a genuine race for the same claim
// (left alone, one pass soon runs ahead and the other mostly meets claims
// already made). 60 events, each a contested claim, test the protocol
// harder than the 300 mostly uncontested ones this test made before, at a
// fifth of the cost: on the embedded store under -race each event costs
// about 80 ms of CPU.
func TestConcurrentPassesDeliverEachEventOnce(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	clk := &clock{t: t0}
	rcv := newReceiver(t, always(http.StatusOK))
	const events = 60
	ids := make([]string, events)
	for i := range events {
		ids[i] = enqueue(t, s, fmt.Sprintf("ORDER%04d", i), t0.Add(-time.Duration(events-i)*time.Second)).ID
	}
	steps := newLockstep(2)
	d, err := outbox.New(lockstepStore{Store: s, steps: steps}, outbox.Config{URL: rcv.URL, Secret: secret}, nil, outbox.WithClock(clk.Now))
	if err != nil {
		t.Fatalf("new deliverer: %v", err)
	}

	var wg sync.WaitGroup
	sent := make([]int, 2)
	for p := range 2 {
		wg.Go(func() {
			defer steps.finish()
			n, errs, err := d.DeliverDue(ctx, fmt.Sprintf("pass-%c", 'a'+p), events)
			if err != nil || len(errs) != 0 {
				t.Errorf("pass %d: err=%v errs=%+v", p, err, errs)
			}
			sent[p] = n
		})
	}
	wg.Wait()

	// The list, then each event's claim: all met by both passes.
	if met, late := steps.result(); met != events+1 || len(late) != 0 {
		t.Errorf("the passes met at %d steps, want %d (the list and each claim); waited in vain at %q", met, events+1, late)
	}
	if sent[0]+sent[1] != events {
		t.Errorf("passes report %d + %d sent, want %d in all", sent[0], sent[1], events)
	}
	perID := map[string]int{}
	for _, dl := range rcv.deliveries() {
		perID[dl.header.Get("X-Cloudpay-Event-Id")]++
	}
	for _, id := range ids {
		if perID[id] != 1 {
			t.Errorf("event %s delivered %d times, want once", id, perID[id])
		}
		if e := stored(t, s, id); e.Status != cloudpay.EventDelivered || e.Attempts != 1 {
			t.Errorf("event %s stored as %s after %d attempts", id, e.Status, e.Attempts)
		}
	}
	if len(perID) != events {
		t.Errorf("receiver got %d distinct events, want %d", len(perID), events)
	}
}

// lockstepStore holds the passes using it in lockstep: each waits after
// listing the due events, and before each claim, until every other pass
// still running is at the same step.
type lockstepStore struct {
	outbox.Store
	steps *lockstep
}

func (s lockstepStore) DueEvents(ctx context.Context, now time.Time, limit int) ([]cloudpay.Event, error) {
	evs, err := s.Store.DueEvents(ctx, now, limit)
	s.steps.meet("list")
	return evs, err
}

func (s lockstepStore) ClaimAction(ctx context.Context, action, subject, pass string, spacing time.Duration, now time.Time) (bool, error) {
	s.steps.meet(action + " " + subject)
	return s.Store.ClaimAction(ctx, action, subject, pass, spacing, now)
}

// lockstepWait bounds a wait for the other pass at one step; it only keeps
// a broken test from hanging (passes taking the events in different
// orders): a pass's step takes milliseconds, seconds on a loaded machine.
// After one wait in vain the passes run free.
const lockstepWait = 2 * time.Minute

// lockstep is a rendezvous of n passes at each named step: a pass arriving
// at a step waits until every pass still running has arrived there too.
type lockstep struct {
	n       int
	mu      sync.Mutex
	running int
	arrived map[string]int
	waiting map[string]chan struct{} // closed when the step is met
	late    []string                 // steps a pass gave up waiting at
	broken  bool                     // a pass gave up: nobody waits any more
}

func newLockstep(n int) *lockstep {
	return &lockstep{n: n, running: n, arrived: map[string]int{}, waiting: map[string]chan struct{}{}}
}

func (l *lockstep) meet(step string) {
	l.mu.Lock()
	l.arrived[step]++
	ch := l.waiting[step]
	if ch == nil {
		ch = make(chan struct{})
		l.waiting[step] = ch
	}
	l.releaseLocked()
	l.mu.Unlock()
	timeout := time.NewTimer(lockstepWait)
	defer timeout.Stop()
	select {
	case <-ch:
	case <-timeout.C:
		l.mu.Lock()
		l.late = append(l.late, step)
		l.broken = true
		l.releaseLocked()
		l.mu.Unlock()
	}
}

// finish tells the others a pass has returned: they no longer wait for it.
func (l *lockstep) finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running--
	l.releaseLocked()
}

func (l *lockstep) releaseLocked() {
	for step, ch := range l.waiting {
		if l.broken || l.arrived[step] >= l.running {
			close(ch)
			delete(l.waiting, step)
		}
	}
}

// result counts the steps every pass reached, and names those a pass gave
// up waiting at.
func (l *lockstep) result() (met int, late []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.arrived {
		if n == l.n {
			met++
		}
	}
	return met, slices.Clone(l.late)
}

// drain runs passes, moving the clock to the next due attempt each time,
// until no event is pending; it returns the passes made.
func drain(t *testing.T, s *mongostore.Store, d *outbox.Deliverer, clk *clock, ids ...string) int {
	t.Helper()
	for pass := 1; pass < 100; pass++ {
		if _, _, err := d.DeliverDue(context.Background(), fmt.Sprintf("drain-%d", pass), 10); err != nil {
			t.Fatalf("pass %d: %v", pass, err)
		}
		var next time.Time
		for _, id := range ids {
			if e := stored(t, s, id); e.Status == cloudpay.EventPending && (next.IsZero() || e.NextAttemptAt.Before(next)) {
				next = e.NextAttemptAt
			}
		}
		if next.IsZero() {
			return pass
		}
		clk.Set(next)
	}
	t.Fatal("events still pending after 100 passes")
	return 0
}

func TestDeadLetterAndRedeliver(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	clk := &clock{t: t0}
	rcv := newReceiver(t, always(0)) // down: every connection is dropped
	d := newDeliverer(t, s, outbox.Config{URL: rcv.URL, Secret: secret}, clk)
	older := enqueue(t, s, "ORDER0001", t0)
	newer := enqueue(t, s, "ORDER0002", t0.Add(time.Minute))

	drain(t, s, d, clk, older.ID, newer.ID)

	// Retried at 0, 15s, 1m15s, 6m15s, 21m15s, 51m15s, 1h51m15s, 3h51m15s,
	// 7h51m15s, 13h51m15s, 19h51m15s and, last, at the end of the window.
	const attempts = 12
	e := stored(t, s, older.ID)
	if e.Status != cloudpay.EventDead || e.Attempts != attempts || !e.LastAttemptAt.Equal(t0.Add(24*time.Hour)) || e.LastError == "" {
		t.Fatalf("after the retry window: %+v", e)
	}
	if n := rcv.countFor(older.ID); n != attempts {
		t.Fatalf("receiver got %d requests for %s, want %d", n, older.ID, attempts)
	}
	// Dead letters are not retried by later passes.
	clk.Advance(48 * time.Hour)
	if sent, errs, err := d.DeliverDue(ctx, "after", 10); sent != 0 || len(errs) != 0 || err != nil {
		t.Fatalf("pass over dead letters: sent=%d errs=%v err=%v", sent, errs, err)
	}

	letters, err := d.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 2 || letters[0].ID != newer.ID || letters[1].ID != older.ID {
		t.Fatalf("dead letters %+v, want %s then %s", letters, newer.ID, older.ID)
	}
	if l := letters[1]; l.Attempts != attempts || l.LastError != e.LastError || !l.CreatedAt.Equal(t0) || l.Subject != "ORDER0001" {
		t.Fatalf("dead letter %+v", l)
	}

	// Still down: the redelivery fails and the letter stays dead.
	l, err := d.Redeliver(ctx, newer.ID)
	if cloudpay.ErrorCode(err) != outbox.CodeDeliveryFailed || l.Status != cloudpay.EventDead || l.Attempts != attempts+1 {
		t.Fatalf("redeliver while down: %+v, %v", l, err)
	}
	if got := stored(t, s, newer.ID); got.Status != cloudpay.EventDead || got.Attempts != attempts+1 || !got.LastAttemptAt.Equal(clk.Now()) {
		t.Fatalf("after a failed redelivery: %+v", got)
	}

	// Back up: one redelivery, acknowledged.
	rcv.setReply(always(http.StatusOK))
	before := len(rcv.deliveries())
	l, err = d.Redeliver(ctx, older.ID)
	if err != nil || l.Status != cloudpay.EventDelivered || l.Attempts != attempts+1 || l.ID != older.ID {
		t.Fatalf("redeliver: %+v, %v", l, err)
	}
	got := rcv.deliveries()
	if len(got) != before+1 || got[len(got)-1].header.Get("X-Cloudpay-Event-Id") != older.ID || got[len(got)-1].status != http.StatusOK {
		t.Fatalf("receiver got %d new requests, want the redelivery of %s", len(got)-before, older.ID)
	}
	checkBody(t, got[len(got)-1], older, attempts+1, clk.Now())
	if e := stored(t, s, older.ID); e.Status != cloudpay.EventDelivered || !e.DeliveredAt.Equal(clk.Now()) {
		t.Fatalf("stored after redelivery: %+v", e)
	}

	// A delivered event is returned as is, without another request.
	if l, err := d.Redeliver(ctx, older.ID); err != nil || l.Status != cloudpay.EventDelivered {
		t.Fatalf("redeliver a delivered event: %+v, %v", l, err)
	}
	if n := len(rcv.deliveries()); n != before+1 {
		t.Fatalf("redelivering a delivered event sent a request")
	}
	letters, err = d.DeadLetters(ctx, 10)
	if err != nil || len(letters) != 1 || letters[0].ID != newer.ID {
		t.Fatalf("dead letters after redelivery: %+v, %v", letters, err)
	}

	if _, err := d.Redeliver(ctx, "order.paid:NOSUCH"); cloudpay.ErrorCode(err) != cloudpay.CodeNotFound {
		t.Fatalf("redeliver an unknown event: %v, want %s", err, cloudpay.CodeNotFound)
	}
}

func TestFailedDeliveries(t *testing.T) {
	t.Parallel()
	slow := newReceiver(t, always(http.StatusOK))
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the server closes: it waits for its handlers
	slow.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	moved := newReceiver(t, always(http.StatusFound))

	// Only the receiver that never answers is given a short timeout: on a
	// loaded machine a prompt receiver may take longer than 200ms to answer.
	const short, long = 200 * time.Millisecond, time.Minute
	for _, tc := range []struct {
		name, url, reason string
		timeout           time.Duration
	}{
		{"server error", newReceiver(t, always(http.StatusInternalServerError)).URL, "HTTP 500", long},
		{"client error", newReceiver(t, always(http.StatusBadRequest)).URL, "HTTP 400", long},
		{"redirect is not followed", moved.URL, "HTTP 302", long},
		{"no reply in time", slow.URL, "no reply within 200ms", short},
		{"connection refused", gone.URL, "connection refused", long},
		{"connection dropped", newReceiver(t, always(0)).URL, "EOF", long},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := storetest.New(t)
			clk := &clock{t: t0}
			var logs bytes.Buffer
			// The URL's query may hold a token of the receiver's: it stays out too.
			d := newDeliverer(t, s, outbox.Config{URL: tc.url + "/hook?token=tok-in-url", Secret: secret, Timeout: tc.timeout}, clk,
				outbox.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			e := enqueue(t, s, "ORDER0001", t0)
			sent, errs, err := d.DeliverDue(context.Background(), "pass-1", 10)
			if err != nil || sent != 0 || len(errs) != 1 {
				t.Fatalf("sent=%d errs=%+v err=%v", sent, errs, err)
			}
			ie := errs[0]
			if ie.Step != "notifications" || ie.Subject != e.ID || ie.Code != "DELIVERY_FAILED" || !strings.Contains(ie.Message, tc.reason) {
				t.Fatalf("item error %+v, want a DELIVERY_FAILED mentioning %q", ie, tc.reason)
			}
			got := stored(t, s, e.ID)
			if got.Status != cloudpay.EventPending || got.Attempts != 1 || !got.NextAttemptAt.Equal(t0.Add(15*time.Second)) ||
				!strings.Contains(got.LastError, tc.reason) {
				t.Fatalf("stored %+v", got)
			}
			for what, text := range map[string]string{"item error": ie.Message, "last error": got.LastError, "log": logs.String()} {
				if strings.Contains(text, secret) || strings.Contains(text, "tok-in-url") {
					t.Errorf("the %s shows the secret or the URL: %s", what, text)
				}
			}
		})
	}
	if n := len(moved.deliveries()); n != 1 {
		t.Errorf("the redirecting receiver got %d requests, want 1", n)
	}
}

func TestDeliveryOff(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	clk := &clock{t: t0}
	rcv := newReceiver(t, always(http.StatusOK))
	d := newDeliverer(t, s, outbox.Config{Secret: secret}, clk)
	e := enqueue(t, s, "ORDER0001", t0)
	sent, errs, err := d.DeliverDue(context.Background(), "pass-1", 10)
	if sent != 0 || len(errs) != 0 || err != nil {
		t.Fatalf("sent=%d errs=%v err=%v", sent, errs, err)
	}
	if got := stored(t, s, e.ID); got.Status != cloudpay.EventPending || got.Attempts != 0 {
		t.Fatalf("stored %+v", got)
	}
	if n := len(rcv.deliveries()); n != 0 {
		t.Fatalf("receiver got %d requests", n)
	}
	if d.Enabled() {
		t.Fatal("Enabled without a URL")
	}
}
