package refund

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/crashpoint"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// attemptLease is how long an attempt's claim keeps others from sending the
// same refund: longer than any call to WeChat takes. After it, the claim's
// owner is presumed dead and its call's result unknown, so the next attempt
// may go (with the same out_refund_no, which WeChat refunds only once).
const attemptLease = 2 * time.Minute

// settleTimeout bounds the writes that record what WeChat said, detached
// from the caller: once WeChat has answered, the answer must be kept.
const settleTimeout = 15 * time.Second

// resume sends an approved refund whose turn has come; other refunds are
// returned as they are.
func (s *Service) resume(ctx context.Context, r cloudpay.Refund) (cloudpay.Refund, error) {
	if r.Status != cloudpay.RefundApproved || r.NotBefore.After(s.clock()) {
		return r, nil
	}
	return s.send(ctx, r)
}

// send makes one call to WeChat for r under an attempt claim, after
// recording that the refund is processing. It returns the refund as the
// answer (or its absence) left it; an error only when the store failed.
func (s *Service) send(ctx context.Context, r cloudpay.Refund) (cloudpay.Refund, error) {
	r, _, err := s.sendCall(ctx, r)
	return r, err
}

// sendCall is send, and says whether this call went to WeChat: it does
// not while another attempt's lease holds or when the refund ended
// meanwhile.
func (s *Service) sendCall(ctx context.Context, r cloudpay.Refund) (cloudpay.Refund, bool, error) {
	now := s.clock()
	if r.Status == cloudpay.RefundProcessing && r.Attempts > 0 {
		// The last call may still be on its way to WeChat (a query that
		// finds nothing proves nothing yet): not again within its lease.
		a, found, err := s.store.AttemptAt(ctx, r.OutRefundNo, r.Attempts)
		if err != nil {
			return r, false, fmt.Errorf("send refund %s: %w", r.OutRefundNo, err)
		}
		if found && now.Sub(a.StartedAt) < attemptLease {
			return r, false, nil
		}
	}
	n := r.Attempts + 1
	for {
		a, won, err := s.store.ClaimAttempt(ctx, r.OutRefundNo, n, now)
		if err != nil {
			return r, false, fmt.Errorf("send refund %s: %w", r.OutRefundNo, err)
		}
		if won {
			break
		}
		if now.Sub(a.StartedAt) < attemptLease {
			// Someone is sending it right now; their answer will be recorded.
			held, err := s.store.Refund(ctx, r.OutRefundNo)
			if err != nil {
				return r, false, err
			}
			return held, false, nil
		}
		n++
	}
	crashpoint.Here("refund.after-attempt-claim")
	r.Attempts, r.Status, r.Retryable, r.UpdatedAt = n, cloudpay.RefundProcessing, false, now
	r, err := s.saveProgress(ctx, r)
	if err != nil {
		return r, false, fmt.Errorf("send refund %s: %w", r.OutRefundNo, err)
	}
	if r.Status != cloudpay.RefundProcessing {
		return r, false, nil // it ended meanwhile
	}
	res, err := s.call(ctx, r)
	crashpoint.Here("refund.after-wechat-answer")
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err != nil {
		r, err = s.failed(ctx, r, err)
		return r, true, err
	}
	r, err = s.apply(ctx, r, res)
	return r, true, err
}

// call asks WeChat for the refund, within the merchant-wide rate.
func (s *Service) call(ctx context.Context, r cloudpay.Refund) (wechat.RefundResult, error) {
	if err := s.rate.wait(ctx); err != nil {
		return wechat.RefundResult{}, &cloudpay.Error{Code: cloudpay.CodeWeChatTimeout, Message: "gave up waiting for a turn to call WeChat", Err: err}
	}
	in := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		p := s.peak.Load()
		if in <= p || s.peak.CompareAndSwap(p, in) {
			break
		}
	}
	s.calls.Add(1)
	return s.gw.Refund(ctx, wechat.RefundRequest{
		OutTradeNo: r.OutTradeNo, OutRefundNo: r.OutRefundNo,
		TotalFen: r.TotalFen, RefundFen: r.AmountFen, Reason: r.Reason,
	})
}

// failed records a call that brought no refund.
func (s *Service) failed(ctx context.Context, r cloudpay.Refund, callErr error) (cloudpay.Refund, error) {
	r.LastError = wechat.FailureOf(callErr)
	r.UpdatedAt = s.clock()
	switch wechat.Classify(callErr) {
	case wechat.Unknown:
		// Stays processing: a query or a callback will say what happened.
		s.log.WarnContext(ctx, "refund call without answer", "out_refund_no", r.OutRefundNo, "error", callErr)
		return s.saveProgress(ctx, r)
	case wechat.Retryable:
		s.log.WarnContext(ctx, "refund refused for now", "out_refund_no", r.OutRefundNo, "error", callErr)
		r.Status, r.Retryable, r.NotBefore = cloudpay.RefundFailed, true, r.UpdatedAt.Add(backoff(r.Attempts))
		return s.saveProgress(ctx, r)
	}
	// A final refusal releases the amount, but only once WeChat confirms it
	// holds no refund under this number (an earlier attempt may have
	// reached it without us hearing back).
	res, err := s.gw.QueryRefund(ctx, r.OutRefundNo)
	if err != nil {
		s.log.WarnContext(ctx, "refund refused but unconfirmed; kept", "out_refund_no", r.OutRefundNo, "error", callErr, "query_error", err)
		r.Status, r.Retryable, r.NotBefore = cloudpay.RefundFailed, true, r.UpdatedAt.Add(backoff(r.Attempts))
		return s.saveProgress(ctx, r)
	}
	if res.State != wechat.RefundNotExist {
		return s.apply(ctx, r, res)
	}
	s.log.InfoContext(ctx, "refund refused", "out_refund_no", r.OutRefundNo, "error", callErr)
	return s.end(ctx, r, cloudpay.EntryRelease, cloudpay.RefundFailed, wechat.RefundResult{})
}

// apply records WeChat's word on a refund. It never moves a refund out of
// a final status, and refuses an answer that disagrees with the refund.
func (s *Service) apply(ctx context.Context, r cloudpay.Refund, res wechat.RefundResult) (cloudpay.Refund, error) {
	if res.State == wechat.RefundNotExist || r.Status.Final() {
		return r, nil
	}
	if (res.RefundFen != 0 && res.RefundFen != r.AmountFen) || (res.OutTradeNo != "" && res.OutTradeNo != r.OutTradeNo) ||
		(res.OutRefundNo != "" && res.OutRefundNo != r.OutRefundNo) {
		s.log.ErrorContext(ctx, "WeChat's refund disagrees with ours; not recorded", "out_refund_no", r.OutRefundNo,
			"wechat_fen", res.RefundFen, "our_fen", r.AmountFen, "wechat_order", res.OutTradeNo)
		return r, errMismatch
	}
	if res.RefundID != "" {
		r.RefundID = res.RefundID
	}
	if res.Account != "" {
		r.Account = res.Account
	}
	switch res.State {
	case wechat.RefundSuccess:
		return s.end(ctx, r, cloudpay.EntrySettle, cloudpay.RefundSucceeded, res)
	case wechat.RefundClosed:
		return s.end(ctx, r, cloudpay.EntryRelease, cloudpay.RefundClosed, res)
	case wechat.RefundAbnormal:
		// Only the merchant platform settles it: look again now and then.
		r.Status, r.NotBefore = cloudpay.RefundAbnormal, s.clock().Add(abnormalRecheck)
	case wechat.RefundProcessing:
		if r.Status == cloudpay.RefundAbnormal {
			return r, nil
		}
		r.Status = cloudpay.RefundProcessing
	default:
		return r, fmt.Errorf("refund %s: unknown WeChat state %q", r.OutRefundNo, res.State)
	}
	r.Retryable, r.LastError, r.UpdatedAt = false, nil, s.clock()
	return s.saveProgress(ctx, r)
}

// errMismatch marks an answer from WeChat that does not fit our refund.
var errMismatch = cloudpay.Errorf("REFUND_MISMATCH", "WeChat's refund does not match ours")

// end decides how r's current round ends — refunded (settle) or released
// (failed or closed) — with one outcome claim; whoever claims first
// decides. The ledger entry, the outbox event, the refund and the order
// follow, and are repaired from the claim by any later writer.
func (s *Service) end(ctx context.Context, r cloudpay.Refund, kind cloudpay.RefundEntryKind, outcome cloudpay.RefundStatus, res wechat.RefundResult) (cloudpay.Refund, error) {
	held, _, err := s.store.ClaimRefundOutcome(ctx, Outcome{
		ID: OutcomeID(r.OutRefundNo, r.Round), OutRefundNo: r.OutRefundNo, Round: r.Round,
		Kind: kind, Outcome: outcome, RefundID: r.RefundID, SucceededAt: res.SucceededAt, CreatedAt: s.clock(),
	})
	if err != nil {
		return r, fmt.Errorf("settle refund %s: %w", r.OutRefundNo, err)
	}
	crashpoint.Here("refund.after-outcome-claim")
	return s.finish(ctx, r, held)
}

// finish mirrors an outcome claim onto the ledger (one entry, by ref), the
// outbox, the refund and the order. It is idempotent.
func (s *Service) finish(ctx context.Context, r cloudpay.Refund, o Outcome) (cloudpay.Refund, error) {
	e, _, err := s.store.AppendRefundEntry(ctx, r.OutTradeNo, endRef(r.OutRefundNo, r.Round),
		func(tail cloudpay.RefundEntry, found bool) (cloudpay.RefundEntry, error) {
			if !found {
				return cloudpay.RefundEntry{}, fmt.Errorf("refund %s: no reservation in the ledger of %s", r.OutRefundNo, r.OutTradeNo)
			}
			e := next(tail, o.Kind, r, o.CreatedAt)
			e.Outcome = o.Outcome
			e.ReservedFen -= r.AmountFen
			switch o.Kind {
			case cloudpay.EntrySettle:
				e.RefundedFen += r.AmountFen
			case cloudpay.EntryRelease:
				if o.Outcome == cloudpay.RefundFailed {
					e.Count-- // WeChat never accepted it
				}
			}
			return e, nil
		})
	if err != nil {
		return r, fmt.Errorf("settle refund %s: %w", r.OutRefundNo, err)
	}
	if r.RefundID == "" {
		r.RefundID = o.RefundID
	}
	return s.projectEnd(ctx, r, e, wechat.RefundResult{SucceededAt: o.SucceededAt})
}

// saveProgress stores a refund's non-final status unless its round has
// ended. The check after the write closes the race with a concurrent end:
// either that writer's final projection lands after ours, or we see its
// claim here and write the final status ourselves.
func (s *Service) saveProgress(ctx context.Context, r cloudpay.Refund) (cloudpay.Refund, error) {
	for i := range 2 {
		o, ended, err := s.store.RefundOutcomeOf(ctx, r.OutRefundNo, r.Round)
		if err != nil {
			return r, err
		}
		if ended {
			return s.finish(ctx, r, o)
		}
		if i == 0 {
			if err := s.store.SaveRefund(ctx, r); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

// projectEnd mirrors an end entry onto the outbox, the refund and the order.
func (s *Service) projectEnd(ctx context.Context, r cloudpay.Refund, e cloudpay.RefundEntry, res wechat.RefundResult) (cloudpay.Refund, error) {
	r.Status, r.UpdatedAt = e.Outcome, s.clock()
	data := map[string]any{
		"out_refund_no": r.OutRefundNo, "out_trade_no": r.OutTradeNo, "amount_fen": int64(r.AmountFen),
		"refund_id": r.RefundID, "status": string(r.Status),
	}
	var ev cloudpay.Event
	switch e.Kind {
	case cloudpay.EntrySettle:
		at := res.SucceededAt
		if at.IsZero() {
			at = e.CreatedAt
		}
		r.SucceededAt, r.Retryable, r.LastError = &at, false, nil
		data["succeeded_at"] = at
		ev = cloudpay.NewEvent(cloudpay.EventRefundSucceeded, r.OutRefundNo, data, e.CreatedAt)
	default:
		r.Retryable = false
		if r.LastError != nil {
			data["error"] = r.LastError.Code
		}
		ev = cloudpay.NewEvent(cloudpay.EventRefundFailed, r.OutRefundNo, data, e.CreatedAt)
		ev.ID = fmt.Sprintf("%s:%d", ev.ID, r.Round)
	}
	if err := s.store.EnqueueEvent(ctx, ev); err != nil {
		return r, err
	}
	if err := s.store.SaveRefund(ctx, r); err != nil {
		return r, err
	}
	crashpoint.Here("refund.after-final-save")
	return r, s.projectOrder(ctx, r.OutTradeNo)
}

// projectOrder mirrors the newest ledger totals onto the order's status.
func (s *Service) projectOrder(ctx context.Context, outTradeNo string) error {
	tail, found, err := s.store.RefundLedgerTail(ctx, outTradeNo)
	if err != nil || !found {
		return err
	}
	return s.store.ProjectOrderRefunds(ctx, outTradeNo, orderStatus(tail), tail.RefundedFen, tail.Seq, s.clock())
}

// orderStatus is the status of a paid order whose refund ledger ends in tail.
func orderStatus(tail cloudpay.RefundEntry) cloudpay.OrderStatus {
	switch {
	case tail.RefundedFen >= tail.PaidFen:
		return cloudpay.OrderRefunded
	case tail.RefundedFen > 0:
		return cloudpay.OrderPartiallyRefunded
	}
	return cloudpay.OrderPaid
}
