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

func stored(t *testing.T, s *mongostore.Store, id string) mongostore.OutboxEvent {
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
