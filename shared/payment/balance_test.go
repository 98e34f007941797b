package payment_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// funded is a v3 stack where Alice's wallet holds fen.
func funded(t *testing.T, fen cloudpay.Fen) *testkit.Stack {
	t.Helper()
	return fundedOn(t, wechat.V3, fen)
}

// fundedOn is a stack on channel ch where Alice's wallet holds fen. On
// Cloud Hosting, which has no withdraw function to credit through, the
// credit is written to the wallet's ledger as the withdraw function would.
func fundedOn(t *testing.T, ch string, fen cloudpay.Fen) *testkit.Stack {
	t.Helper()
	s := testkit.New(t, testkit.Channel(ch))
	if s.Withdrawals != nil {
		if _, _, err := s.Withdrawals.Credit(ctx, testkit.Alice, "top-up", fen, "top-up"); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, _, err := s.Store.AppendWalletEntry(ctx, testkit.Alice, "credit:top-up", func(tail cloudpay.WalletEntry, _ bool) (cloudpay.WalletEntry, error) {
		e := tail
		e.Kind, e.AmountFen, e.CreditID, e.CreatedAt = cloudpay.EntryCredit, fen, "top-up", s.Now()
		e.CreditedFen += fen
		e.AvailableFen += fen
		return e, nil
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

func available(t *testing.T, s *testkit.Stack, openid string) cloudpay.Fen {
	t.Helper()
	tail, _, err := s.Store.WalletTail(ctx, openid)
	if err != nil {
		t.Fatal(err)
	}
	return tail.AvailableFen
}

func TestPayFromBalance(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) { payFromBalance(t, fundedOn(t, ch, 1000)) })
}

func payFromBalance(t *testing.T, s *testkit.Stack) {
	o := createOrder(t, s, "BALANCE001", testkit.Alice, 300, 30)
	got, err := s.Payments.PayFromBalance(ctx, testkit.Alice, o.OutTradeNo)
	if err != nil || got.Status != cloudpay.OrderPaid || got.Method != cloudpay.MethodBalance || got.PaidAt == nil {
		t.Fatalf("pay from balance: %+v, %v", got, err)
	}
	if o := s.Order(o.OutTradeNo); o.Status != cloudpay.OrderPaid || o.Method != cloudpay.MethodBalance || o.TransactionID != "" {
		t.Fatalf("stored order: %+v", o)
	}
	if a := available(t, s, testkit.Alice); a != 700 {
		t.Fatalf("available after paying: %d, want 700", a)
	}
	if st := simState(s, o.OutTradeNo); st != "" {
		t.Fatalf("WeChat heard of a balance payment: %s", st)
	}
	if ev := s.Events(o.OutTradeNo); len(ev) != 1 || ev[0].Type != cloudpay.EventOrderPaid {
		t.Fatalf("events: %+v", ev)
	}
	// Paid by any method: paying again, by any method, is refused.
	if _, err := s.Payments.PayFromBalance(ctx, testkit.Alice, o.OutTradeNo); cloudpay.ErrorCode(err) != cloudpay.CodeOrderPaid {
		t.Fatalf("pay again: %v", err)
	}
	if _, err := s.Payments.CreatePayment(ctx, testkit.Alice, o.OutTradeNo, "203.0.113.7", ""); cloudpay.ErrorCode(err) != cloudpay.CodeOrderPaid {
		t.Fatalf("JSAPI after the balance: %v", err)
	}
	if _, err := s.Payments.Pay(ctx, o.OutTradeNo, payment.PayRequest{Method: cloudpay.MethodNative}); s.Channel == wechat.V3 && cloudpay.ErrorCode(err) != cloudpay.CodeOrderPaid {
		t.Fatalf("native after the balance: %v", err)
	}
	if a := available(t, s, testkit.Alice); a != 700 {
		t.Fatalf("available: %d", a)
	}
}

func TestPayFromBalanceRefusesWhatItCannotPay(t *testing.T) {
	t.Parallel()
	s := funded(t, 200)
	o := createOrder(t, s, "BALANCE002", testkit.Alice, 300, 30)
	if _, err := s.Payments.PayFromBalance(ctx, testkit.Alice, o.OutTradeNo); cloudpay.ErrorCode(err) != cloudpay.CodeInsufficientBalance {
		t.Fatalf("pay 300 from 200: %v", err)
	}
	if list, _ := s.Store.Prepays(ctx, o.OutTradeNo); len(list) != 0 || s.Order(o.OutTradeNo).Status != cloudpay.OrderUnpaid || available(t, s, testkit.Alice) != 200 {
		t.Fatalf("a refusal changed something: attempts %+v, order %s", list, s.Order(o.OutTradeNo).Status)
	}
	if _, err := s.Payments.PayFromBalance(ctx, testkit.Bob, o.OutTradeNo); cloudpay.ErrorCode(err) != cloudpay.CodeForbidden {
		t.Fatalf("Bob pays Alice's order: %v", err)
	}
	s.Advance(31 * time.Minute)
	if _, err := s.Payments.PayFromBalance(ctx, testkit.Alice, o.OutTradeNo); cloudpay.ErrorCode(err) != cloudpay.CodeOrderExpired {
		t.Fatalf("pay an expired order: %v", err)
	}
}

// Paying from the balance closes the JSAPI prepay at WeChat first.
func TestPayFromBalanceAfterAJSAPIPrepay(t *testing.T) {
	t.Parallel()
	s := funded(t, 1000)
	o := createOrder(t, s, "BALANCE003", testkit.Alice, 300, 30)
	prepay(t, s, o.OutTradeNo, testkit.Alice)
	if _, err := s.Payments.PayFromBalance(ctx, testkit.Alice, o.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	if st := simState(s, o.OutTradeNo); st != "CLOSED" {
		t.Fatalf("the JSAPI prepay at WeChat: %s, want CLOSED", st)
	}
	if _, err := s.Sim.Pay(ctx, o.OutTradeNo); err == nil {
		t.Fatal("the closed prepay was paid")
	}
}

// A JSAPI prepay paid while its callback is lost is found when the user
// turns to the balance: the balance is not touched.
func TestPayFromBalanceFindsAPaymentAtWeChat(t *testing.T) {
	t.Parallel()
	s := funded(t, 1000)
	o := createOrder(t, s, "BALANCE004", testkit.Alice, 300, 30)
	prepay(t, s, o.OutTradeNo, testkit.Alice)
	payLost(t, s, o.OutTradeNo, "v3_notify")
	if _, err := s.Payments.PayFromBalance(ctx, testkit.Alice, o.OutTradeNo); cloudpay.ErrorCode(err) != cloudpay.CodeOrderPaid {
		t.Fatalf("pay from balance: %v, want ORDER_PAID", err)
	}
	if got := s.Order(o.OutTradeNo); got.Status != cloudpay.OrderPaid || got.Method != cloudpay.MethodJSAPI {
		t.Fatalf("order: %+v", got)
	}
	if a := available(t, s, testkit.Alice); a != 1000 {
		t.Fatalf("available: %d, want 1000 untouched", a)
	}
}

// 200 concurrent payments (50 orders, 4 requests each) against a balance
// for 3: nothing overdraws, no order is paid twice, and every debit that
// did not pay its order went back.
func TestConcurrentBalancePaymentsNeverOverdraw(t *testing.T) {
	t.Parallel()
	s := funded(t, 1000)
	const orders, each, fen = 50, 4, 300
	for i := range orders {
		createOrder(t, s, fmt.Sprintf("RACE%06d", i), testkit.Alice, fen, 30)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[cloudpay.Code]int{}
	for i := range orders * each {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Payments.PayFromBalance(ctx, testkit.Alice, fmt.Sprintf("RACE%06d", i%orders))
			mu.Lock()
			codes[cloudpay.ErrorCode(err)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	for code := range codes {
		switch code {
		case "", cloudpay.CodeInsufficientBalance, cloudpay.CodeOrderPaid, cloudpay.CodePaymentSwitched, cloudpay.CodeStoreBusy:
		default:
			t.Errorf("an answer of %s: %v", code, codes)
		}
	}
	paid := 0
	for i := range orders {
		if st := s.Order(fmt.Sprintf("RACE%06d", i)).Status; st == cloudpay.OrderPaid {
			paid++
		}
	}
	if paid > 3 || paid == 0 {
		t.Fatalf("%d orders paid from a balance for 3 (answers %v)", paid, codes)
	}
	ledger, err := s.Store.WalletLedger(ctx, testkit.Alice)
	if err != nil {
		t.Fatal(err)
	}
	taken := map[string]cloudpay.Fen{} // order → debits not given back
	for _, e := range ledger {
		if !e.Balanced() {
			t.Fatalf("entry %s does not add up: %+v", e.Ref, e)
		}
		switch e.Kind {
		case cloudpay.EntryPayment:
			taken[e.OutTradeNo] += e.AmountFen
		case cloudpay.EntryReversal:
			taken[e.OutTradeNo] -= e.AmountFen
		}
	}
	for i := range orders {
		no := fmt.Sprintf("RACE%06d", i)
		want := cloudpay.Fen(0)
		if s.Order(no).Status == cloudpay.OrderPaid {
			want = fen
		}
		if taken[no] != want {
			t.Errorf("order %s (%s): %d fen taken from the wallet, want %d", no, s.Order(no).Status, taken[no], want)
		}
	}
	if a := available(t, s, testkit.Alice); a != 1000-cloudpay.Fen(paid)*fen {
		t.Fatalf("available %d after %d payments of %d", a, paid, fen)
	}
}

// Refunds of a balance payment go back to the wallet, never to WeChat,
// whichever way they are made.
func TestRefundsOfABalancePaymentGoToTheWallet(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) { refundsOfABalancePayment(t, fundedOn(t, ch, 1000)) })
}

func refundsOfABalancePayment(t *testing.T, s *testkit.Stack) {
	o := createOrder(t, s, "BALANCE005", testkit.Alice, 600, 30)
	if _, err := s.Payments.PayFromBalance(ctx, testkit.Alice, o.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	r, _, err := s.Refunds.Create(ctx, refundOf(o.OutTradeNo, 100, "k1"))
	if err != nil || r.Status != cloudpay.RefundSucceeded || r.PaidBy != cloudpay.MethodBalance {
		t.Fatalf("partial refund: %+v, %v", r, err)
	}
	if a := available(t, s, testkit.Alice); a != 500 {
		t.Fatalf("available after a refund of 100: %d, want 500", a)
	}
	// The same refund again changes nothing.
	if again, _, err := s.Refunds.Create(ctx, refundOf(o.OutTradeNo, 100, "k1")); err != nil || again.OutRefundNo != r.OutRefundNo {
		t.Fatalf("again: %+v, %v", again, err)
	}
	// A user's request, reviewed.
	req, _, err := s.Refunds.Request(ctx, testkit.Alice, o.OutTradeNo, 200, "changed my mind", "req-1")
	if err != nil || req.Status != cloudpay.RefundPendingReview {
		t.Fatalf("request: %+v, %v", req, err)
	}
	if a := available(t, s, testkit.Alice); a != 500 {
		t.Fatalf("available while a request waits: %d", a)
	}
	if req, err = s.Refunds.Approve(ctx, req.OutRefundNo, "ok"); err != nil || req.Status != cloudpay.RefundSucceeded {
		t.Fatalf("approve: %+v, %v", req, err)
	}
	// A batch for the rest.
	b, _, err := s.Refunds.CreateBatch(ctx, refund.NewBatch{IdempotencyKey: "batch-1", Items: []refund.BatchItem{{OutTradeNo: o.OutTradeNo, AmountFen: 300, Key: "item-1"}}})
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	testkit.Eventually(t, func() error {
		if got := s.Order(o.OutTradeNo); got.Status != cloudpay.OrderRefunded || got.RefundedFen != 600 {
			return fmt.Errorf("order %s, refunded %d (batch %s)", got.Status, got.RefundedFen, b)
		}
		return nil
	})
	if a := available(t, s, testkit.Alice); a != 1000 {
		t.Fatalf("available after refunding everything: %d, want 1000", a)
	}
	if refunds := s.SimRefunds(o.OutTradeNo); len(refunds) != 0 || len(s.SimCalls("refund")) != 0 {
		t.Fatalf("WeChat heard of a balance refund: %v", refunds)
	}
	// More than the order: refused by the ledger.
	if _, _, err := s.Refunds.Create(ctx, refundOf(o.OutTradeNo, 1, "k9")); cloudpay.ErrorCode(err) != cloudpay.CodeRefundExceeds {
		t.Fatalf("refund past the order: %v", err)
	}
}
