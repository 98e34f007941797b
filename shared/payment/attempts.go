package payment

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/crashpoint"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// One live prepay (docs/design.md §4). WeChat never lets an out_trade_no
// change its trade type or be prepaid again once closed (docs/native-h5.md
// §3), so every attempt to pay an order has its own number at WeChat
// (cloudpay.Prepay). The rules that keep an order from being paid twice by
// two attempts:
//
//  1. An attempt is inserted under its unique number before WeChat hears
//     of it; turn n+1 is taken by one insert.
//  2. Before an attempt is prepaid, every earlier attempt is closed: at
//     WeChat (its close is final: a closed number can never be paid nor
//     prepaid again), or, for a balance attempt, by the end claim that
//     also decides whether its debit settles the order.
//  3. After prepaying, the request looks again: a later attempt that
//     appeared meanwhile may have closed ours before WeChat created it, so
//     ours is closed again and the caller asks again (PAYMENT_SWITCHED).
//  4. A close that finds the attempt paid records that payment, and the
//     switch is refused: ORDER_PAID.
//  5. The job closes every attempt of an expired order and queries every
//     attempt that may be live (shared/payment/reconcile.go).

// attempts is an order's attempts, first to newest, and their ends.
type attempts struct {
	list  []cloudpay.Prepay
	ended map[string]string // TradeNo → PrepayClosed | PrepayUsed
}

func (a attempts) latest() (cloudpay.Prepay, bool) {
	if len(a.list) == 0 {
		return cloudpay.Prepay{}, false
	}
	return a.list[len(a.list)-1], true
}

// attemptsOf reads an order's attempts. An order prepaid before attempts
// were stored has one implicit JSAPI attempt under its own number.
func (s *Service) attemptsOf(ctx context.Context, o cloudpay.Order) (attempts, error) {
	list, err := s.store.Prepays(ctx, o.OutTradeNo)
	if err != nil {
		return attempts{}, err
	}
	if len(list) == 0 && o.Status == cloudpay.OrderPaying {
		list = []cloudpay.Prepay{{TradeNo: o.OutTradeNo, OutTradeNo: o.OutTradeNo, N: 1, Method: cloudpay.MethodJSAPI,
			ExpiresAt: o.ExpiresAt, CreatedAt: o.CreatedAt, Implicit: true}}
	}
	a := attempts{list: list, ended: map[string]string{}}
	if len(list) > 1 || (len(list) == 1 && list[0].Method == cloudpay.MethodBalance) {
		ends, err := s.store.PrepayEnds(ctx, o.OutTradeNo)
		if err != nil {
			return attempts{}, err
		}
		for _, e := range ends {
			a.ended[e.TradeNo] = e.Outcome
		}
	}
	return a, nil
}

// payWindow is how long an attempt may be paid: the configured window,
// never past the order's expiry. WeChat's time_expire is sent to the
// second (docs/native-h5.md §7).
func (s *Service) payWindow(o cloudpay.Order, now time.Time) time.Time {
	end := o.ExpiresAt
	if w := time.Duration(s.cfg.PayWindowMinutes) * time.Minute; w > 0 && now.Add(w).Before(end) {
		end = now.Add(w)
	}
	return end.Truncate(time.Second)
}

// reusable reports whether the newest attempt serves a request for method.
func (a attempts) reusable(p cloudpay.Prepay, req PayRequest, now time.Time) bool {
	switch {
	case p.Method != req.Method || a.ended[p.TradeNo] != "":
		return false
	case p.Method.Outside() && !now.Before(p.ExpiresAt):
		// Its window has passed (PAY_WINDOW_MINUTES): WeChat takes no
		// payment under it any more, and its time_expire cannot change.
		return false
	case p.Method == cloudpay.MethodH5 && (req.ClientIP != p.ClientIP || req.H5Type != p.H5Type):
		// WeChat takes a prepay again only with its original parameters.
		return false
	}
	return true
}

// open returns the attempt that pays o by req.Method: the newest if it
// serves, else a new one, after every earlier attempt is closed (rules 1,
// 2 and 4 above).
func (s *Service) open(ctx context.Context, o cloudpay.Order, req PayRequest) (cloudpay.Prepay, error) {
	for range 3 {
		a, err := s.attemptsOf(ctx, o)
		if err != nil {
			return cloudpay.Prepay{}, fmt.Errorf("payment attempts: %w", err)
		}
		now := s.clock()
		newest, found := a.latest()
		if found && a.reusable(newest, req, now) {
			if err := s.closeBefore(ctx, o, a, newest.N); err != nil {
				return cloudpay.Prepay{}, err
			}
			return newest, nil
		}
		if newest.Implicit {
			// Prepaid before attempts were stored: record it, so that it
			// is closed, queried and polled like any other from now on.
			newest.Implicit = false
			if _, _, err := s.store.InsertPrepay(ctx, newest); err != nil {
				return cloudpay.Prepay{}, fmt.Errorf("payment attempt: %w", err)
			}
		}
		n := newest.N + 1
		p := cloudpay.Prepay{TradeNo: cloudpay.TradeNoOf(o.OutTradeNo, n), OutTradeNo: o.OutTradeNo, N: n,
			Method: req.Method, ClientIP: req.ClientIP, H5Type: req.H5Type, ExpiresAt: s.payWindow(o, now), CreatedAt: now}
		if req.Method == cloudpay.MethodBalance {
			p.ExpiresAt = o.ExpiresAt
		}
		held, won, err := s.store.InsertPrepay(ctx, p)
		if err != nil {
			return cloudpay.Prepay{}, fmt.Errorf("payment attempt: %w", err)
		}
		if !won {
			continue // another request took turn n: look again
		}
		crashpoint.Here("pay.after-attempt-claim")
		a.list = append(a.list, held)
		if err := s.closeBefore(ctx, o, a, n); err != nil {
			return cloudpay.Prepay{}, err
		}
		return held, nil
	}
	return cloudpay.Prepay{}, cloudpay.Errorf(cloudpay.CodePaymentSwitched, "order %s is being paid in another way at this moment; ask again", o.OutTradeNo)
}

// closeBefore ends every attempt of o before turn n that has not ended.
func (s *Service) closeBefore(ctx context.Context, o cloudpay.Order, a attempts, n int) error {
	for _, p := range a.list {
		if p.N >= n || a.ended[p.TradeNo] == cloudpay.PrepayClosed {
			continue
		}
		if err := s.closeAttempt(ctx, o, p); err != nil {
			return err
		}
	}
	return nil
}

// closeAttempt ends one attempt so that nobody can pay under it any more.
// An attempt found paid has its payment recorded, and the answer is
// ORDER_PAID.
func (s *Service) closeAttempt(ctx context.Context, o cloudpay.Order, p cloudpay.Prepay) error {
	if p.Method == cloudpay.MethodBalance {
		end, _, err := s.store.ClaimPrepayEnd(ctx, cloudpay.PrepayEnd{TradeNo: p.TradeNo, OutTradeNo: o.OutTradeNo, Outcome: cloudpay.PrepayClosed, CreatedAt: s.clock()})
		if err != nil {
			return fmt.Errorf("close balance attempt: %w", err)
		}
		if end.Outcome == cloudpay.PrepayUsed {
			// The balance paid it: finish that payment and refuse the switch.
			if _, err := s.resumeBalance(ctx, o, p); err != nil {
				return err
			}
			return cloudpay.Errorf(cloudpay.CodeOrderPaid, "order %s is already paid from the balance", o.OutTradeNo)
		}
		return nil
	}
	gw := s.gateway(p.Method)
	err := gw.CloseOrder(ctx, p.TradeNo)
	switch {
	case notAtWeChat(err) && s.clock().Before(alipayPayableUntil(p)):
		// Alipay creates the trade only when its QR code is scanned or its
		// cashier opened, and a close before that closes nothing: the
		// attempt stays live, asked by polling and the job, until it lapses.
		return nil
	case err == nil || notAtWeChat(err):
		// Closed, or never created (a request that prepays it after this
		// finds this later attempt and closes it itself: rule 3).
	case cloudpay.ErrorCode(err) == cloudpay.CodeOrderPaid:
		tx, qerr := gw.QueryOrder(ctx, p.TradeNo)
		if qerr != nil {
			return fmt.Errorf("close attempt %s: paid, and the query failed: %w", p.TradeNo, qerr)
		}
		if tx.State.Paid() {
			if _, _, serr := s.settlePaid(ctx, o, p.TradeNo, tx, "switch"); serr != nil {
				return serr
			}
		}
		return cloudpay.Errorf(cloudpay.CodeOrderPaid, "order %s is already paid", o.OutTradeNo)
	default:
		return fmt.Errorf("close attempt %s: %w", p.TradeNo, err)
	}
	if _, _, err := s.store.ClaimPrepayEnd(ctx, cloudpay.PrepayEnd{TradeNo: p.TradeNo, OutTradeNo: o.OutTradeNo, Outcome: cloudpay.PrepayClosed, CreatedAt: s.clock()}); err != nil {
		return fmt.Errorf("close attempt: %w", err)
	}
	crashpoint.Here("pay.after-attempt-close")
	return nil
}

// alipayQRLife is how long Alipay lets a precreated QR code be paid,
// whatever the trade's time_expire: two hours ("二维码有效期为2小时",
// alipay.trade.precreate), counted conservatively from the attempt.
const alipayQRLife = 2 * time.Hour

// alipayPayableUntil is when an Alipay attempt Alipay holds no trade for
// can no longer be paid: its time_expire or its QR code's life, whichever
// ends later, and a minute for clocks. Before then its close closed
// nothing. Zero for WeChat's attempts, whose close is final.
func alipayPayableUntil(p cloudpay.Prepay) time.Time {
	if p.Method.Provider() != cloudpay.ProviderAlipay {
		return time.Time{}
	}
	end := p.ExpiresAt
	if qr := p.CreatedAt.Add(alipayQRLife); qr.After(end) {
		end = qr
	}
	return end.Add(time.Minute)
}

// notAtWeChat reports whether WeChat answered that it holds no order under
// the number (v3 ORDER_NOT_EXIST, Cloud Hosting ORDERNOTEXIST). Alipay's
// gateway answers such a close with success (alipay.Gateway.CloseOrder).
func notAtWeChat(err error) bool {
	we, ok := wechat.ErrorOf(err)
	return ok && (we.Code == "ORDER_NOT_EXIST" || we.Code == "ORDERNOTEXIST")
}

// stillNewest is rule 3: after p was prepaid, a later attempt means a
// switch raced ours, and may have closed p before WeChat created it; p is
// closed again, and the caller asks again. Likewise an order the job
// closed meanwhile (its look at the attempts may have come before ours
// was stored; its second look after settling, or this one, closes it).
func (s *Service) stillNewest(ctx context.Context, o cloudpay.Order, p cloudpay.Prepay) error {
	list, err := s.store.Prepays(ctx, o.OutTradeNo)
	if err != nil {
		return fmt.Errorf("payment attempts: %w", err)
	}
	if len(list) > 0 && list[len(list)-1].N > p.N {
		if err := s.closeAttempt(ctx, o, p); err != nil {
			return err
		}
		return cloudpay.Errorf(cloudpay.CodePaymentSwitched, "order %s was switched to another way to pay meanwhile; ask again", o.OutTradeNo)
	}
	st, found, err := s.store.Settlement(ctx, o.OutTradeNo)
	if err != nil || !found || (st.Outcome == cloudpay.SettledPaid && st.WeChatTradeNo() == p.TradeNo) {
		return err
	}
	if err := s.closeAttempt(ctx, o, p); err != nil && cloudpay.ErrorCode(err) != cloudpay.CodeOrderPaid {
		return err
	}
	if st.Outcome == cloudpay.SettledClosed {
		return cloudpay.Errorf(cloudpay.CodeOrderClosed, "order %s was closed meanwhile", o.OutTradeNo)
	}
	return cloudpay.Errorf(cloudpay.CodeOrderPaid, "order %s was paid meanwhile", o.OutTradeNo)
}

// wechatView is the order as WeChat sees one attempt: its number and window.
func wechatView(o cloudpay.Order, p cloudpay.Prepay) cloudpay.Order {
	o.OutTradeNo, o.ExpiresAt = p.TradeNo, p.ExpiresAt
	return o
}

// orderOf finds the order a WeChat number belongs to: the order itself,
// or the order of a later attempt.
func (s *Service) orderOf(ctx context.Context, tradeNo string) (cloudpay.Order, error) {
	if !cloudpay.IsAttemptNo(tradeNo) {
		return s.store.Order(ctx, tradeNo)
	}
	p, found, err := s.store.Prepay(ctx, tradeNo)
	if err != nil {
		return cloudpay.Order{}, err
	}
	if !found {
		// An order numbered so before the prefix was reserved.
		return s.store.Order(ctx, tradeNo)
	}
	return s.store.Order(ctx, p.OutTradeNo)
}
