// Package job is the close-expired function's core: one pass closes
// expired orders (asking WeChat first), records payments whose callback
// never came, settles refunds and withdrawals left in flight, resumes
// batches, and delivers business notifications. Every action on an item is
// claimed first (a job_actions claim), so passes running at the same
// time never act twice, and one bad item never stops the rest.
package job

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// Config tunes a pass.
type Config struct {
	Budget        time.Duration `env:"JOB_BUDGET, default=50s"`         // a whole pass
	PayLateAfter  time.Duration `env:"JOB_PAY_LATE_AFTER, default=5m"`  // a prepay this old without a callback is looked up
	ActionSpacing time.Duration `env:"JOB_ACTION_SPACING, default=50s"` // at most one action per item and kind in this time
	BatchSize     int           `env:"JOB_BATCH_SIZE, default=500"`     // items per step and pass
	BatchWindow   time.Duration `env:"JOB_BATCH_WINDOW, default=48h"`   // refund batches this recent are resumed
}

// Outbox delivers business events.
type Outbox interface {
	DeliverDue(ctx context.Context, pass string, limit int) (int, []cloudpay.ItemError, error)
}

// Job runs passes. Withdrawals and Outbox may be nil (no v3 credentials,
// no notification URL).
type Job struct {
	store       Store
	payments    *payment.Service
	refunds     *refund.Service
	withdrawals *withdraw.Service
	outbox      Outbox
	cfg         Config
	log         *slog.Logger
	now         func() time.Time
}

// Option adjusts a Job.
type Option func(*Job)

// WithClock replaces the clock (tests).
func WithClock(now func() time.Time) Option { return func(j *Job) { j.now = now } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(j *Job) { j.log = l } }

// WithWithdrawals lets passes settle withdrawals.
func WithWithdrawals(w *withdraw.Service) Option { return func(j *Job) { j.withdrawals = w } }

// WithOutbox lets passes deliver business events.
func WithOutbox(o Outbox) Option { return func(j *Job) { j.outbox = o } }

// New builds a job.
func New(store Store, payments *payment.Service, refunds *refund.Service, cfg Config, opts ...Option) *Job {
	if cfg.Budget <= 0 {
		cfg.Budget = 50 * time.Second
	}
	if cfg.PayLateAfter <= 0 {
		cfg.PayLateAfter = 5 * time.Minute
	}
	if cfg.ActionSpacing <= 0 {
		cfg.ActionSpacing = 50 * time.Second
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.BatchWindow <= 0 {
		cfg.BatchWindow = 48 * time.Hour
	}
	j := &Job{store: store, payments: payments, refunds: refunds, cfg: cfg, log: slog.New(slog.DiscardHandler), now: time.Now}
	for _, o := range opts {
		o(j)
	}
	return j
}

// Report is what one pass did (design.md §3).
type Report struct {
	Pass              string               `json:"pass"`
	StartedAt         time.Time            `json:"started_at"`
	FinishedAt        time.Time            `json:"finished_at"`
	Closed            int                  `json:"closed"`
	PaidLate          int                  `json:"paid_late"`
	Repaired          int                  `json:"repaired"`
	RefundsSynced     int                  `json:"refunds_synced"`
	RefundsRetried    int                  `json:"refunds_retried"`
	BatchItemsResumed int                  `json:"batch_items_resumed"`
	WithdrawalsSynced int                  `json:"withdrawals_synced"`
	NotificationsSent int                  `json:"notifications_sent"`
	Skipped           int                  `json:"skipped"` // items another pass was handling
	Errors            []cloudpay.ItemError `json:"errors"`
}

// step is one part of a pass, with its share of the budget.
type step struct {
	name string
	run  func(ctx context.Context, p *pass)
}

type pass struct {
	id     string
	report *Report
}

func (p *pass) fail(step, subject string, err error) {
	code := string(cloudpay.ErrorCode(err))
	msg := err.Error()
	var e *cloudpay.Error
	if errors.As(err, &e) {
		msg = e.Message
	}
	p.report.Errors = append(p.report.Errors, cloudpay.ItemError{Step: step, Subject: subject, Code: code, Message: msg})
}

// Run makes one pass. Each step gets at most a third of the budget, and
// what a step leaves undone is done by the next pass.
func (j *Job) Run(ctx context.Context) Report {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	r := Report{Pass: hex.EncodeToString(b), StartedAt: j.now().UTC(), Errors: []cloudpay.ItemError{}}
	p := &pass{id: r.Pass, report: &r}
	ctx, cancel := context.WithTimeout(ctx, j.cfg.Budget)
	defer cancel()
	for _, st := range []step{
		{"orders", j.orders},
		{"refunds", j.refundsStep},
		{"batches", j.batches},
		{"withdrawals", j.withdrawalsStep},
		{"notifications", j.notifications},
	} {
		if ctx.Err() != nil {
			p.fail(st.name, "", cloudpay.Errorf("BUDGET_EXCEEDED", "the pass ran out of time before this step"))
			continue
		}
		sctx, scancel := context.WithTimeout(ctx, j.cfg.Budget/3)
		st.run(sctx, p)
		scancel()
	}
	r.FinishedAt = j.now().UTC()
	j.log.InfoContext(ctx, "job pass", "pass", r.Pass, "closed", r.Closed, "paid_late", r.PaidLate, "repaired", r.Repaired,
		"refunds_synced", r.RefundsSynced, "refunds_retried", r.RefundsRetried, "withdrawals_synced", r.WithdrawalsSynced,
		"notifications_sent", r.NotificationsSent, "skipped", r.Skipped, "errors", len(r.Errors))
	return r
}

// claim takes the right to act on subject in this pass.
func (j *Job) claim(ctx context.Context, p *pass, action, subject string) bool {
	ok, err := j.store.ClaimAction(ctx, action, subject, p.id, j.cfg.ActionSpacing, j.now().UTC())
	if err != nil {
		p.fail(action, subject, err)
		return false
	}
	if !ok {
		p.report.Skipped++
	}
	return ok
}

func (j *Job) orders(ctx context.Context, p *pass) {
	now := j.now().UTC()
	ids, err := j.store.OrdersToReconcile(ctx, now, now.Add(-j.cfg.PayLateAfter), j.cfg.BatchSize)
	if err != nil {
		p.fail("orders", "", err)
		return
	}
	for _, no := range ids {
		if ctx.Err() != nil || !j.claim(ctx, p, "order", no) {
			continue
		}
		did, err := j.payments.Reconcile(ctx, no)
		if err != nil {
			p.fail("orders", no, err)
			continue
		}
		switch did {
		case payment.ReconciledPaid:
			p.report.PaidLate++
		case payment.ReconciledClosed:
			p.report.Closed++
		case payment.ReconciledRepaired:
			p.report.Repaired++
		}
	}
}

func (j *Job) refundsStep(ctx context.Context, p *pass) {
	ids, err := j.store.RefundsInFlight(ctx, j.cfg.BatchSize)
	if err != nil {
		p.fail("refunds", "", err)
		return
	}
	for _, no := range ids {
		if ctx.Err() != nil || !j.claim(ctx, p, "refund", no) {
			continue
		}
		did, err := j.refunds.Reconcile(ctx, no)
		if err != nil {
			p.fail("refunds", no, err)
		}
		switch did {
		case refund.ReconciledSynced:
			p.report.RefundsSynced++
		case refund.ReconciledRetried:
			p.report.RefundsRetried++
		}
	}
}

func (j *Job) batches(ctx context.Context, p *pass) {
	ids, err := j.store.BatchesSince(ctx, j.now().UTC().Add(-j.cfg.BatchWindow), j.cfg.BatchSize)
	if err != nil {
		p.fail("batches", "", err)
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil || !j.claim(ctx, p, "batch", id) {
			continue
		}
		n, err := j.refunds.ResumeBatch(ctx, id)
		p.report.BatchItemsResumed += n
		if err != nil {
			p.fail("batches", id, err)
		}
	}
}

func (j *Job) withdrawalsStep(ctx context.Context, p *pass) {
	if j.withdrawals == nil {
		return
	}
	ids, err := j.store.WithdrawalsInFlight(ctx, j.cfg.BatchSize)
	if err != nil {
		p.fail("withdrawals", "", err)
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil || !j.claim(ctx, p, "withdrawal", id) {
			continue
		}
		changed, err := j.withdrawals.Reconcile(ctx, id)
		if err != nil {
			p.fail("withdrawals", id, err)
		}
		if changed {
			p.report.WithdrawalsSynced++
		}
	}
}

func (j *Job) notifications(ctx context.Context, p *pass) {
	if j.outbox == nil {
		return
	}
	sent, errs, err := j.outbox.DeliverDue(ctx, p.id, j.cfg.BatchSize)
	p.report.NotificationsSent += sent
	p.report.Errors = append(p.report.Errors, errs...)
	if err != nil {
		p.fail("notifications", "", err)
	}
}
