package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Codes of the errors this package reports.
const (
	CodeDeliveryFailed     cloudpay.Code = "DELIVERY_FAILED"      // the receiver did not acknowledge
	CodeDeliveryInProgress cloudpay.Code = "DELIVERY_IN_PROGRESS" // another pass holds the attempt
)

const (
	step          = "notifications" // ItemError.Step
	action        = "deliver"       // the job action claimed per attempt
	minSpacing    = 30 * time.Second
	maxReplyBytes = 64 << 10
	defaultLimit  = 100
	maxLimit      = 1000
	writeTimeout  = 10 * time.Second
)

// defaultBackoff is the wait after each failed attempt; the last value
// repeats until the retry window ends.
var defaultBackoff = []time.Duration{
	15 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 6 * time.Hour,
}

// Deliverer sends outbox events to the merchant's back end.
type Deliverer struct {
	store   Store
	cfg     Config
	hc      *http.Client
	now     func() time.Time
	log     *slog.Logger
	backoff []time.Duration
	spacing time.Duration // how long a claimed attempt is left to its holder
}

// Option adjusts a Deliverer.
type Option func(*Deliverer)

// WithClock replaces the clock (tests).
func WithClock(now func() time.Time) Option { return func(d *Deliverer) { d.now = now } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(d *Deliverer) { d.log = l } }

// WithBackoff replaces the waits after each failed attempt; the last one
// repeats until the retry window ends.
func WithBackoff(steps []time.Duration) Option {
	return func(d *Deliverer) { d.backoff = append([]time.Duration(nil), steps...) }
}

// New builds a Deliverer. With cfg.URL empty it delivers nothing. hc may be
// nil; redirects are never followed, whichever client is given, so a moved
// receiver shows up as failed deliveries rather than events signed for one
// URL landing at another.
func New(store Store, cfg Config, hc *http.Client, opts ...Option) (*Deliverer, error) {
	cfg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{}
	}
	client := *hc
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d := &Deliverer{store: store, cfg: cfg, hc: &client, now: time.Now, log: slog.New(slog.DiscardHandler),
		backoff: defaultBackoff}
	for _, o := range opts {
		o(d)
	}
	if len(d.backoff) == 0 {
		d.backoff = defaultBackoff
	}
	for _, b := range d.backoff {
		if b <= 0 {
			return nil, fmt.Errorf("business notifications: backoff steps must be positive, got %s", b)
		}
	}
	// The claim must outlive the HTTP call and the write that follows, or
	// another pass could make the same attempt meanwhile.
	d.spacing = max(minSpacing, cfg.Timeout+writeTimeout)
	return d, nil
}

// Enabled reports whether events are delivered (a URL is configured).
func (d *Deliverer) Enabled() bool { return d.cfg.URL != "" }

// Letter is an event with how its delivery went: a dead letter when its
// Status is dead.
type Letter struct {
	cloudpay.Event
	LastError     string
	LastAttemptAt time.Time
	DeliveredAt   time.Time
}

func letter(e Record) Letter { return Letter(e) }

// DeliverDue delivers the pending events whose next attempt is due, the
// longest waiting first, up to limit, as part of the job pass pass. Each
// attempt is claimed first, so passes running at the same time make each
// attempt once. It returns how many events were acknowledged and one item
// error per event that was not. err is set only when the due events could
// not be listed; when ctx ends, the pass stops early without error and the
// next pass takes the rest.
func (d *Deliverer) DeliverDue(ctx context.Context, pass string, limit int) (sent int, errs []cloudpay.ItemError, err error) {
	if d.cfg.URL == "" {
		return 0, nil, nil
	}
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	due, err := d.store.DueEvents(ctx, d.now().UTC(), limit)
	if err != nil {
		return 0, nil, fmt.Errorf("deliver events: %w", err)
	}
	for _, e := range due {
		if ctx.Err() != nil {
			break
		}
		o, err := d.attempt(ctx, e.ID, e.Attempts, pass, false)
		switch {
		case err != nil:
			errs = append(errs, cloudpay.ItemError{Step: step, Subject: e.ID, Code: string(cloudpay.CodeInternal), Message: err.Error()})
		case o.result == delivered:
			sent++
		case o.result == failed:
			errs = append(errs, cloudpay.ItemError{Step: step, Subject: e.ID, Code: string(CodeDeliveryFailed), Message: o.summary()})
		}
	}
	return sent, errs, nil
}

// DeadLetters lists the events whose delivery was given up, newest first.
func (d *Deliverer) DeadLetters(ctx context.Context, limit int) ([]Letter, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	evs, err := d.store.DeadEvents(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	out := make([]Letter, 0, len(evs))
	for _, e := range evs {
		out = append(out, letter(e))
	}
	return out, nil
}

// Redeliver makes one delivery attempt of a dead (or pending) event now and
// returns the event as it stands after it. A delivered event is returned
// as is. A failed attempt leaves a dead event dead (and a pending one on
// its schedule) with the new last error, and returns the event with a
// CodeDeliveryFailed error. An unknown id is cloudpay.CodeNotFound.
func (d *Deliverer) Redeliver(ctx context.Context, id string) (Letter, error) {
	ev, found, err := d.store.OutboxEvent(ctx, id)
	if err != nil {
		return Letter{}, fmt.Errorf("redeliver %s: %w", id, err)
	}
	if !found {
		return Letter{}, cloudpay.Errorf(cloudpay.CodeNotFound, "no event %s", id)
	}
	if ev.Status == cloudpay.EventDelivered {
		return letter(ev), nil
	}
	if d.cfg.URL == "" {
		return letter(ev), cloudpay.Errorf(CodeDeliveryFailed, "business notifications are off: BUSINESS_NOTIFY_URL is not set")
	}
	pass := fmt.Sprintf("redeliver-%s-%d", id, d.now().UnixNano())
	o, err := d.attempt(ctx, id, ev.Attempts, pass, true)
	if err != nil {
		return letter(ev), fmt.Errorf("redeliver %s: %w", id, err)
	}
	switch o.result {
	case delivered:
		return letter(o.ev), nil
	case failed:
		return letter(o.ev), cloudpay.Errorf(CodeDeliveryFailed, "event %s: %s", id, o.reason)
	}
	// Someone else moved the event on, or is delivering it right now.
	now, found, err := d.store.OutboxEvent(ctx, id)
	if err != nil {
		return letter(ev), fmt.Errorf("redeliver %s: %w", id, err)
	}
	if found && now.Status == cloudpay.EventDelivered {
		return letter(now), nil
	}
	if o.result == interrupted {
		return letter(now), fmt.Errorf("redeliver %s: %w", id, ctx.Err())
	}
	return letter(now), cloudpay.Errorf(CodeDeliveryInProgress, "event %s is being delivered by another pass; try again in a minute", id)
}

type result int

const (
	skipped     result = iota // another pass holds or made the attempt
	delivered                 // acknowledged with a 2xx
	failed                    // refused or unanswered; rescheduled or dead
	interrupted               // ctx ended mid-call; the attempt's claim lapses and a later pass repeats it
)

type outcome struct {
	ev     Record // after the attempt
	result result
	reason string // why it failed
}

func (o outcome) summary() string {
	if o.ev.Status == cloudpay.EventDead {
		return fmt.Sprintf("attempt %d: %s; dead letter", o.ev.Attempts, o.reason)
	}
	return fmt.Sprintf("attempt %d: %s; next at %s", o.ev.Attempts, o.reason, o.ev.NextAttemptAt.UTC().Format(time.RFC3339))
}

// attempt makes delivery attempt seen+1 of event id, which the caller saw
// after seen attempts. The attempt is claimed by number: of two passes that
// saw the same state, one delivers and the other skips. After the claim the
// event is read again, since a slower pass may have listed it before
// another one moved it on.
func (d *Deliverer) attempt(ctx context.Context, id string, seen int, pass string, redeliver bool) (outcome, error) {
	now := d.now().UTC()
	n := seen + 1
	won, err := d.store.ClaimAction(ctx, action, fmt.Sprintf("%s#%d", id, n), pass, d.spacing, now)
	if err != nil {
		return outcome{}, fmt.Errorf("claim delivery: %w", err)
	}
	if !won {
		return outcome{result: skipped}, nil
	}
	ev, found, err := d.store.OutboxEvent(ctx, id)
	if err != nil {
		return outcome{}, err
	}
	if !found || ev.Attempts != seen || ev.Status == cloudpay.EventDelivered ||
		(!redeliver && (ev.Status != cloudpay.EventPending || ev.NextAttemptAt.After(now))) {
		return outcome{ev: ev, result: skipped}, nil
	}

	reason := d.post(ctx, ev.Event, n, now)
	if reason != "" && ctx.Err() != nil {
		return outcome{ev: ev, result: interrupted}, nil
	}
	at := d.now().UTC()
	a := Delivery{Status: cloudpay.EventDelivered, Attempts: n, At: at, Error: reason}
	if reason != "" {
		a.Status, a.NextAttemptAt = d.schedule(ev.Event, n, at)
		if ev.Status == cloudpay.EventDead {
			a.Status = cloudpay.EventDead // a redelivery never revives a dead letter's schedule
		}
	}
	// Record the outcome even if ctx ends now: the receiver has answered.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := d.store.RecordDeliveryAttempt(wctx, id, a); err != nil {
		return outcome{}, err
	}
	ev.Status, ev.Attempts, ev.LastAttemptAt, ev.LastError = a.Status, a.Attempts, a.At, a.Error
	switch a.Status {
	case cloudpay.EventDelivered:
		ev.DeliveredAt = at
		d.log.DebugContext(ctx, "business event delivered", "event", id, "attempt", n)
		return outcome{ev: ev, result: delivered}, nil
	case cloudpay.EventPending:
		ev.NextAttemptAt = a.NextAttemptAt
		d.log.WarnContext(ctx, "business event delivery failed", "event", id, "attempt", n, "reason", reason, "next_attempt_at", a.NextAttemptAt)
	default:
		d.log.ErrorContext(ctx, "business event is a dead letter", "event", id, "attempt", n, "reason", reason)
	}
	return outcome{ev: ev, result: failed, reason: reason}, nil
}

// schedule decides what follows failed attempt n made at at: a retry after
// the backoff, or a dead letter once the retry window since the event is
// over. A retry that would fall past the window's end is moved to it, so
// the window is used in full.
func (d *Deliverer) schedule(e cloudpay.Event, n int, at time.Time) (cloudpay.EventStatus, time.Time) {
	deadline := e.CreatedAt.Add(d.cfg.RetryWindow)
	if !at.Before(deadline) {
		return cloudpay.EventDead, time.Time{}
	}
	next := at.Add(d.backoff[min(n, len(d.backoff))-1])
	if next.After(deadline) {
		next = deadline
	}
	return cloudpay.EventPending, next
}

// payload is the body the receiver gets.
type payload struct {
	ID        string             `json:"id"`
	Type      cloudpay.EventType `json:"type"`
	Subject   string             `json:"subject"`
	Data      map[string]any     `json:"data"`
	CreatedAt time.Time          `json:"created_at"`
	Attempt   int                `json:"attempt"`
}

// post sends attempt n of e and returns why it failed ("" when acknowledged).
func (d *Deliverer) post(ctx context.Context, e cloudpay.Event, n int, now time.Time) string {
	data := e.Data
	if data == nil {
		data = map[string]any{}
	}
	body, err := json.Marshal(payload{ID: e.ID, Type: e.Type, Subject: e.Subject, Data: data, CreatedAt: e.CreatedAt.UTC(), Attempt: n})
	if err != nil {
		return "encode event: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return "build request: " + d.clean(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cloudpay-outbox/1")
	req.Header.Set("X-Cloudpay-Event-Id", e.ID)
	req.Header.Set("X-Cloudpay-Event-Type", string(e.Type))
	req.Header.Set(SignatureHeader, Sign(d.cfg.Secret, now, body))
	resp, err := d.hc.Do(req)
	if err != nil {
		return d.clean(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxReplyBytes))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return ""
}

// clean turns a transport error into a short reason. The URL is left out
// (it may carry a token) and so, whatever happens, is the secret.
func (d *Deliverer) clean(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Sprintf("no reply within %s", d.cfg.Timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if d.cfg.Secret != "" {
		msg = strings.ReplaceAll(msg, d.cfg.Secret, redacted)
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}
