// Package effect is how cloudpay moves money at WeChat exactly once. It is
// the one place that answers "why is nothing ever refunded, transferred or
// recorded as paid twice, even through crashes": refunds, withdrawals and
// payment settlement all run through it, and only their rules differ.
//
// A movement goes through six steps (docs/design.md §4):
//
//  1. Recorded. The use case records the movement before any call, under a
//     number fixed for ever: out_refund_no, out_bill_no, out_trade_no. The
//     money is reserved or frozen by a ledger entry that carries the
//     document, so a crash leaves nothing the job cannot find (the sweep).
//  2. Attempt claimed. Every call to WeChat is preceded by inserting the
//     claim subject:n under a unique _id. Whoever inserts it makes call n;
//     everyone else waits for its lease. A claim whose lease ran out belongs
//     to a call whose result is unknown, and the next attempt sends the
//     same number again, which WeChat executes only once.
//  3. Called, and the answer classified. WeChat's answer says the movement
//     is in progress, has ended, or does not exist at WeChat. A failed call
//     is unknown (no answer: it stays in flight until a query or a callback
//     says more), refused for now (retried later under the same number), or
//     refused for good — which releases the money only after a query shows
//     WeChat holds nothing under the number, since an earlier attempt may
//     have reached it unheard.
//  4. Outcome claimed. How the movement ends (refunded or released, paid
//     out or unfrozen, paid or closed) is one insert under the subject's
//     id. The first insert decides for ever; every later writer, a callback
//     or the job or a retry, finds it and agrees.
//  5. Projected. The ledger's end entry, the business event, the document
//     and any status derived from it follow the outcome. Each write is
//     idempotent (by ref, by event id, by overwrite), so writing them again
//     is harmless.
//  6. Repaired. A crash between 4 and 5 leaves an outcome without its
//     projection: whoever next reads or saves the document finds the
//     outcome and writes the projection (Current, SaveProgress), and the
//     job reads every document not yet final.
//
// No step relies on a conditional update being atomic: the decisions are
// the attempt and outcome inserts, guarded by unique indexes.
package effect

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Ending is what the engine needs to end a kind of movement: D is its
// document (a refund, a withdrawal, an order), O the outcome claim that
// ends it.
type Ending[D, O any] interface {
	// Final tells whether d already shows how it ended.
	Final(d D) bool
	// Claim inserts o unless d's outcome exists, and returns the outcome
	// that holds and whether it is o.
	Claim(ctx context.Context, o O) (O, bool, error)
	// Outcome reads d's outcome claim, if there is one.
	Outcome(ctx context.Context, d D) (O, bool, error)
	// Project writes what follows from an outcome: the ledger's entry, the
	// event, the document, derived statuses. Writing it again is harmless.
	Project(ctx context.Context, d D, o O) (D, error)
	// Load reads d's document again.
	Load(ctx context.Context, d D) (D, error)
	// Reached marks a point of the chain for the crash tests.
	Reached(p Point)
}

// Movement is a kind of movement that cloudpay sends to WeChat itself (a
// refund, a transfer), under attempt claims; A is WeChat's answer about it.
type Movement[D, A, O any] interface {
	Ending[D, O]
	// Subject is d's fixed number: its attempts are claimed under it.
	Subject(d D) string
	// Attempts is how many attempts were claimed for d, and whether d's
	// document says the last one was sent (its call may be in flight).
	Attempts(d D) (n int, sent bool)
	// Sending is d as recorded before attempt n calls WeChat.
	Sending(d D, n int, now time.Time) D
	// Call asks WeChat to make the movement; Query asks what WeChat holds
	// under d's number.
	Call(ctx context.Context, d D) (A, error)
	Query(ctx context.Context, d D) (A, error)
	// Judge reads WeChat's answer about d. An answer that does not fit d
	// (another amount, another number) is an error and changes nothing.
	Judge(d D, a A, now time.Time) (Step[D, O], error)
	// Unsettled is d after a call that brought no verdict: kind is Unknown
	// (no answer) or Retryable (refused for now).
	Unsettled(d D, kind wechat.CallFailure, f *cloudpay.Failure, now time.Time) D
	// Released is d with its failure, and the outcome that gives its money
	// back, once WeChat holds nothing under its number.
	Released(d D, f *cloudpay.Failure, now time.Time) (D, O)
	// Save stores d's state before its end.
	Save(ctx context.Context, d D) error
}

// Step is what an answer from WeChat means for a movement: exactly one of
// absent at WeChat, ended with an outcome, or moved on to a new state; all
// empty means nothing new.
type Step[D, O any] struct {
	Absent bool // WeChat holds nothing under the number
	End    *O
	Next   *D
}

// Point names a point of the chain where the crash tests kill a process.
type Point int

const (
	AfterAttemptClaim Point = iota
	AfterCall
	AfterOutcomeClaim
)

// Attempts is the store of attempt claims.
type Attempts interface {
	ClaimAttempt(ctx context.Context, subject string, n int, now time.Time) (cloudpay.Attempt, bool, error)
	AttemptAt(ctx context.Context, subject string, n int) (cloudpay.Attempt, bool, error)
}

// Lease is how long an attempt's claim keeps others from calling WeChat
// for the same movement: longer than any call takes. After it, the claim's
// owner is presumed dead and its call's result unknown.
const Lease = 2 * time.Minute

// settleTimeout bounds the writes that record WeChat's answer, detached
// from the caller: once WeChat has answered, the answer must be kept.
const settleTimeout = 15 * time.Second

// Detach is the context for recording an answer WeChat has given: it
// outlives the caller (a callback's connection, a polling page) for a
// bounded time, so the answer is kept even if the caller goes away.
func Detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
}

// Ends records how movements of one kind end (steps 4 to 6).
type Ends[D, O any] struct{ m Ending[D, O] }

// NewEnds builds the ending half of the chain for a kind of movement that
// WeChat's users make (a payment): its outcome, projection and repair.
// What WeChat says about it is the use case's to judge.
func NewEnds[D, O any](m Ending[D, O]) *Ends[D, O] { return &Ends[D, O]{m: m} }

// End ends d with o, unless another outcome holds already: one insert
// decides. It returns d as projected from the outcome that holds, that
// outcome, and whether it is o.
func (e *Ends[D, O]) End(ctx context.Context, d D, o O) (D, O, bool, error) {
	held, won, err := e.m.Claim(ctx, o)
	if err != nil {
		return d, held, false, fmt.Errorf("claim outcome: %w", err)
	}
	e.m.Reached(AfterOutcomeClaim)
	d, err = e.m.Project(ctx, d, held)
	return d, held, won, err
}

// Current is d as its outcome left it, if the projection has not caught up
// with the claim (a crash, a concurrent writer): readers never see a
// movement go back from its end.
func (e *Ends[D, O]) Current(ctx context.Context, d D) (D, error) {
	if e.m.Final(d) {
		return d, nil
	}
	return e.current(ctx, d)
}

// Repair writes the projection of an outcome the caller has read already.
func (e *Ends[D, O]) Repair(ctx context.Context, d D, o O) (D, error) { return e.m.Project(ctx, d, o) }

func (e *Ends[D, O]) current(ctx context.Context, d D) (D, error) {
	d, _, err := e.currentEnded(ctx, d)
	return d, err
}

// currentEnded is current, and says whether d has an outcome.
func (e *Ends[D, O]) currentEnded(ctx context.Context, d D) (D, bool, error) {
	o, ended, err := e.m.Outcome(ctx, d)
	if err != nil || !ended {
		return d, false, err
	}
	// Whoever claimed the outcome is usually alive and has projected it
	// by now (a callback racing the sender's save): one read spares
	// writing it all again.
	if fresh, err := e.m.Load(ctx, d); err == nil && e.m.Final(fresh) {
		return fresh, true, nil
	}
	d, err = e.m.Project(ctx, d, o)
	return d, true, err
}

// Engine runs the whole chain for a kind of movement cloudpay sends.
type Engine[D, A, O any] struct {
	Ends[D, O]
	m     Movement[D, A, O]
	store Attempts
	now   func() time.Time
	log   *slog.Logger
}

// New builds the engine for a kind of movement.
func New[D, A, O any](m Movement[D, A, O], store Attempts, now func() time.Time, log *slog.Logger) *Engine[D, A, O] {
	return &Engine[D, A, O]{Ends: Ends[D, O]{m: m}, m: m, store: store, now: now, log: log}
}

// Apply records WeChat's word on d: its end, or its new state. It never
// moves d out of an end.
func (e *Engine[D, A, O]) Apply(ctx context.Context, d D, a A) (D, error) {
	if e.m.Final(d) {
		return d, nil
	}
	st, err := e.m.Judge(d, a, e.now())
	if err != nil {
		return d, err
	}
	switch {
	case st.End != nil:
		d, _, _, err = e.End(ctx, d, *st.End)
		return d, err
	case st.Next != nil:
		return e.SaveProgress(ctx, *st.Next)
	}
	return d, nil
}

// SaveProgress stores d's state before its end, then looks for an outcome
// claimed meanwhile and, if there is one, writes its projection (again):
// a concurrent end's projection always lands after this save, or this
// call writes it.
func (e *Engine[D, A, O]) SaveProgress(ctx context.Context, d D) (D, error) {
	d, _, err := e.saveProgress(ctx, d)
	return d, err
}

// saveProgress is SaveProgress, and says whether d has an outcome.
func (e *Engine[D, A, O]) saveProgress(ctx context.Context, d D) (D, bool, error) {
	if err := e.m.Save(ctx, d); err != nil {
		return d, false, err
	}
	return e.currentEnded(ctx, d)
}

// Send makes one call to WeChat for d under a new attempt claim, after
// recording that d is being sent (people see it processing), and records
// the answer. called says whether a call went out: none goes while the
// last attempt's lease holds (a query that finds nothing proves nothing
// yet), or when d ended meanwhile. An error means the store failed; WeChat's failures are
// recorded on d.
func (e *Engine[D, A, O]) Send(ctx context.Context, d D) (_ D, called bool, _ error) {
	if e.m.Final(d) {
		return d, false, nil
	}
	subject, now := e.m.Subject(d), e.now()
	n, sent := e.m.Attempts(d)
	if sent && n > 0 {
		a, found, err := e.store.AttemptAt(ctx, subject, n)
		if err != nil {
			return d, false, fmt.Errorf("send %s: %w", subject, err)
		}
		if found && now.Sub(a.StartedAt) < Lease {
			return d, false, nil
		}
	}
	for n++; ; n++ {
		a, won, err := e.store.ClaimAttempt(ctx, subject, n, now)
		if err != nil {
			return d, false, fmt.Errorf("send %s: %w", subject, err)
		}
		if won {
			break
		}
		if now.Sub(a.StartedAt) < Lease {
			// Someone is sending it right now; their answer will be recorded.
			held, err := e.m.Load(ctx, d)
			if err != nil {
				return d, false, err
			}
			held, err = e.Current(ctx, held)
			return held, false, err
		}
	}
	e.m.Reached(AfterAttemptClaim)
	d = e.m.Sending(d, n, now)
	var err error
	ended := false
	if n == 1 {
		// Nothing was ever sent under this number, so nothing can have
		// ended it: no outcome to look for. (Every outcome follows a call
		// under an attempt claim, or a query answering one.)
		err = e.m.Save(ctx, d)
	} else {
		d, ended, err = e.saveProgress(ctx, d)
	}
	if err != nil || ended || e.m.Final(d) {
		// The store failed, or d ended meanwhile (perhaps released: a
		// stale copy must not send what its ender gave back).
		return d, false, err
	}
	a, callErr := e.m.Call(ctx, d)
	e.m.Reached(AfterCall)
	ctx, cancel := Detach(ctx)
	defer cancel()
	if callErr != nil {
		d, err = e.refused(ctx, d, n, callErr)
	} else {
		d, err = e.Apply(ctx, d, a)
	}
	return d, true, err
}

// refused records attempt n's call that brought no movement.
func (e *Engine[D, A, O]) refused(ctx context.Context, d D, n int, callErr error) (D, error) {
	f, kind := wechat.FailureOf(callErr), wechat.Classify(callErr)
	if _, fromWeChat := wechat.ErrorOf(callErr); !fromWeChat && cloudpay.ErrorCode(callErr) == cloudpay.CodeInvalidField {
		// Refused here, before any request left (a setting WeChat would
		// refuse). Before the first attempt nothing can exist at WeChat;
		// after an earlier one, WeChat must say so first.
		if n == 1 {
			e.log.ErrorContext(ctx, "not sent: refused before calling WeChat", "subject", e.m.Subject(d), "error", callErr)
			d, o := e.m.Released(d, f, e.now())
			d, _, _, err := e.End(ctx, d, o)
			return d, err
		}
		kind = wechat.Final
	}
	if kind != wechat.Final {
		// Unknown, or "not now": the money stays held under the same
		// number until WeChat gives a final answer.
		e.log.WarnContext(ctx, "call to WeChat without a verdict; money stays held", "subject", e.m.Subject(d), "error", callErr)
		return e.SaveProgress(ctx, e.m.Unsettled(d, kind, f, e.now()))
	}
	return e.release(ctx, d, f, callErr)
}

// release ends d as released after a final refusal f, once WeChat confirms
// it holds nothing under d's number; if it holds something, that decides.
func (e *Engine[D, A, O]) release(ctx context.Context, d D, f *cloudpay.Failure, cause error) (D, error) {
	a, err := e.m.Query(ctx, d)
	if err != nil {
		e.log.WarnContext(ctx, "refused but unconfirmed; money stays held", "subject", e.m.Subject(d), "error", cause, "query_error", err)
		return e.SaveProgress(ctx, e.m.Unsettled(d, wechat.Retryable, f, e.now()))
	}
	st, err := e.m.Judge(d, a, e.now())
	if err != nil {
		return d, err
	}
	if !st.Absent {
		return e.Apply(ctx, d, a)
	}
	e.log.InfoContext(ctx, "refused by WeChat; money released", "subject", e.m.Subject(d), "error", cause)
	d, o := e.m.Released(d, f, e.now())
	d, _, _, err = e.End(ctx, d, o)
	return d, err
}

// Abandon ends d as released because people must take over (its retry
// budget is used up). Not while the last attempt's lease holds; then it
// claims the next attempt without calling,
// so no sender can call WeChat between the query and the release; if
// someone holds that claim, they decide and Abandon does nothing. Only
// WeChat holding nothing under d's number releases the money; otherwise
// WeChat's answer is recorded. released says which happened.
func (e *Engine[D, A, O]) Abandon(ctx context.Context, d D, f *cloudpay.Failure) (_ D, released bool, _ error) {
	subject, now := e.m.Subject(d), e.now()
	n, _ := e.m.Attempts(d)
	if n > 0 {
		// The last call may still be on its way: a query that finds
		// nothing proves nothing yet.
		a, found, err := e.store.AttemptAt(ctx, subject, n)
		if err != nil || (found && now.Sub(a.StartedAt) < Lease) {
			return d, false, err
		}
	}
	for m := n + 1; ; m++ {
		a, won, err := e.store.ClaimAttempt(ctx, subject, m, now)
		if err != nil {
			return d, false, err
		}
		if won {
			break
		}
		if now.Sub(a.StartedAt) < Lease {
			return d, false, nil // someone holds the next attempt: they decide
		}
		// A fence or a call whose holder died (a query that timed out, a
		// crash): its lease is over, so the next one may be taken.
	}
	a, err := e.m.Query(ctx, d)
	if err != nil {
		return d, false, err
	}
	ctx, cancel := Detach(ctx)
	defer cancel()
	st, err := e.m.Judge(d, a, e.now())
	if err != nil {
		return d, false, err
	}
	if !st.Absent {
		d, err = e.Apply(ctx, d, a)
		return d, false, err
	}
	e.log.WarnContext(ctx, "given up; money released for an operator", "subject", e.m.Subject(d), "attempts", n)
	d, o := e.m.Released(d, f, e.now())
	d, _, won, err := e.End(ctx, d, o)
	return d, won && err == nil, err
}
