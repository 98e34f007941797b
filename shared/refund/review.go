package refund

import (
	"context"
	"fmt"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/crashpoint"
)

// Request records a user's request to refund their own paid order. The
// amount is reserved at once (so requests can never add up to more than was
// paid) and waits for an admin's review. With an idempotency key (the
// mini-program makes one per form), the same request again returns the same
// refund (created false), even after a crash between its two writes;
// without one, every call is a new request.
func (s *Service) Request(ctx context.Context, openid, outTradeNo string, amount cloudpay.Fen, reason, key string) (cloudpay.Refund, bool, error) {
	if err := validateRefund(outTradeNo, amount, reason); err != nil {
		return cloudpay.Refund{}, false, err
	}
	no := cloudpay.NewOutRefundNo(s.clock())
	if key != "" {
		if err := validateKey("idempotency_key", key); err != nil {
			return cloudpay.Refund{}, false, err
		}
		no = cloudpay.OutRefundNoForKey("user:" + openid + "\x00" + key)
	}
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return cloudpay.Refund{}, false, err
	}
	if o.OpenID != openid {
		return cloudpay.Refund{}, false, cloudpay.Errorf(cloudpay.CodeForbidden, "order %s belongs to another user", outTradeNo)
	}
	r := cloudpay.Refund{
		OutRefundNo: no, OutTradeNo: outTradeNo, AmountFen: amount, Reason: reason, Source: cloudpay.SourceUser,
		IdempotencyKey: key,
	}
	return s.create(ctx, r)
}

// Approve lets a requested refund go to WeChat, in its turn.
func (s *Service) Approve(ctx context.Context, outRefundNo, note string) (cloudpay.Refund, error) {
	return s.review(ctx, outRefundNo, note, "", cloudpay.EntryApprove)
}

// ApproveAs is Approve by the named admin token by: a refund waiting for a
// second person (FourEyes) is approved only by another than its creator.
func (s *Service) ApproveAs(ctx context.Context, outRefundNo, note, by string) (cloudpay.Refund, error) {
	return s.review(ctx, outRefundNo, note, by, cloudpay.EntryApprove)
}

// RejectAs is Reject by the named admin token by.
func (s *Service) RejectAs(ctx context.Context, outRefundNo, note, by string) (cloudpay.Refund, error) {
	return s.review(ctx, outRefundNo, note, by, cloudpay.EntryReject)
}

// Reject refuses a requested refund and releases its amount.
func (s *Service) Reject(ctx context.Context, outRefundNo, note string) (cloudpay.Refund, error) {
	return s.review(ctx, outRefundNo, note, "", cloudpay.EntryReject)
}

// review appends the one review entry a request may have: whichever of a
// concurrent approve and reject lands first decides, and the other gets
// REFUND_STATE.
func (s *Service) review(ctx context.Context, outRefundNo, note, by string, kind cloudpay.RefundEntryKind) (cloudpay.Refund, error) {
	if len([]rune(note)) > maxNote || !cloudpay.Printable(note) {
		return cloudpay.Refund{}, cloudpay.FieldError("note", "note must be at most %d characters of printable text", maxNote)
	}
	if !cloudpay.ValidOutRefundNo(outRefundNo) {
		return cloudpay.Refund{}, cloudpay.FieldError("out_refund_no", "out_refund_no is malformed")
	}
	r, err := s.store.Refund(ctx, outRefundNo)
	if err != nil {
		return cloudpay.Refund{}, err
	}
	switch {
	case r.Source != cloudpay.SourceUser && !r.FourEyes:
		return cloudpay.Refund{}, cloudpay.Errorf(cloudpay.CodeRefundState, "refund %s was not requested by a user; there is nothing to review", outRefundNo)
	case r.FourEyes && kind == cloudpay.EntryApprove && (by == "" || by == r.CreatedBy):
		// Four eyes: the person who asked for it cannot also let it go.
		return cloudpay.Refund{}, cloudpay.Errorf(cloudpay.CodeFourEyes,
			"refund %s of %s yuan needs the approval of another named token than %s, who asked for it", outRefundNo, r.AmountFen, r.CreatedBy)
	}
	now := s.clock()
	e, _, err := s.store.AppendRefundEntry(ctx, r.OutTradeNo, reviewRef(outRefundNo),
		func(tail cloudpay.RefundEntry, found bool) (cloudpay.RefundEntry, error) {
			if !found {
				return cloudpay.RefundEntry{}, fmt.Errorf("review %s: no reservation in the ledger", outRefundNo)
			}
			e := next(tail, kind, r, now)
			if kind == cloudpay.EntryApprove {
				e.Slot, e.NextSlot = s.slot(tail, r, now)
				e.Outcome = cloudpay.RefundApproved
			} else {
				e.ReservedFen -= r.AmountFen
				e.Count--
				e.Outcome = cloudpay.RefundRejected
			}
			return e, nil
		})
	if err != nil {
		return cloudpay.Refund{}, fmt.Errorf("review refund %s: %w", outRefundNo, err)
	}
	crashpoint.Here("refund.after-review")
	if e.Kind != kind {
		// The other decision stands. Its writer may have died before
		// mirroring it: do that first, so the refund shows it.
		if _, err := s.reviewed(ctx, r, e, ""); err != nil {
			return cloudpay.Refund{}, err
		}
		return cloudpay.Refund{}, cloudpay.Errorf(cloudpay.CodeRefundState, "refund %s was already %s", outRefundNo, e.Outcome)
	}
	r, err = s.reviewed(ctx, r, e, note)
	if err != nil || kind == cloudpay.EntryReject {
		return r, err
	}
	return s.resume(ctx, r)
}

// reviewed mirrors a review entry onto the refund, if this is the first
// writer of the projection after the entry (or a repeat of the same
// review), and a rejection onto the order. It is idempotent; note is the
// reviewer's, if known.
func (s *Service) reviewed(ctx context.Context, r cloudpay.Refund, e cloudpay.RefundEntry, note string) (cloudpay.Refund, error) {
	if r.Status == cloudpay.RefundPendingReview {
		// Read again: a concurrent review of the same decision may have
		// mirrored it and sent the refund since r was read, and writing the
		// old copy would take the refund back from processing.
		fresh, err := s.store.Refund(ctx, r.OutRefundNo)
		if err != nil {
			return r, err
		}
		r = fresh
	}
	if r.Status == cloudpay.RefundPendingReview {
		r.Status, r.Note, r.UpdatedAt = e.Outcome, note, s.clock()
		if e.Kind == cloudpay.EntryApprove {
			r.NotBefore = e.Slot
		}
		if err := s.store.SaveRefund(ctx, r); err != nil {
			return r, err
		}
	}
	if e.Kind == cloudpay.EntryReject {
		return r, s.projectOrder(ctx, r.OutTradeNo)
	}
	return r, nil
}
