package refund

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/effect"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// errExceeds refuses an outside refund that the ledger cannot hold.
var errExceeds = errors.New("the refund would take the order past what was paid")

// adoptOutside records a refund WeChat made that cloudpay did not (an
// operator refunded in the merchant platform), from WeChat's own word: a
// verified notification, or a query. Only a refund that succeeded moved
// money; it enters its order's ledger once (ref outside:<out_refund_no>,
// the refund it was carried in the entry, as a reservation carries its
// own), so the refundable amount stays true, and then the refund document,
// a refund.adopted event and the order's status follow. A payment cloudpay
// does not know is adopted first. A refund the ledger cannot hold (more
// than what is left after what is refunded and reserved) is not entered:
// it is a reconciliation finding, raised as reconciliation.mismatch.
func (s *Service) adoptOutside(ctx context.Context, res wechat.RefundResult) (wechat.Verdict, error) {
	switch {
	case res.State != wechat.RefundSuccess:
		// Nothing moved yet (PROCESSING), or nothing will (CLOSED); an
		// ABNORMAL refund is the merchant platform's to settle.
		return wechat.NotSettled, nil
	case !cloudpay.ValidOutRefundNo(res.OutRefundNo) || res.RefundFen <= 0:
		return wechat.Mismatch, nil
	}
	ctx, cancel := effect.Detach(ctx)
	defer cancel()
	no := res.OutTradeNo
	if _, err := s.store.Order(ctx, no); cloudpay.ErrorCode(err) == cloudpay.CodeOrderNotFound || no == "" {
		if s.adopt == nil {
			s.log.WarnContext(ctx, "refund made outside cloudpay of a payment it does not know; not adopted", "out_refund_no", res.OutRefundNo)
			return wechat.UnknownRefund, nil
		}
		if no, err = s.adopt(ctx, res.OutTradeNo, res.TransactionID, ""); cloudpay.ErrorCode(err) == cloudpay.CodeOrderConflict {
			return s.secondPaymentRefund(ctx, res)
		} else if err != nil {
			return "", fmt.Errorf("adopt the payment of refund %s: %w", res.OutRefundNo, err)
		}
	} else if err != nil {
		return "", err
	}
	st, payer, err := s.paid(ctx, no, s.clock())
	if cloudpay.ErrorCode(err) == cloudpay.CodeOrderNotPaid && s.adopt != nil {
		// Ours, but its payment was never recorded (a lost callback):
		// WeChat refunded it, so it was paid; record that first.
		if _, err = s.adopt(ctx, no, "", ""); err == nil {
			st, payer, err = s.paid(ctx, no, s.clock())
		}
	}
	if err != nil {
		return "", fmt.Errorf("adopt refund %s: %w", res.OutRefundNo, err)
	}
	if (res.TransactionID != "" && st.TransactionID != res.TransactionID) || (res.OutTradeNo != "" && res.OutTradeNo != st.WeChatTradeNo()) {
		// A refund of another payment than the one that settled the order.
		return s.secondPaymentRefund(ctx, res)
	}
	// Whose refund it is, the ledger says, not the refund documents: a
	// reservation under this number makes it cloudpay's own, whose
	// document a crash has not written yet (the sweep writes it, and
	// WeChat's retry then finds it).
	entries, err := s.store.RefundLedger(ctx, no)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.OutRefundNo == res.OutRefundNo && e.Kind != cloudpay.EntryAdopt {
			return "", cloudpay.Errorf(cloudpay.CodeRefundState, "refund %s is cloudpay's own; its document is not written yet", res.OutRefundNo)
		}
	}
	now := s.clock()
	succeeded := res.SucceededAt
	if succeeded.IsZero() {
		succeeded = now
	}
	r := cloudpay.Refund{
		OutRefundNo: res.OutRefundNo, OutTradeNo: no, TransactionID: res.TransactionID, OpenID: payer,
		AmountFen: res.RefundFen, TotalFen: st.AmountFen, Status: cloudpay.RefundSucceeded, Source: cloudpay.SourceOutside,
		RefundID: res.RefundID, Account: res.Account, CreatedAt: now, UpdatedAt: now, SucceededAt: &succeeded,
	}
	e, appended, err := s.store.AppendRefundEntry(ctx, no, outsideRef(r.OutRefundNo),
		func(tail cloudpay.RefundEntry, found bool) (cloudpay.RefundEntry, error) {
			if !found {
				tail = first(st)
			}
			e := next(tail, cloudpay.EntryAdopt, r, now)
			e.Outcome = cloudpay.RefundSucceeded
			if r.AmountFen > tail.RefundableFen() {
				return e, errExceeds
			}
			e.RefundedFen += r.AmountFen
			e.Count++
			if after := succeeded.Add(s.cfg.MinInterval); after.After(e.NextSlot) {
				e.NextSlot = after // WeChat's minute between two refunds of an order counts this one
			}
			snapshot := r
			e.Refund = &snapshot
			return e, nil
		})
	if errors.Is(err, errExceeds) {
		return s.outsideFinding(ctx, r)
	}
	if err != nil {
		return "", fmt.Errorf("adopt refund %s: %w", r.OutRefundNo, err)
	}
	if err := s.projectAdopted(ctx, e); err != nil {
		return "", err
	}
	if !appended {
		return wechat.AlreadyRecorded, nil
	}
	s.log.InfoContext(ctx, "refund made outside cloudpay adopted", "out_refund_no", r.OutRefundNo, "out_trade_no", no, "amount_fen", r.AmountFen)
	return wechat.Recorded, nil
}

func outsideRef(outRefundNo string) string { return "outside:" + outRefundNo }

// outsideSpacing spaces the queries that unsigned callbacks about refunds
// cloudpay does not know cost WeChat, all numbers together.
const outsideSpacing = time.Second

// confirmOutside handles an unsigned callback naming a refund cloudpay did
// not make: WeChat is asked (within the same query window as other
// unsigned refund callbacks), and only its answer is adopted.
func (s *Service) confirmOutside(ctx context.Context, hint wechat.RefundHint) (wechat.Verdict, error) {
	if !cloudpay.ValidOutRefundNo(hint.OutRefundNo) {
		return wechat.UnknownRefund, nil
	}
	// One window for every number cloudpay does not know, not one per
	// number: forged callbacks with made-up numbers cost WeChat at most
	// one query per outsideSpacing, whatever their count. A genuine one
	// refused now is confirmed by WeChat's retry, or by the daily
	// reconciliation.
	if ok, err := s.store.ClaimAction(ctx, "confirm-unknown-refund", "any", cloudpay.Nonce(), outsideSpacing, s.clock()); err != nil {
		return "", fmt.Errorf("confirm refund: %w", err)
	} else if !ok {
		return wechat.Throttled, nil
	}
	res, err := s.gw.QueryRefund(ctx, hint.OutRefundNo)
	if err != nil {
		return "", fmt.Errorf("confirm refund: %w", err)
	}
	if res.State == wechat.RefundNotExist {
		s.log.WarnContext(ctx, "refund callback for a refund WeChat does not hold ignored", "out_refund_no", hint.OutRefundNo)
		return wechat.UnknownRefund, nil
	}
	if res.OutTradeNo == "" {
		res.OutTradeNo = hint.OutTradeNo
	}
	return s.adoptOutside(ctx, res)
}

// secondPaymentRefund raises a refund made outside cloudpay of a payment
// that did not settle its order (a second payment, under another
// attempt): it is not the order's money, so its ledger does not take it.
// WeChat is told it was received: the event is what a person acts on.
func (s *Service) secondPaymentRefund(ctx context.Context, res wechat.RefundResult) (wechat.Verdict, error) {
	s.log.WarnContext(ctx, "refund made outside cloudpay of a second payment; raised for reconciliation",
		"out_refund_no", res.OutRefundNo, "out_trade_no", res.OutTradeNo, "transaction_id", res.TransactionID)
	data := map[string]any{
		"kind": "outside_refund_of_second_payment", "out_refund_no": res.OutRefundNo, "out_trade_no": res.OutTradeNo,
		"transaction_id": res.TransactionID, "amount_fen": int64(res.RefundFen), "refund_id": res.RefundID,
	}
	if err := s.store.EnqueueEvent(ctx, cloudpay.NewEvent(cloudpay.EventReconMismatch, "refund:"+res.OutRefundNo, data, s.clock())); err != nil {
		return "", err
	}
	return wechat.Recorded, nil
}

// projectAdopted mirrors an adopt entry onto the refund, the outbox and
// the order. It is idempotent; the job's sweep runs it too.
func (s *Service) projectAdopted(ctx context.Context, e cloudpay.RefundEntry) error {
	if e.Refund == nil {
		return fmt.Errorf("adopt entry %s carries no refund", e.ID)
	}
	r := *e.Refund
	data := map[string]any{
		"out_refund_no": r.OutRefundNo, "out_trade_no": r.OutTradeNo, "amount_fen": int64(r.AmountFen),
		"refund_id": r.RefundID, "status": string(r.Status), "source": r.Source,
	}
	if r.SucceededAt != nil {
		data["succeeded_at"] = *r.SucceededAt
	}
	// The event first, then the document: a document found means its
	// event is stored (a retried callback answers from the document).
	if err := s.store.EnqueueEvent(ctx, cloudpay.NewEvent(cloudpay.EventRefundAdopted, r.OutRefundNo, data, e.CreatedAt)); err != nil {
		return err
	}
	if _, _, err := s.store.InsertRefund(ctx, r); err != nil {
		return err
	}
	return s.projectOrderAt(ctx, e)
}

// outsideFinding raises a refund made outside cloudpay that its order's
// ledger cannot hold: WeChat's record and ours differ, and a person must
// look (the daily reconciliation shows it too). WeChat is told it was
// received: a retry cannot change it.
func (s *Service) outsideFinding(ctx context.Context, r cloudpay.Refund) (wechat.Verdict, error) {
	s.log.WarnContext(ctx, "refund made outside cloudpay exceeds what the ledger holds; raised for reconciliation",
		"out_refund_no", r.OutRefundNo, "out_trade_no", r.OutTradeNo, "amount_fen", r.AmountFen)
	data := map[string]any{
		"kind": "outside_refund_exceeds", "out_refund_no": r.OutRefundNo, "out_trade_no": r.OutTradeNo,
		"amount_fen": int64(r.AmountFen), "refund_id": r.RefundID,
	}
	if err := s.store.EnqueueEvent(ctx, cloudpay.NewEvent(cloudpay.EventReconMismatch, "refund:"+r.OutRefundNo, data, s.clock())); err != nil {
		return "", err
	}
	return wechat.Recorded, nil
}

// AdoptRefund adopts a refund WeChat holds under outRefundNo that cloudpay
// did not make (reconciliation found it in WeChat's bill): WeChat is asked,
// and only its answer is recorded.
func (s *Service) AdoptRefund(ctx context.Context, outRefundNo, outTradeNo string) error {
	if !cloudpay.ValidOutRefundNo(outRefundNo) {
		return cloudpay.FieldError("out_refund_no", "out_refund_no is malformed")
	}
	if _, err := s.store.Refund(ctx, outRefundNo); err == nil {
		return nil // ours after all
	}
	res, err := s.gw.QueryRefund(ctx, outRefundNo)
	if err != nil {
		return err
	}
	if res.State == wechat.RefundNotExist {
		return cloudpay.Errorf(cloudpay.CodeRefundNotFound, "WeChat holds no refund %s", outRefundNo)
	}
	if res.OutTradeNo == "" {
		res.OutTradeNo = outTradeNo
	}
	v, err := s.adoptOutside(ctx, res)
	if err != nil {
		return err
	}
	if _, err := s.store.Refund(ctx, outRefundNo); err == nil {
		return nil
	}
	switch v {
	case wechat.NotSettled:
		return cloudpay.Errorf(cloudpay.CodeRefundState, "refund %s is not final at WeChat yet", outRefundNo)
	case wechat.Mismatch:
		return cloudpay.Errorf(cloudpay.CodeRefundState, "WeChat's refund %s does not fit its order", outRefundNo)
	case wechat.UnknownRefund:
		return cloudpay.Errorf(cloudpay.CodeOrderNotFound, "refund %s is of a payment cloudpay cannot adopt", outRefundNo)
	}
	return cloudpay.Errorf(cloudpay.CodeRefundExceeds, "refund %s is more than its order's ledger holds: raised for a person", outRefundNo)
}
