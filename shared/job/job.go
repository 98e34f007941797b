// Package job is the close-expired function's core: one pass sweeps the
// ledgers (finishing the documents of movements a crash cut short), closes
// expired orders (asking WeChat first), records payments whose callback
// never came, settles refunds and withdrawals left in flight, resumes
// batches, and delivers business notifications. Every action on an item is
// claimed first (a job_actions claim), so passes running at the same
// time never act twice, and one bad item never stops the rest. The sweep
// claims nothing: it only makes documents agree with the ledgers, which
// any number of passes may do at once.
package job

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/recon"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/shipping"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// Config tunes a pass.
type Config struct {
	Budget        time.Duration `env:"JOB_BUDGET, default=50s"`         // a whole pass
	PayLateAfter  time.Duration `env:"JOB_PAY_LATE_AFTER, default=5m"`  // a prepay this old without a callback is looked up
	ActionSpacing time.Duration `env:"JOB_ACTION_SPACING, default=50s"` // at most one action per item and kind in this time
	BatchSize     int           `env:"JOB_BATCH_SIZE, default=500"`     // items per step and pass
	BatchWindow   time.Duration `env:"JOB_BATCH_WINDOW, default=48h"`   // refund batches this recent are resumed
	SweepGrace    time.Duration `env:"JOB_SWEEP_GRACE, default=2m"`     // a ledger entry this old without its document was left by a crash
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
	recon       *recon.Service
	shipping    *shipping.Service
	reconciled  sync.Map // days this process found reconciled: not read again
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

// WithShipping lets the job send shipping uploads WeChat could not take.
func WithShipping(s *shipping.Service) Option { return func(j *Job) { j.shipping = s } }

// WithReconciler reconciles each day against WeChat's bill, once it is
// ready (after 10:00 Beijing the next day).
func WithReconciler(r *recon.Service) Option { return func(j *Job) { j.recon = r } }

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
	if cfg.SweepGrace <= 0 {
		cfg.SweepGrace = 2 * time.Minute
	}
	j := &Job{store: store, payments: payments, refunds: refunds, cfg: cfg, log: slog.New(slog.DiscardHandler), now: time.Now}
	for _, o := range opts {
		o(j)
	}
	return j
}

// Report is what one pass did (docs/design.md §3).
type Report struct {
	Pass              string               `json:"pass"`
	StartedAt         time.Time            `json:"started_at"`
	FinishedAt        time.Time            `json:"finished_at"`
	Closed            int                  `json:"closed"`
	PaidLate          int                  `json:"paid_late"`
	Repaired          int                  `json:"repaired"`
	RefundsSynced     int                  `json:"refunds_synced"`
	RefundsRetried    int                  `json:"refunds_retried"`  // calls made to WeChat, not refunds looked at
	RefundsGivenUp    int                  `json:"refunds_given_up"` // retry budget used up: failed for good, for an operator
	BatchItemsResumed int                  `json:"batch_items_resumed"`
	WithdrawalsSynced int                  `json:"withdrawals_synced"`
	NotificationsSent int                  `json:"notifications_sent"`
	ShippingSent      int                  `json:"shipping_sent"`        // shipping uploads sent again (WeChat could not take them before)
	Reconciled        []string             `json:"reconciled,omitempty"` // days reconciled against WeChat's bill in this pass
	Skipped           int                  `json:"skipped"`              // items another pass was handling
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

// Run makes one pass. The steps share the budget fairly: each may take
// what is left divided by the steps left, so a busy step cannot starve the
// ones after it, and a quick one leaves its share to them. What a step
// leaves undone is done by the next pass, which goes on where it stopped.
func (j *Job) Run(ctx context.Context) Report {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	r := Report{Pass: hex.EncodeToString(b), StartedAt: j.now().UTC(), Errors: []cloudpay.ItemError{}}
	p := &pass{id: r.Pass, report: &r}
	ctx, cancel := context.WithTimeout(ctx, j.cfg.Budget)
	defer cancel()
	steps := []step{
		{"sweep", j.sweep},
		{"orders", j.orders},
		{"refunds", j.refundsStep},
		{"batches", j.batches},
		{"withdrawals", j.withdrawalsStep},
		{"reconciliation", j.reconcileDays},
		{"shipping", j.shippingStep},
		{"notifications", j.notifications},
	}
	deadline, _ := ctx.Deadline()
	for i, st := range steps {
		if ctx.Err() != nil {
			p.fail(st.name, "", cloudpay.Errorf("BUDGET_EXCEEDED", "the pass ran out of time before this step"))
			continue
		}
		share := time.Until(deadline) / time.Duration(len(steps)-i)
		sctx, scancel := context.WithTimeout(ctx, share)
		st.run(sctx, p)
		scancel()
	}
	r.FinishedAt = j.now().UTC()
	j.log.InfoContext(ctx, "job pass", "pass", r.Pass, "closed", r.Closed, "paid_late", r.PaidLate, "repaired", r.Repaired,
		"refunds_synced", r.RefundsSynced, "refunds_retried", r.RefundsRetried, "refunds_given_up", r.RefundsGivenUp, "withdrawals_synced", r.WithdrawalsSynced,
		"notifications_sent", r.NotificationsSent, "skipped", r.Skipped, "errors", len(r.Errors))
	return r
}

// shippingStep sends the shipping uploads whose turn has come.
func (j *Job) shippingStep(ctx context.Context, p *pass) {
	if j.shipping == nil {
		return
	}
	n, err := j.shipping.Retry(ctx, j.cfg.BatchSize)
	p.report.ShippingSent += n
	if err != nil {
		p.fail("shipping", "", err)
	}
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

// each runs act on the step's due items, from where the step's last pass
// stopped, each item claimed first, until the step's time is up; then it
// records where it stopped.
func (j *Job) each(ctx context.Context, p *pass, stepName, action string, scan func(after string) ([]string, error), act func(subject string)) {
	after, err := j.store.JobCursor(ctx, stepName)
	if err != nil {
		p.fail(stepName, "", err) // start from the beginning: fairness is lost for a pass, nothing else
	}
	ids, err := scan(after)
	if err != nil {
		p.fail(stepName, "", err)
		return
	}
	last := ""
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		last = id
		if j.claim(ctx, p, action, id) {
			act(id)
		}
	}
	if len(ids) < j.cfg.BatchSize && ctx.Err() == nil {
		last = "" // every due item was reached: the next pass starts over
	}
	if last != after {
		if err := j.store.SaveJobCursor(context.WithoutCancel(ctx), stepName, last, j.now().UTC()); err != nil {
			p.fail(stepName, "", err)
		}
	}
}

func (j *Job) orders(ctx context.Context, p *pass) {
	now := j.now().UTC()
	scan := func(after string) ([]string, error) {
		return j.store.OrdersToReconcile(ctx, now, now.Add(-j.cfg.PayLateAfter), after, j.cfg.BatchSize)
	}
	j.each(ctx, p, "orders", "order", scan, func(no string) {
		did, err := j.payments.Reconcile(ctx, no)
		if err != nil {
			p.fail("orders", no, err)
			return
		}
		switch did {
		case payment.ReconciledPaid:
			p.report.PaidLate++
		case payment.ReconciledClosed:
			p.report.Closed++
		case payment.ReconciledRepaired:
			p.report.Repaired++
		}
	})
}

func (j *Job) refundsStep(ctx context.Context, p *pass) {
	scan := func(after string) ([]string, error) {
		return j.store.RefundsInFlight(ctx, j.now().UTC(), after, j.cfg.BatchSize)
	}
	j.each(ctx, p, "refunds", "refund", scan, func(no string) {
		did, err := j.refunds.Reconcile(ctx, no)
		if err != nil {
			p.fail("refunds", no, err)
		}
		switch did {
		case refund.ReconciledSynced:
			p.report.RefundsSynced++
		case refund.ReconciledRetried:
			p.report.RefundsRetried++
		case refund.ReconciledGivenUp:
			p.report.RefundsGivenUp++
		}
	})
}

func (j *Job) batches(ctx context.Context, p *pass) {
	scan := func(after string) ([]string, error) {
		return j.store.BatchesSince(ctx, j.now().UTC().Add(-j.cfg.BatchWindow), after, j.cfg.BatchSize)
	}
	j.each(ctx, p, "batches", "batch", scan, func(id string) {
		n, err := j.refunds.ResumeBatch(ctx, id)
		p.report.BatchItemsResumed += n
		if err != nil {
			p.fail("batches", id, err)
		}
	})
}

func (j *Job) withdrawalsStep(ctx context.Context, p *pass) {
	if j.withdrawals == nil {
		return
	}
	scan := func(after string) ([]string, error) {
		return j.store.WithdrawalsInFlight(ctx, after, j.cfg.BatchSize)
	}
	j.each(ctx, p, "withdrawals", "withdrawal", scan, func(id string) {
		changed, err := j.withdrawals.Reconcile(ctx, id)
		if err != nil {
			p.fail("withdrawals", id, err)
		}
		if changed {
			p.report.WithdrawalsSynced++
		}
	})
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
