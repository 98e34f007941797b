package payment

import (
	"context"
	"fmt"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/crashpoint"
	"github.com/cloudpay/cloudpay/shared/effect"
)

// settlements is the payment's side of the effect engine's ending
// (shared/effect): the user pays at WeChat, and an order ends paid or
// closed with one settlement claim; the order document and the business
// event follow from it.
type settlements struct{ s *Service }

var _ effect.Ending[cloudpay.Order, cloudpay.Settlement] = settlements{}

func (settlements) Final(o cloudpay.Order) bool { return !o.Status.AwaitingPayment() }

func (t settlements) Claim(ctx context.Context, st cloudpay.Settlement) (cloudpay.Settlement, bool, error) {
	return t.s.store.ClaimSettlement(ctx, st)
}

func (t settlements) Outcome(ctx context.Context, o cloudpay.Order) (cloudpay.Settlement, bool, error) {
	return t.s.store.Settlement(ctx, o.OutTradeNo)
}

func (t settlements) Load(ctx context.Context, o cloudpay.Order) (cloudpay.Order, error) {
	return t.s.store.Order(ctx, o.OutTradeNo)
}

func (settlements) Reached(p effect.Point) {
	if p == effect.AfterOutcomeClaim {
		crashpoint.Here("pay.after-outcome-claim")
	}
}

// Project writes what follows from a settlement: its business event
// (first, so the outbox never misses one) and the order's status.
//
// An order that no longer awaits payment has been projected already: the
// event is always written before the status. Skipping it keeps duplicates
// read-only, which matters on stores where every update is costly.
func (t settlements) Project(ctx context.Context, o cloudpay.Order, st cloudpay.Settlement) (cloudpay.Order, error) {
	s := t.s
	if !o.Status.AwaitingPayment() {
		return o, nil
	}
	now := s.clock()
	typ := cloudpay.EventOrderClosed
	data := map[string]any{"out_trade_no": o.OutTradeNo, "openid": o.OpenID, "amount_fen": int64(o.AmountFen), "attach": o.Attach}
	if st.Outcome == cloudpay.SettledPaid {
		typ = cloudpay.EventOrderPaid
		data["transaction_id"], data["paid_at"], data["method"] = st.TransactionID, st.PaidAt, string(st.PaidMethod())
	}
	if o.Adopted {
		data["adopted"] = true
	}
	if err := s.store.EnqueueEvent(ctx, cloudpay.NewEvent(typ, o.OutTradeNo, data, now)); err != nil {
		return o, err
	}
	if st.Outcome == cloudpay.SettledPaid && s.onPaid != nil {
		paid := o
		paid.Method, paid.TradeNo = st.PaidMethod(), st.TradeNo
		if err := s.onPaid(ctx, paid); err != nil {
			return o, err
		}
	}
	if err := s.store.ProjectSettlement(ctx, st, now); err != nil {
		return o, err
	}
	switch st.Outcome {
	case cloudpay.SettledPaid:
		paidAt := st.PaidAt
		o.Status, o.TransactionID, o.PaidAt = cloudpay.OrderPaid, st.TransactionID, &paidAt
		o.Method, o.TradeNo = st.PaidMethod(), st.TradeNo
	case cloudpay.SettledClosed:
		o.Status = cloudpay.OrderClosed
	default:
		return o, fmt.Errorf("order %s: unknown settlement %q", o.OutTradeNo, st.Outcome)
	}
	o.UpdatedAt = now
	return o, nil
}
