package refund

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/crashpoint"
	"github.com/cloudpay/cloudpay/shared/effect"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// resume sends an approved refund whose turn has come; other refunds are
// returned as they are.
func (s *Service) resume(ctx context.Context, r cloudpay.Refund) (cloudpay.Refund, error) {
	if r.Status != cloudpay.RefundApproved || r.NotBefore.After(s.clock()) {
		return r, nil
	}
	return s.send(ctx, r)
}

// send makes one call to WeChat for r under a new attempt claim (the
// effect engine's Send). It returns the refund as the answer (or its
// absence) left it; an error only when the store failed.
func (s *Service) send(ctx context.Context, r cloudpay.Refund) (cloudpay.Refund, error) {
	r, _, err := s.chain.Send(ctx, r)
	return r, err
}

// refunds is the refund's side of the effect engine (shared/effect): a
// refund is sent under its out_refund_no, and each round of it ends with
// its reserved amount refunded (settled) or released, never both.
type refunds struct{ s *Service }

var _ effect.Movement[cloudpay.Refund, wechat.RefundResult, Outcome] = refunds{}

type refundStep = effect.Step[cloudpay.Refund, Outcome]

func (refunds) Subject(r cloudpay.Refund) string { return r.OutRefundNo }

func (refunds) Final(r cloudpay.Refund) bool { return r.Status.Final() }

func (refunds) Attempts(r cloudpay.Refund) (int, bool) {
	return r.Attempts, r.Status == cloudpay.RefundProcessing
}

func (refunds) Sending(r cloudpay.Refund, n int, now time.Time) cloudpay.Refund {
	r.Attempts, r.Status, r.Retryable, r.UpdatedAt = n, cloudpay.RefundProcessing, false, now
	return r
}

// Call asks WeChat for the refund, within the merchant-wide rate. A
// payment from the balance is refunded to the balance instead: one wallet
// entry under the refund's number, and WeChat never hears of it.
func (f refunds) Call(ctx context.Context, r cloudpay.Refund) (wechat.RefundResult, error) {
	s := f.s
	if r.PaidBy == cloudpay.MethodBalance {
		return f.toBalance(ctx, r)
	}
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
	req := wechat.RefundRequest{
		OutTradeNo: r.WeChatTradeNo(), OutRefundNo: r.OutRefundNo,
		TotalFen: r.TotalFen, RefundFen: r.AmountFen, Reason: r.Reason,
	}
	if r.PaidBy.Provider() == cloudpay.ProviderAlipay {
		// Alipay refunds under out_request_no = our refund number, once
		// however often asked.
		if s.ali == nil {
			return wechat.RefundResult{}, errNoAlipay
		}
		return s.ali.Refund(ctx, req)
	}
	return s.gw.Refund(ctx, req)
}

func (f refunds) Query(ctx context.Context, r cloudpay.Refund) (wechat.RefundResult, error) {
	if r.PaidBy == cloudpay.MethodBalance {
		return f.balanceRefund(ctx, r)
	}
	return f.s.queryRefund(ctx, r)
}

// balanceAccount is where a refund to the balance went, as WeChat's
// user_received_account names a refund's destination.
const balanceAccount = "余额"

func refundRef(outRefundNo string) string { return "refund:" + outRefundNo }

// toBalance credits a refund of a balance payment back to the wallet,
// once per out_refund_no (the ledger's unique ref).
func (f refunds) toBalance(ctx context.Context, r cloudpay.Refund) (wechat.RefundResult, error) {
	if f.s.wallet == nil {
		return wechat.RefundResult{}, fmt.Errorf("refund %s: the order was paid from the balance, and no wallet is configured", r.OutRefundNo)
	}
	e, err := f.s.wallet.GiveBack(ctx, r.OpenID, refundRef(r.OutRefundNo), cloudpay.EntryRefund, r.AmountFen, r.OutTradeNo, r.OutRefundNo)
	if err != nil {
		return wechat.RefundResult{}, err
	}
	return balanceResult(r, e), nil
}

// balanceRefund is a refund to the balance as a query sees it: made, or
// absent (nothing was credited).
func (f refunds) balanceRefund(ctx context.Context, r cloudpay.Refund) (wechat.RefundResult, error) {
	if f.s.wallet == nil {
		return wechat.RefundResult{}, fmt.Errorf("refund %s: the order was paid from the balance, and no wallet is configured", r.OutRefundNo)
	}
	e, found, err := f.s.wallet.Entry(ctx, refundRef(r.OutRefundNo))
	if err != nil {
		return wechat.RefundResult{}, err
	}
	if !found {
		return wechat.RefundResult{OutRefundNo: r.OutRefundNo, State: wechat.RefundNotExist}, nil
	}
	return balanceResult(r, e), nil
}

func balanceResult(r cloudpay.Refund, e cloudpay.WalletEntry) wechat.RefundResult {
	return wechat.RefundResult{
		OutRefundNo: r.OutRefundNo, OutTradeNo: r.WeChatTradeNo(), RefundID: "WALLET" + e.ID, State: wechat.RefundSuccess,
		RefundFen: e.AmountFen, TotalFen: r.TotalFen, Account: balanceAccount, SucceededAt: e.CreatedAt,
	}
}

// errMismatch marks an answer from WeChat that does not fit our refund.
var errMismatch = cloudpay.Errorf("REFUND_MISMATCH", "WeChat's refund does not match ours")

func (f refunds) Judge(r cloudpay.Refund, res wechat.RefundResult, now time.Time) (refundStep, error) {
	if res.State == wechat.RefundNotExist {
		return refundStep{Absent: true}, nil
	}
	if (res.RefundFen != 0 && res.RefundFen != r.AmountFen) || (res.OutTradeNo != "" && res.OutTradeNo != r.WeChatTradeNo()) ||
		(res.OutRefundNo != "" && res.OutRefundNo != r.OutRefundNo) {
		f.s.log.Error("WeChat's refund disagrees with ours; not recorded", "out_refund_no", r.OutRefundNo,
			"wechat_fen", res.RefundFen, "our_fen", r.AmountFen, "wechat_order", res.OutTradeNo)
		return refundStep{}, errMismatch
	}
	if res.RefundID != "" {
		r.RefundID = res.RefundID
	}
	if res.Account != "" {
		r.Account = res.Account
	}
	end := func(kind cloudpay.RefundEntryKind, outcome cloudpay.RefundStatus) (refundStep, error) {
		return refundStep{End: &Outcome{ID: OutcomeID(r.OutRefundNo, r.Round), OutRefundNo: r.OutRefundNo, Round: r.Round,
			Kind: kind, Outcome: outcome, RefundID: r.RefundID, SucceededAt: res.SucceededAt, CreatedAt: now}}, nil
	}
	switch res.State {
	case wechat.RefundSuccess:
		return end(cloudpay.EntrySettle, cloudpay.RefundSucceeded)
	case wechat.RefundClosed:
		return end(cloudpay.EntryRelease, cloudpay.RefundClosed)
	case wechat.RefundAbnormal:
		// Only the merchant platform settles it: look again now and then.
		r.Status, r.NotBefore = cloudpay.RefundAbnormal, now.Add(abnormalRecheck)
	case wechat.RefundProcessing:
		if r.Status == cloudpay.RefundAbnormal {
			return refundStep{}, nil
		}
		r.Status = cloudpay.RefundProcessing
	default:
		return refundStep{}, fmt.Errorf("refund %s: unknown WeChat state %q", r.OutRefundNo, res.State)
	}
	r.Retryable, r.LastError, r.UpdatedAt = false, nil, now
	return refundStep{Next: &r}, nil
}

// Unsettled leaves a refund without an answer processing (a query or a
// callback will say what happened), and one refused for now failed and
// retryable, due again after a backoff.
func (refunds) Unsettled(r cloudpay.Refund, kind wechat.CallFailure, f *cloudpay.Failure, now time.Time) cloudpay.Refund {
	r.LastError, r.UpdatedAt = f, now
	if kind == wechat.Retryable {
		r.Status, r.Retryable, r.NotBefore = cloudpay.RefundFailed, true, now.Add(backoff(r.Attempts))
	}
	return r
}

func (refunds) Released(r cloudpay.Refund, f *cloudpay.Failure, now time.Time) (cloudpay.Refund, Outcome) {
	r.LastError = f
	return r, Outcome{ID: OutcomeID(r.OutRefundNo, r.Round), OutRefundNo: r.OutRefundNo, Round: r.Round,
		Kind: cloudpay.EntryRelease, Outcome: cloudpay.RefundFailed, RefundID: r.RefundID, CreatedAt: now}
}

func (f refunds) Claim(ctx context.Context, o Outcome) (Outcome, bool, error) {
	return f.s.store.ClaimRefundOutcome(ctx, o)
}

// Outcome reads the outcome of r's round; a refund never reserved (round
// 0) has none.
func (f refunds) Outcome(ctx context.Context, r cloudpay.Refund) (Outcome, bool, error) {
	if r.Round == 0 {
		return Outcome{}, false, nil
	}
	return f.s.store.RefundOutcomeOf(ctx, r.OutRefundNo, r.Round)
}

func (f refunds) Save(ctx context.Context, r cloudpay.Refund) error {
	return f.s.store.SaveRefund(ctx, r)
}

func (f refunds) Load(ctx context.Context, r cloudpay.Refund) (cloudpay.Refund, error) {
	return f.s.store.Refund(ctx, r.OutRefundNo)
}

func (refunds) Reached(p effect.Point) {
	switch p {
	case effect.AfterAttemptClaim:
		crashpoint.Here("refund.after-attempt-claim")
	case effect.AfterCall:
		crashpoint.Here("refund.after-call")
	case effect.AfterOutcomeClaim:
		crashpoint.Here("refund.after-outcome-claim")
	}
}

// Project mirrors an outcome onto the ledger (one end entry, by ref), the
// outbox, the refund and the order. It is idempotent; a refund that shows
// its round's outcome already is left alone.
func (f refunds) Project(ctx context.Context, r cloudpay.Refund, o Outcome) (cloudpay.Refund, error) {
	s := f.s
	if r.Status == o.Outcome && !r.Retryable {
		return r, nil
	}
	e, appended, err := s.store.AppendRefundEntry(ctx, r.OutTradeNo, endRef(r.OutRefundNo, r.Round),
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
	r, err = s.projectEnd(ctx, r, e, o.SucceededAt)
	if err != nil {
		return r, err
	}
	crashpoint.Here("refund.after-final-save")
	if !appended {
		// Written before: newer entries may follow it.
		return r, s.projectOrder(ctx, r.OutTradeNo)
	}
	return r, s.projectOrderAt(ctx, e)
}

// projectEnd mirrors an end entry onto the outbox and the refund.
func (s *Service) projectEnd(ctx context.Context, r cloudpay.Refund, e cloudpay.RefundEntry, succeededAt time.Time) (cloudpay.Refund, error) {
	r.Status, r.UpdatedAt = e.Outcome, s.clock()
	data := map[string]any{
		"out_refund_no": r.OutRefundNo, "out_trade_no": r.OutTradeNo, "amount_fen": int64(r.AmountFen),
		"refund_id": r.RefundID, "status": string(r.Status),
	}
	var ev cloudpay.Event
	switch e.Kind {
	case cloudpay.EntrySettle:
		at := succeededAt
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
	return r, s.store.SaveRefund(ctx, r)
}

// projectOrder mirrors the newest ledger totals onto the order's status.
func (s *Service) projectOrder(ctx context.Context, outTradeNo string) error {
	tail, found, err := s.store.RefundLedgerTail(ctx, outTradeNo)
	if err != nil || !found {
		return err
	}
	return s.projectOrderAt(ctx, tail)
}

// projectOrderAt mirrors the ledger's totals after entry e onto the order,
// unless the order shows a later entry's already.
func (s *Service) projectOrderAt(ctx context.Context, e cloudpay.RefundEntry) error {
	return s.store.ProjectOrderRefunds(ctx, e.OutTradeNo, orderStatus(e), e.RefundedFen, e.Seq, s.clock())
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
