package job

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// The sweep leaves a ledger entry to the request that wrote it for
// Config.SweepGrace: a live request writes its documents well within it.
// Each pass also checks again the entries of the grace before where the
// last one stopped, for entries that became visible late (a writer whose
// clock is behind, an insert retried); checking an entry twice changes
// nothing.

// Sweep cursors, in job_cursors.
const (
	refundLedgerCursor = "sweep-refund-ledger"
	walletLedgerCursor = "sweep-wallet-ledger"
)

// sweep is the pass's first step: it reads the ledger entries written
// since the last pass and makes each one's documents true (docs/design.md
// §4: documents are projections). The other steps scan documents, so
// without it a crash between a movement and its document would leave money
// reserved or frozen with nothing to finish it. What the sweep stores (a
// refund to send, a withdrawal to send) the later steps of the same pass
// carry on.
func (j *Job) sweep(ctx context.Context, p *pass) {
	now := j.now().UTC()
	sweepLedger(ctx, j, p, refundLedgerCursor, now, j.store.RefundEntriesBetween,
		func(e cloudpay.RefundEntry) (time.Time, string, string) { return e.CreatedAt, e.ID, e.Ref },
		j.refunds.Sweep)
	if ctx.Err() != nil {
		return
	}
	sweepLedger(ctx, j, p, walletLedgerCursor, now, j.store.WalletEntriesBetween,
		func(e cloudpay.WalletEntry) (time.Time, string, string) { return e.CreatedAt, e.ID, e.Ref },
		j.sweepWallet)
}

// sweepWallet repairs one wallet entry: a payment from the balance settles
// its order or goes back; a withdrawal's movement, its withdrawal.
func (j *Job) sweepWallet(ctx context.Context, e cloudpay.WalletEntry) (bool, error) {
	if e.Kind == cloudpay.EntryPayment {
		return j.payments.SweepBalance(ctx, e)
	}
	if j.withdrawals == nil {
		return false, nil
	}
	return j.withdrawals.Sweep(ctx, e)
}

// sweepCursor is where a ledger's sweep stopped: caught up to At (the next
// pass starts at At − SweepGrace), or, after a pass that stopped early (its
// limit, its time, a store failure), the entry (At, ID) it did last (the
// next starts right after it, so the sweep always moves on, however many
// entries share a grace).
type sweepCursor struct {
	At time.Time
	ID string
}

// String is the cursor as job_cursors keeps it: an RFC 3339 time, and the
// entry's _id after a space if the sweep stopped early.
func (c sweepCursor) String() string {
	if c.At.IsZero() {
		return ""
	}
	s := c.At.UTC().Format(time.RFC3339Nano)
	if c.ID != "" {
		s += " " + c.ID
	}
	return s
}

func parseSweepCursor(s string) (sweepCursor, error) {
	if s == "" {
		return sweepCursor{}, nil
	}
	at, id, _ := strings.Cut(s, " ")
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return sweepCursor{}, fmt.Errorf("sweep cursor %q: %w", s, err)
	}
	return sweepCursor{At: t, ID: id}, nil
}

// sweepLedger sweeps one ledger from its cursor: up to BatchSize entries
// at least SweepGrace old, each repaired by fix; then it records where it
// stopped. A store failing stops it at that entry, which the next pass
// tries again; an entry refused for what it is (a domain error) is
// reported and passed, since it would fail every time.
func sweepLedger[E any](ctx context.Context, j *Job, p *pass, name string, now time.Time,
	list func(ctx context.Context, from time.Time, fromID string, to time.Time, limit int) ([]E, error),
	pos func(E) (at time.Time, id, ref string),
	fix func(context.Context, E) (bool, error),
) {
	saved, err := j.store.JobCursor(ctx, name)
	if err != nil {
		p.fail("sweep", name, err)
		return
	}
	c, err := parseSweepCursor(saved)
	if err != nil {
		p.fail("sweep", name, err) // start over: sweeping an entry again changes nothing
	}
	from := c.At
	if c.ID == "" && !from.IsZero() {
		from = from.Add(-j.cfg.SweepGrace)
	}
	to := now.Add(-j.cfg.SweepGrace)
	entries, err := list(ctx, from, c.ID, to, j.cfg.BatchSize)
	if err != nil {
		p.fail("sweep", name, err)
		return
	}
	done := 0
	for _, e := range entries {
		if ctx.Err() != nil {
			break
		}
		repaired, err := fix(ctx, e)
		if repaired {
			p.report.Repaired++
		}
		if err != nil {
			_, _, ref := pos(e)
			p.fail("sweep", ref, err)
			if retryable(err) {
				break
			}
		}
		done++
	}
	next := sweepCursor{At: to} // every entry up to to is done
	if done < len(entries) || len(entries) >= j.cfg.BatchSize {
		next = c
		if done > 0 {
			next.At, next.ID, _ = pos(entries[done-1])
		}
	}
	if next.String() == saved {
		return
	}
	if err := j.store.SaveJobCursor(context.WithoutCancel(ctx), name, next.String(), now); err != nil {
		p.fail("sweep", name, err)
	}
}

// retryable tells a failure of the store, which may answer the next pass,
// from a refusal about the entry itself.
func retryable(err error) bool {
	code := cloudpay.ErrorCode(err)
	return code == cloudpay.CodeStoreBusy || code == cloudpay.CodeInternal
}
