package payment_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// paidTwice makes an order whose two attempts are both paid at WeChat, as
// a request that died between its prepay and its look-again can leave it:
// attempt 2 is stored and prepaid while attempt 1 is still open, and both
// are paid, attempt 2 first. It returns attempt 1's transaction.
func paidTwice(t *testing.T, s *testkit.Stack, no string) string {
	t.Helper()
	o := createOrder(t, s, no, testkit.Alice, 500, 30)
	prepay(t, s, no, testkit.Alice) // attempt 1, JSAPI, under the order's number
	second := cloudpay.Prepay{TradeNo: cloudpay.TradeNoOf(no, 2), OutTradeNo: no, N: 2, Method: cloudpay.MethodNative,
		ExpiresAt: o.ExpiresAt, CreatedAt: s.Now()}
	view := o
	view.OutTradeNo = second.TradeNo
	var err error
	if s.Channel == wechat.V3 {
		_, err = s.V3Gateway().PrepayNative(ctx, wechat.PrepayRequest{Order: view})
	} else {
		second.Method = cloudpay.MethodJSAPI
		_, _, err = s.CloudHostingGateway().Prepay(ctx, wechat.PrepayRequest{Order: view, ClientIP: "203.0.113.7"})
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Store.InsertPrepay(ctx, second); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Sim.Pay(ctx, second.TradeNo); err != nil || !res.Callback.OK {
		t.Fatalf("pay attempt 2: %v", err)
	}
	res, err := s.Sim.Pay(ctx, no)
	if err != nil {
		t.Fatalf("pay attempt 1: %v", err)
	}
	if !res.Callback.OK {
		// Cloud Hosting's unsigned callback came within the window of the
		// first one's query: not acknowledged, so WeChat sends it again.
		s.Advance(11 * time.Second)
		if v, err := s.Payments.Confirm(ctx, wechat.PayHint{OutTradeNo: no, TotalFen: 500, HasTotal: true}); err != nil || (v != wechat.Recorded && v != wechat.AlreadyRecorded) {
			t.Fatalf("the second payment's callback again: %s, %v", v, err)
		}
	}
	return res.TransactionID
}

// hookStore runs before when the settlement is claimed: the moment a
// request can slip in between the job's look at the attempts and its close.
type hookStore struct {
	*mongostore.Store
	before func()
}

func (h hookStore) ClaimSettlement(ctx context.Context, st cloudpay.Settlement) (cloudpay.Settlement, bool, error) {
	if h.before != nil {
		h.before()
	}
	return h.Store.ClaimSettlement(ctx, st)
}

// A request that passed its payable check before the order expired stores
// and prepays a new attempt after the job looked at the attempts: the job
// closes it after settling, so nobody can pay a closed order.
func TestJobClosesAnAttemptStoredWhileItClosed(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	o := createOrder(t, s, "LATEATT01", testkit.Alice, 100, 10)
	prepay(t, s, o.OutTradeNo, testkit.Alice)
	s.Advance(11 * time.Minute)
	late := cloudpay.Prepay{TradeNo: cloudpay.TradeNoOf(o.OutTradeNo, 2), OutTradeNo: o.OutTradeNo, N: 2,
		Method: cloudpay.MethodNative, ExpiresAt: s.Now().Add(time.Minute), CreatedAt: s.Now()}
	job := payment.New(hookStore{Store: s.Store, before: func() {
		if _, _, err := s.Store.InsertPrepay(ctx, late); err != nil {
			t.Error(err)
		}
		view := o
		view.OutTradeNo, view.ExpiresAt = late.TradeNo, late.ExpiresAt
		if _, err := s.V3Gateway().PrepayNative(ctx, wechat.PrepayRequest{Order: view}); err != nil {
			t.Error(err)
		}
	}}, s.V3Gateway(), payment.Config{}, payment.WithClock(s.Now))
	if did, err := job.Reconcile(ctx, o.OutTradeNo); err != nil || did != payment.ReconciledClosed {
		t.Fatalf("reconcile: %s, %v", did, err)
	}
	for i := 1; i <= 2; i++ {
		if st := simState(s, cloudpay.TradeNoOf(o.OutTradeNo, i)); st != "CLOSED" {
			t.Fatalf("attempt %d at WeChat after the job: %q, want CLOSED", i, st)
		}
	}
}

// An order prepaid before attempts were stored keeps its JSAPI prepay
// under its own number: a switch stores it as attempt 1 and closes it, and
// polling and the job go on asking about it.
func TestAPrepayFromBeforeAttemptsIsStoredOnTheFirstSwitch(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	o := createOrder(t, s, "LEGACY001", testkit.Alice, 100, 30)
	prepay(t, s, o.OutTradeNo, testkit.Alice)
	if _, err := s.Store.Database().Collection("prepays").DeleteMany(ctx, bson.D{}); err != nil {
		t.Fatal(err) // as before this version: no attempt stored
	}
	s.Fault("closeorder", "fail", 1, map[string]any{"code": "SYSTEM_ERROR"})
	if _, err := s.Payments.Pay(ctx, o.OutTradeNo, payment.PayRequest{Method: cloudpay.MethodNative}); err == nil {
		t.Fatal("the switch went on although the JSAPI prepay could not be closed")
	}
	list, err := s.Store.Prepays(ctx, o.OutTradeNo)
	if err != nil || len(list) != 2 || list[0].TradeNo != o.OutTradeNo || list[0].Method != cloudpay.MethodJSAPI {
		t.Fatalf("attempts: %+v, %v", list, err)
	}
	// The JSAPI prepay is still open and is paid, its notification lost:
	// polling asks about it although it is not the newest attempt.
	payLost(t, s, o.OutTradeNo, "v3_notify")
	got, err := s.Payments.Status(ctx, o.OutTradeNo)
	if err != nil || got.Status != cloudpay.OrderPaid || got.Method != cloudpay.MethodJSAPI {
		t.Fatalf("poll: %+v, %v", got, err)
	}
}

// A second payment (two attempts paid) is never taken for the order's:
// adopting it, or refunding it by its transaction_id, is refused, so no
// refund is booked against the payment that settled the order.
func TestASecondPaymentIsNotTheOrders(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		aSecondPaymentIsNotTheOrders(t, testkit.New(t, testkit.Channel(ch)))
	})
}

func aSecondPaymentIsNotTheOrders(t *testing.T, s *testkit.Stack) {
	second := paidTwice(t, s, "TWICE0001")
	if ev := s.Events(second); len(ev) != 1 || ev[0].Type != cloudpay.EventPaymentDuplicate {
		t.Fatalf("events of the second payment: %+v", ev)
	}
	if _, _, err := s.Payments.Adopt(ctx, payment.Outside{TransactionID: second}); cloudpay.ErrorCode(err) != cloudpay.CodeOrderConflict {
		t.Fatalf("adopt the second payment: %v", err)
	}
	_, _, err := s.Refunds.Create(ctx, refund.NewRefund{TransactionID: second, AmountFen: 500, IdempotencyKey: "k1"})
	if cloudpay.ErrorCode(err) != cloudpay.CodeOrderConflict {
		t.Fatalf("refund the second payment by transaction_id: %v", err)
	}
	if got := s.Order("TWICE0001"); got.Status != cloudpay.OrderPaid || got.RefundedFen != 0 {
		t.Fatalf("order: %s, refunded %d", got.Status, got.RefundedFen)
	}
}

// A refund of a second payment made in the merchant platform is a
// finding for a person, never an entry in the order's ledger.
func TestAnOutsideRefundOfASecondPaymentIsAFinding(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	paidTwice(t, s, "TWICE0002")
	no := s.OutsideRefund("TWICE0002", 500) // under the order's own number: attempt 1, the second payment
	testkit.Eventually(t, func() error {
		for _, e := range s.Events("refund:" + no) {
			if e.Type == cloudpay.EventReconMismatch {
				return nil
			}
		}
		return fmt.Errorf("no finding for refund %s yet", no)
	})
	if got := s.Order("TWICE0002"); got.Status != cloudpay.OrderPaid || got.RefundedFen != 0 {
		t.Fatalf("order after a refund of its second payment: %s, refunded %d", got.Status, got.RefundedFen)
	}
}

// An order numbered CPA… before the prefix was reserved is still found by
// its callbacks.
func TestAnOldOrderNumberedLikeAnAttemptIsFound(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	const no = "CPAOLDORDER1"
	now := s.Now()
	if _, _, err := s.Store.CreateOrder(ctx, cloudpay.Order{OutTradeNo: no, OpenID: testkit.Alice, AmountFen: 100, Description: "x",
		ExpireMinutes: 30, Status: cloudpay.OrderUnpaid, CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute), UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	prepay(t, s, no, testkit.Alice)
	if _, err := s.Store.Database().Collection("prepays").DeleteMany(ctx, bson.D{}); err != nil {
		t.Fatal(err) // prepaid before attempts were stored
	}
	if res, err := s.Sim.Pay(ctx, no); err != nil || !res.Callback.OK {
		t.Fatalf("pay: %v %+v", err, res.Callback)
	}
	if got := s.Order(no); got.Status != cloudpay.OrderPaid {
		t.Fatalf("order: %s", got.Status)
	}
}
