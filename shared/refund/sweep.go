package refund

import (
	"context"
	"fmt"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Sweep makes the projections of one refund ledger entry true, for the
// job's sweep of the ledger: a request that died between the entry and
// its documents is finished here, through the paths live requests take.
// It is idempotent, and tells whether it repaired anything.
//
//   - a reservation whose refund was never stored: the refund, from the
//     entry's snapshot (the job then sends it in its turn, or it waits for
//     review);
//   - a review whose refund still waits for review: the decision;
//   - an end: the refund's final status and the order's;
//   - a refund made outside cloudpay: its document, event and the order's status.
//
// An error with a domain code is about the entry itself and would come
// again; any other is the store's, and the next sweep tries again.
func (s *Service) Sweep(ctx context.Context, e cloudpay.RefundEntry) (bool, error) {
	var repaired bool
	var err error
	switch e.Kind {
	case cloudpay.EntryReserve:
		repaired, err = s.sweepReserve(ctx, e)
	case cloudpay.EntryApprove, cloudpay.EntryReject:
		repaired, err = s.sweepReview(ctx, e)
	case cloudpay.EntrySettle, cloudpay.EntryRelease:
		repaired, err = s.sweepEnd(ctx, e)
	case cloudpay.EntryAdopt:
		repaired, err = s.sweepAdopt(ctx, e)
	}
	if err != nil {
		return repaired, fmt.Errorf("sweep %s: %w", e.Ref, err)
	}
	if repaired {
		s.log.WarnContext(ctx, "refund projection repaired from the ledger", "ref", e.Ref, "out_refund_no", e.OutRefundNo)
	}
	return repaired, nil
}

// sweepReserve stores the refund a reservation was made for, if it is
// missing or shows an earlier round (a retry that died after reserving
// again, a batch item's refusal recorded while a twin reserved). A live
// request storing the same refund meanwhile is harmless: the insert is
// decided once, and both write the reservation's refund.
func (s *Service) sweepReserve(ctx context.Context, e cloudpay.RefundEntry) (bool, error) {
	held, err := s.store.Refund(ctx, e.OutRefundNo)
	found := err == nil
	if err != nil && cloudpay.ErrorCode(err) != cloudpay.CodeRefundNotFound {
		return false, err
	}
	if e.Refund == nil {
		if found {
			return false, nil
		}
		return false, cloudpay.Errorf(cloudpay.CodeRefundNotFound,
			"%s reserves %d fen of order %s for refund %s, which was never stored and cannot be rebuilt (the entry has no snapshot)",
			e.ID, e.AmountFen, e.OutTradeNo, e.OutRefundNo)
	}
	r := *e.Refund
	r.ReserveSeq = e.Seq
	if found && held.Round >= r.Round {
		return false, nil
	}
	if !found {
		if held, inserted, err := s.store.InsertRefund(ctx, r); err != nil || inserted || held.Round >= r.Round {
			return inserted, err
		}
	}
	r.LastError, r.UpdatedAt = nil, s.clock() // the round starts afresh, as Retry's would
	return true, s.store.SaveRefund(ctx, r)
}

// sweepReview applies a review decision that its refund does not show.
// The reviewer's note went with the request that died.
func (s *Service) sweepReview(ctx context.Context, e cloudpay.RefundEntry) (bool, error) {
	r, err := s.store.Refund(ctx, e.OutRefundNo)
	if err != nil || r.Status != cloudpay.RefundPendingReview {
		return false, err
	}
	_, err = s.reviewed(ctx, r, e, "")
	return err == nil, err
}

// sweepEnd brings the refund to its round's outcome (from the outcome
// claim, as every reader does) and the order to the ledger's totals.
func (s *Service) sweepEnd(ctx context.Context, e cloudpay.RefundEntry) (bool, error) {
	r, err := s.store.Refund(ctx, e.OutRefundNo)
	if err != nil {
		return false, err
	}
	after, err := s.chain.Current(ctx, r)
	if err != nil {
		return false, err
	}
	repaired := after.Status != r.Status || after.Retryable != r.Retryable
	if behind, err := s.orderBehind(ctx, e.OutTradeNo); err != nil || !behind {
		return repaired, err
	}
	return true, s.projectOrder(ctx, e.OutTradeNo)
}

// sweepAdopt finishes a refund made outside cloudpay whose entry was
// written: its event, its document and the order's status (all idempotent).
func (s *Service) sweepAdopt(ctx context.Context, e cloudpay.RefundEntry) (bool, error) {
	_, err := s.store.Refund(ctx, e.OutRefundNo)
	missing := cloudpay.ErrorCode(err) == cloudpay.CodeRefundNotFound
	if err != nil && !missing {
		return false, err
	}
	if !missing {
		// The document is written after the event: what a crash may have
		// cut short is the order's status.
		if behind, err := s.orderBehind(ctx, e.OutTradeNo); err != nil || !behind {
			return false, err
		}
	}
	return true, s.projectAdopted(ctx, e)
}

// orderBehind tells whether an order's status lags its refund ledger.
func (s *Service) orderBehind(ctx context.Context, outTradeNo string) (bool, error) {
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return false, err
	}
	tail, found, err := s.store.RefundLedgerTail(ctx, outTradeNo)
	if err != nil || !found {
		return false, err
	}
	return o.Status != orderStatus(tail) || o.RefundedFen != tail.RefundedFen, nil
}
