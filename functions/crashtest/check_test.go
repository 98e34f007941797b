//go:build linux

package crashtest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// The invariants, read from the store (its collections as the functions
// wrote them) and from the simulator (WeChat's side of the truth):
//
//  1. paid here ⇔ paid at WeChat, with the same amount and transaction,
//     under the one number (the order's or an attempt's) the settlement
//     names; or paid here from the balance, by that attempt's one wallet
//     debit, and nowhere at WeChat; at most one of an order's numbers can
//     take money at WeChat, none once the order has ended; an order closed
//     here is closed (or unknown) at WeChat under every number;
//  2. refunds WeChat made (or, of a payment from the balance, the wallet
//     credited) = refunded in the ledger ≤ paid, refund by refund and
//     order by order;
//  3. every reservation and every freeze belongs to a live document (a
//     refund or withdrawal whose status holds money, in the same round);
//  4. every ledger entry adds up (refunds: reserved + refunded ≤ paid;
//     wallets: available + frozen + debited = credited), nothing negative,
//     and each movement's totals follow from the one before; every debit
//     from the balance paid its order or was given back, once, never both;
//  5. every transfer bill at WeChat has a withdrawal of the same amount and
//     user, and ends as it does;
//  6. nothing stuck: every refund, withdrawal, reservation and freeze has
//     ended, every outcome claim shows on its document, its ledger and its
//     event, every order shows its settlement and refund totals.
//
// check returns what is wrong, one line each: empty when all hold.
func (w *world) check() []string {
	w.t.Helper()
	s := w.snapshot()
	var c checker
	c.orders(s)
	c.refundLedgers(s)
	c.refunds(s)
	c.batches(s)
	c.wallets(s)
	c.withdrawals(s)
	return c.problems
}

type checker struct{ problems []string }

func (c *checker) add(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

type simOrder struct {
	TradeState    string `json:"trade_state"`
	TotalFee      int64  `json:"total_fee"`
	TransactionID string `json:"transaction_id"`
}

func (o simOrder) paid() bool { return o.TradeState == "SUCCESS" || o.TradeState == "REFUND" }

type simRefund struct {
	OutRefundNo string `json:"out_refund_no"`
	OutTradeNo  string `json:"out_trade_no"`
	Status      string `json:"status"`
	RefundFee   int64  `json:"refund_fee"`
	Requests    int    `json:"requests"`
}

type simTransfer struct {
	OutBillNo string `json:"out_bill_no"`
	State     string `json:"state"`
	AmountFen int64  `json:"transfer_amount"`
	OpenID    string `json:"openid"`
	Requests  int    `json:"requests"`
}

// snapshot is everything the checks read, read once.
type snapshot struct {
	orders             map[string]cloudpay.Order
	settlements        map[string]cloudpay.Settlement
	refunds            map[string]cloudpay.Refund
	refundLedger       map[string][]cloudpay.RefundEntry // by order, in seq order
	refundOutcomes     []refund.Outcome
	batches            []refund.Batch
	walletLedger       map[string][]cloudpay.WalletEntry // by user, in seq order
	walletRefs         map[string][]cloudpay.WalletEntry // by ref (one each, unless money moved twice)
	prepays            map[string]cloudpay.Prepay        // payment attempts, by the number WeChat knows
	prepayEnds         map[string]cloudpay.PrepayEnd     // by the attempt's number
	tradeNos           map[string][]string               // by order: its own number and its attempts'
	withdrawals        map[string]cloudpay.Withdrawal
	withdrawalOutcomes []withdraw.Outcome
	events             map[string]bool
	simOrders          map[string]simOrder // by WeChat's number; absent: WeChat never heard of it
	simRefunds         map[string]simRefund
	simTransfers       map[string]simTransfer
}

func (w *world) snapshot() snapshot {
	w.t.Helper()
	s := snapshot{
		orders: map[string]cloudpay.Order{}, settlements: map[string]cloudpay.Settlement{},
		refunds: map[string]cloudpay.Refund{}, refundLedger: map[string][]cloudpay.RefundEntry{},
		walletLedger: map[string][]cloudpay.WalletEntry{}, walletRefs: map[string][]cloudpay.WalletEntry{},
		prepays: map[string]cloudpay.Prepay{}, prepayEnds: map[string]cloudpay.PrepayEnd{}, tradeNos: map[string][]string{},
		withdrawals: map[string]cloudpay.Withdrawal{}, events: map[string]bool{},
		simOrders: map[string]simOrder{}, simRefunds: map[string]simRefund{}, simTransfers: map[string]simTransfer{},
	}
	for _, o := range readAll[cloudpay.Order](w, "orders") {
		s.orders[o.OutTradeNo] = o
	}
	for _, st := range readAll[cloudpay.Settlement](w, "settlements") {
		s.settlements[st.OutTradeNo] = st
	}
	for _, r := range readAll[cloudpay.Refund](w, "refunds") {
		s.refunds[r.OutRefundNo] = r
	}
	for _, e := range readAll[cloudpay.RefundEntry](w, "refund_ledger") {
		s.refundLedger[e.OutTradeNo] = append(s.refundLedger[e.OutTradeNo], e)
	}
	for k, l := range s.refundLedger {
		slices.SortFunc(l, func(a, b cloudpay.RefundEntry) int { return int(a.Seq - b.Seq) })
		s.refundLedger[k] = l
	}
	s.refundOutcomes = readAll[refund.Outcome](w, "refund_outcomes")
	s.batches = readAll[refund.Batch](w, "refund_batches")
	for _, e := range readAll[cloudpay.WalletEntry](w, "wallet_ledger") {
		s.walletLedger[e.OpenID] = append(s.walletLedger[e.OpenID], e)
		s.walletRefs[e.Ref] = append(s.walletRefs[e.Ref], e)
	}
	for k, l := range s.walletLedger {
		slices.SortFunc(l, func(a, b cloudpay.WalletEntry) int { return int(a.Seq - b.Seq) })
		s.walletLedger[k] = l
	}
	for _, wd := range readAll[cloudpay.Withdrawal](w, "withdrawals") {
		s.withdrawals[wd.ID] = wd
	}
	s.withdrawalOutcomes = readAll[withdraw.Outcome](w, "withdrawal_outcomes")
	for _, e := range readAll[struct {
		ID string `bson:"_id"`
	}](w, "events") {
		s.events[e.ID] = true
	}

	for no := range s.orders {
		s.tradeNos[no] = []string{no}
	}
	for _, p := range readAll[cloudpay.Prepay](w, "prepays") {
		s.prepays[p.TradeNo] = p
		if p.TradeNo != p.OutTradeNo {
			s.tradeNos[p.OutTradeNo] = append(s.tradeNos[p.OutTradeNo], p.TradeNo)
		}
	}
	for _, e := range readAll[cloudpay.PrepayEnd](w, "prepay_ends") {
		s.prepayEnds[e.TradeNo] = e
	}
	for _, nos := range s.tradeNos {
		for _, no := range nos {
			w.readSimOrder(&s, no)
		}
	}
	var refunds struct{ Refunds []simRefund }
	w.must("GET", w.simControl()+"/refunds", anyone, nil, http.StatusOK).decode(w.t, &refunds)
	for _, r := range refunds.Refunds {
		s.simRefunds[r.OutRefundNo] = r
	}
	var transfers struct{ Transfers []simTransfer }
	w.must("GET", w.simControl()+"/transfers", anyone, nil, http.StatusOK).decode(w.t, &transfers)
	for _, tr := range transfers.Transfers {
		s.simTransfers[tr.OutBillNo] = tr
	}
	return s
}

// readSimOrder reads what WeChat holds under one number into s.
func (w *world) readSimOrder(s *snapshot, no string) {
	w.t.Helper()
	a := w.call("GET", w.simControl()+"/orders/"+no, anyone, nil)
	switch {
	case a.err == nil && a.status == http.StatusOK:
		var o simOrder
		a.decode(w.t, &o)
		s.simOrders[no] = o
	case a.err == nil && a.status == http.StatusNotFound:
	default:
		w.t.Fatalf("simulator order %s: %s", no, a)
	}
}

// settledNo is the number an order was paid under: its own, or the
// settlement's attempt.
func settledNo(o cloudpay.Order, st cloudpay.Settlement) string {
	if st.TradeNo != "" {
		return st.TradeNo
	}
	return o.OutTradeNo
}

func payRef(tradeNo string) string   { return "pay:" + tradeNo }
func unpayRef(tradeNo string) string { return "unpay:" + tradeNo }

func readAll[T any](w *world, col string) []T {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	cur, err := w.db.Collection(col).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		w.t.Fatalf("read %s: %v", col, err)
	}
	var out []T
	if err := cur.All(ctx, &out); err != nil {
		w.t.Fatalf("read %s: %v", col, err)
	}
	return out
}

// orders: invariant 1, and each order shows its settlement (6). An order
// is known at WeChat under each of its attempts' numbers (the first its
// own); a payment from the balance is made here alone, by its attempt's
// wallet debit.
func (c *checker) orders(s snapshot) {
	for no, o := range s.orders {
		st, settled := s.settlements[no]
		paidHere := settled && st.Outcome == cloudpay.SettledPaid
		var paidAt, payable []string // numbers WeChat took money under, or still would
		for _, tn := range s.tradeNos[no] {
			wx, known := s.simOrders[tn]
			switch {
			case known && wx.paid():
				paidAt = append(paidAt, tn)
			case known && wx.TradeState == "NOTPAY":
				payable = append(payable, tn)
			}
		}
		switch {
		case !paidHere:
			if len(paidAt) > 0 {
				c.add("order %s: not paid here (settlement %+v), paid at WeChat under %v", no, st, paidAt)
			}
		case st.PaidMethod() == cloudpay.MethodBalance:
			if len(paidAt) > 0 {
				c.add("order %s: paid from the balance (attempt %s) and at WeChat under %v", no, settledNo(o, st), paidAt)
			}
			c.paidFromBalance(s, o, st)
		default:
			tn := settledNo(o, st)
			wx := s.simOrders[tn]
			if !slices.Equal(paidAt, []string{tn}) {
				c.add("order %s: paid here under %s (settlement %+v), paid at WeChat under %v", no, tn, st, paidAt)
			}
			if st.AmountFen != o.AmountFen || wx.TotalFee != int64(o.AmountFen) || st.TransactionID != wx.TransactionID {
				c.add("order %s of %d fen: settled %d fen (transaction %s), WeChat %d fen under %s (transaction %s)",
					no, o.AmountFen, st.AmountFen, st.TransactionID, wx.TotalFee, tn, wx.TransactionID)
			}
		}
		// One live prepay: before the order ends, at most one of its
		// numbers can take money; after, none.
		if len(payable) > 1 || (paidHere && len(payable) > 0) {
			c.add("order %s (settlement %+v): WeChat can still take money under %v", no, st, payable)
		}
		if settled && st.Outcome == cloudpay.SettledClosed {
			for _, tn := range s.tradeNos[no] {
				if wx, known := s.simOrders[tn]; known && wx.TradeState != "CLOSED" {
					c.add("order %s: closed here, %s at WeChat under %s (it could still be paid)", no, wx.TradeState, tn)
				}
			}
		}
		switch {
		case !settled:
			if !o.Status.AwaitingPayment() {
				c.add("order %s is %s without a settlement", no, o.Status)
			}
			// The job closes an expired order once WeChat's 5 minutes are
			// over: on its clock, they are.
			if now := time.Now().Add(later); !now.Before(o.ExpiresAt.Add(time.Minute)) && now.Sub(o.CreatedAt) > payment.MinCloseAge+time.Minute {
				c.add("stuck: order %s expired at %s and is still %s", no, o.ExpiresAt.Format(time.RFC3339), o.Status)
			}
		case st.Outcome == cloudpay.SettledClosed:
			if o.Status != cloudpay.OrderClosed {
				c.add("stuck: order %s settled closed but shows %s", no, o.Status)
			}
			if !s.events[string(cloudpay.EventOrderClosed)+":"+no] {
				c.add("stuck: order %s closed without its order.closed event", no)
			}
		default:
			if o.Status.AwaitingPayment() || o.Status == cloudpay.OrderClosed {
				c.add("stuck: order %s settled paid but shows %s", no, o.Status)
			}
			if !s.events[string(cloudpay.EventOrderPaid)+":"+no] {
				c.add("stuck: order %s paid without its order.paid event", no)
			}
		}
	}
	for no, st := range s.settlements {
		if _, ok := s.orders[no]; !ok {
			c.add("settlement %s (%s) has no order", no, st.Outcome)
		}
	}
	for tn, p := range s.prepays {
		if _, ok := s.orders[p.OutTradeNo]; !ok || tn != cloudpay.TradeNoOf(p.OutTradeNo, p.N) {
			c.add("payment attempt %s (%d of order %s, %s) has no order, or the wrong number", tn, p.N, p.OutTradeNo, p.Method)
		}
	}
	for tn, e := range s.prepayEnds {
		p, ok := s.prepays[tn]
		switch {
		case !ok || p.OutTradeNo != e.OutTradeNo:
			c.add("attempt end %s (%s, order %s) has no attempt of its order", tn, e.Outcome, e.OutTradeNo)
		case e.Outcome == cloudpay.PrepayUsed && (p.Method != cloudpay.MethodBalance || len(s.walletRefs[payRef(tn)]) == 0):
			c.add("attempt %s (%s) of order %s ended used without a debit from the balance", tn, p.Method, p.OutTradeNo)
		}
	}
}

// paidFromBalance: an order paid from the balance was paid by exactly one
// debit, its settled attempt's, which was not given back.
func (c *checker) paidFromBalance(s snapshot, o cloudpay.Order, st cloudpay.Settlement) {
	tn := settledNo(o, st)
	if p, ok := s.prepays[tn]; !ok || p.OutTradeNo != o.OutTradeNo || p.Method != cloudpay.MethodBalance {
		c.add("order %s: paid from the balance under %s, which is not a balance attempt of it (%+v)", o.OutTradeNo, tn, p)
	}
	if end := s.prepayEnds[tn]; end.Outcome != cloudpay.PrepayUsed {
		c.add("order %s: paid from the balance under %s, whose attempt ended %q, not used", o.OutTradeNo, tn, end.Outcome)
	}
	if st.AmountFen != o.AmountFen || st.TransactionID != "" || st.OpenID != o.OpenID {
		c.add("order %s of %d fen by %s: settled from the balance %d fen by %s (transaction %q)",
			o.OutTradeNo, o.AmountFen, o.OpenID, st.AmountFen, st.OpenID, st.TransactionID)
	}
	pays := s.walletRefs[payRef(tn)]
	if len(pays) != 1 || pays[0].Kind != cloudpay.EntryPayment || pays[0].OpenID != o.OpenID ||
		pays[0].OutTradeNo != o.OutTradeNo || pays[0].AmountFen != o.AmountFen {
		c.add("order %s of %d fen by %s: paid from the balance under %s by the debits %+v", o.OutTradeNo, o.AmountFen, o.OpenID, tn, pays)
	}
	if back := s.walletRefs[unpayRef(tn)]; len(back) > 0 {
		c.add("order %s: paid from the balance under %s, and the debit was given back (%+v)", o.OutTradeNo, tn, back)
	}
}

// holdsReservation reports whether a refund in this status still has its
// amount set aside.
func holdsReservation(r cloudpay.Refund) bool {
	switch r.Status {
	case cloudpay.RefundPendingReview, cloudpay.RefundApproved, cloudpay.RefundProcessing, cloudpay.RefundAbnormal:
		return true
	case cloudpay.RefundFailed:
		return r.Retryable
	}
	return false
}

type round struct {
	no    string
	round int
}

// refundLedgers: invariants 2, 3 and 4 for each order's refund ledger.
func (c *checker) refundLedgers(s snapshot) {
	for no, entries := range s.refundLedger {
		st := s.settlements[no]
		if st.Outcome != cloudpay.SettledPaid {
			c.add("refund ledger of %s, which is not paid (%+v)", no, st)
		}
		live := map[round]cloudpay.Fen{}
		var reserved, refunded cloudpay.Fen
		refs := map[string]bool{}
		for i, e := range entries {
			if e.Seq != int64(i+1) {
				c.add("refund ledger of %s: entry %d has seq %d", no, i+1, e.Seq)
			}
			if refs[e.Ref] {
				c.add("refund ledger of %s: ref %s twice", no, e.Ref)
			}
			refs[e.Ref] = true
			kind, rno, n := parseRef(e.Ref)
			switch e.Kind {
			case cloudpay.EntryReserve:
				if kind != "reserve" || rno != e.OutRefundNo {
					c.add("refund ledger of %s: reserve with ref %s", no, e.Ref)
				}
				live[round{rno, n}] = e.AmountFen
				reserved += e.AmountFen
			case cloudpay.EntryApprove:
			case cloudpay.EntryReject, cloudpay.EntrySettle, cloudpay.EntryRelease:
				key := round{e.OutRefundNo, n}
				if e.Kind == cloudpay.EntryReject {
					key.round = 1 // a request has one round before its review
				}
				amount, ok := live[key]
				if !ok {
					c.add("refund ledger of %s: %s %s releases nothing reserved (money moved twice?)", no, e.Kind, e.Ref)
					break
				}
				delete(live, key)
				reserved -= amount
				if e.Kind == cloudpay.EntrySettle {
					refunded += amount
				}
			default:
				c.add("refund ledger of %s: unknown kind %s", no, e.Kind)
			}
			if e.ReservedFen != reserved || e.RefundedFen != refunded || e.PaidFen != st.AmountFen {
				c.add("refund ledger of %s, %s: reserved %d refunded %d paid %d, movements say %d, %d, %d",
					no, e.Ref, e.ReservedFen, e.RefundedFen, e.PaidFen, reserved, refunded, st.AmountFen)
			}
			if e.ReservedFen < 0 || e.RefundedFen < 0 || e.ReservedFen+e.RefundedFen > e.PaidFen {
				c.add("refund ledger of %s, %s: reserved %d + refunded %d exceeds paid %d or is negative",
					no, e.Ref, e.ReservedFen, e.RefundedFen, e.PaidFen)
			}
		}
		// Refunds go where the payment came from: WeChat, under any of the
		// order's numbers, or the wallet.
		var atWeChat, toWallet cloudpay.Fen
		for _, r := range s.simRefunds {
			if slices.Contains(s.tradeNos[no], r.OutTradeNo) && r.Status == "SUCCESS" {
				atWeChat += cloudpay.Fen(r.RefundFee)
			}
		}
		for _, es := range s.walletLedger {
			for _, e := range es {
				if e.Kind == cloudpay.EntryRefund && e.OutTradeNo == no {
					toWallet += e.AmountFen
				}
			}
		}
		if byBalance := st.PaidMethod() == cloudpay.MethodBalance; atWeChat+toWallet != refunded ||
			(byBalance && atWeChat > 0) || (!byBalance && toWallet > 0) {
			c.add("order %s (paid by %s): WeChat refunded %d fen, the wallet %d, the ledger says %d", no, st.PaidMethod(), atWeChat, toWallet, refunded)
		}
		for k, amount := range live {
			r, ok := s.refunds[k.no]
			switch {
			case !ok:
				c.add("order %s: %d fen reserved for refund %s round %d, which does not exist", no, amount, k.no, k.round)
			case r.Round != k.round || !holdsReservation(r):
				c.add("order %s: %d fen reserved for refund %s round %d, which is %s in round %d", no, amount, k.no, k.round, r.Status, r.Round)
			default:
				c.add("stuck: order %s: %d fen still reserved for refund %s (%s)", no, amount, k.no, r.Status)
			}
		}
		if o := s.orders[no]; len(entries) > 0 {
			tail := entries[len(entries)-1]
			want := cloudpay.OrderPaid
			switch {
			case tail.RefundedFen >= tail.PaidFen:
				want = cloudpay.OrderRefunded
			case tail.RefundedFen > 0:
				want = cloudpay.OrderPartiallyRefunded
			}
			if o.Status != want || o.RefundedFen != tail.RefundedFen {
				c.add("stuck: order %s shows %s with %d fen refunded, its ledger %s with %d", no, o.Status, o.RefundedFen, want, tail.RefundedFen)
			}
		}
	}
}

// parseRef splits a ledger ref kind:number[:round].
func parseRef(ref string) (kind, no string, n int) {
	parts := strings.Split(ref, ":")
	if len(parts) < 2 {
		return ref, "", 0
	}
	kind, no = parts[0], parts[1]
	if len(parts) > 2 {
		n, _ = strconv.Atoi(parts[2])
	}
	return kind, no, n
}

// refunds: each refund agrees with WeChat (2), ends (6), and its outcome
// claims show on it, its ledger and its event.
func (c *checker) refunds(s snapshot) {
	ends := map[string]cloudpay.RefundEntry{}
	for _, entries := range s.refundLedger {
		for _, e := range entries {
			ends[e.Ref] = e
		}
	}
	for no, r := range s.refunds {
		wx, known := s.simRefunds[no]
		if known && (wx.OutTradeNo != r.WeChatTradeNo() || cloudpay.Fen(wx.RefundFee) != r.AmountFen) {
			c.add("refund %s: %d fen of %s here, %d fen of %s at WeChat", no, r.AmountFen, r.WeChatTradeNo(), wx.RefundFee, wx.OutTradeNo)
		}
		// A refund of a payment from the balance is credited to the
		// wallet, and WeChat never hears of it.
		toBalance := r.PaidBy == cloudpay.MethodBalance
		credits := s.walletRefs["refund:"+no]
		if toBalance && known {
			c.add("refund %s of a payment from the balance was sent to WeChat (%+v)", no, wx)
		}
		if len(credits) > 0 && (!toBalance || r.Status != cloudpay.RefundSucceeded) {
			c.add("refund %s (paid by %s) is %s here, and the wallet was credited %+v", no, r.PaidBy, r.Status, credits)
		}
		switch r.Status {
		case cloudpay.RefundSucceeded:
			if toBalance {
				if len(credits) != 1 || credits[0].AmountFen != r.AmountFen || credits[0].Kind != cloudpay.EntryRefund {
					c.add("refund %s of %d fen to the balance succeeded here, the wallet credited %+v", no, r.AmountFen, credits)
				}
			} else if !known || wx.Status != "SUCCESS" {
				c.add("refund %s succeeded here, %+v at WeChat", no, wx)
			}
			if e, ok := ends[fmt.Sprintf("end:%s:%d", no, r.Round)]; !ok || e.Kind != cloudpay.EntrySettle {
				c.add("refund %s succeeded without its settle entry", no)
			}
			if !s.events[string(cloudpay.EventRefundSucceeded)+":"+no] {
				c.add("stuck: refund %s succeeded without its refund.succeeded event", no)
			}
		case cloudpay.RefundClosed:
			if !known || wx.Status != "CLOSED" {
				c.add("refund %s closed here, %+v at WeChat", no, wx)
			}
		case cloudpay.RefundFailed, cloudpay.RefundRejected:
			if known && wx.Status != "CLOSED" && !r.Retryable {
				c.add("refund %s %s here, %s at WeChat", no, r.Status, wx.Status)
			}
		}
		if holdsReservation(r) {
			c.add("stuck: refund %s is %s (attempts %d, round %d)", no, r.Status, r.Attempts, r.Round)
		}
		if known && wx.Status == "SUCCESS" && r.Status != cloudpay.RefundSucceeded {
			c.add("stuck: WeChat refunded %s, here it is %s", no, r.Status)
		}
	}
	for no, wx := range s.simRefunds {
		if _, ok := s.refunds[no]; !ok {
			c.add("WeChat holds refund %s (%d fen of %s, %s) that has no refund here", no, wx.RefundFee, wx.OutTradeNo, wx.Status)
		}
		if wx.Status == "PROCESSING" {
			c.add("stuck: refund %s still PROCESSING at WeChat", no)
		}
	}
	for _, o := range s.refundOutcomes {
		r, ok := s.refunds[o.OutRefundNo]
		if !ok {
			c.add("refund outcome %s without its refund", o.ID)
			continue
		}
		if r.Round == o.Round && r.Status != o.Outcome {
			c.add("stuck: refund %s round %d ended %s but shows %s", o.OutRefundNo, o.Round, o.Outcome, r.Status)
		}
		if e, ok := ends[fmt.Sprintf("end:%s:%d", o.OutRefundNo, o.Round)]; !ok || e.Kind != o.Kind {
			c.add("stuck: refund %s round %d ended %s without its %s entry", o.OutRefundNo, o.Round, o.Outcome, o.Kind)
		}
	}
}

// batches: every item of every batch has its refund, ended.
func (c *checker) batches(s snapshot) {
	for _, b := range s.batches {
		for _, it := range b.Items {
			if _, ok := s.refunds[it.OutRefundNo]; !ok {
				c.add("stuck: batch %s (created %s, completed %s) item %s has no refund", b.ID,
					b.CreatedAt.Format(time.RFC3339Nano), b.CompletedAt.Format(time.RFC3339Nano), it.Key)
			}
		}
	}
}

// wallets: invariants 3 and 4 for each wallet ledger.
func (c *checker) wallets(s snapshot) {
	for openid, entries := range s.walletLedger {
		var credited, available, frozen, debited cloudpay.Fen
		live := map[string]cloudpay.Fen{}
		refs := map[string]bool{}
		for i, e := range entries {
			if e.Seq != int64(i+1) {
				c.add("wallet %s: entry %d has seq %d", openid, i+1, e.Seq)
			}
			if refs[e.Ref] {
				c.add("wallet %s: ref %s twice", openid, e.Ref)
			}
			refs[e.Ref] = true
			switch e.Kind {
			case cloudpay.EntryCredit:
				credited += e.AmountFen
				available += e.AmountFen
			case cloudpay.EntryFreeze:
				live[e.WithdrawalID] = e.AmountFen
				available -= e.AmountFen
				frozen += e.AmountFen
			case cloudpay.EntryPayment:
				available -= e.AmountFen
				debited += e.AmountFen
			case cloudpay.EntryReversal, cloudpay.EntryRefund:
				credited += e.AmountFen
				available += e.AmountFen
			case cloudpay.EntryDebit, cloudpay.EntryUnfreeze:
				amount, ok := live[e.WithdrawalID]
				if !ok {
					c.add("wallet %s: %s %s unfreezes nothing frozen (money moved twice?)", openid, e.Kind, e.Ref)
					break
				}
				delete(live, e.WithdrawalID)
				frozen -= amount
				if e.Kind == cloudpay.EntryDebit {
					debited += amount
				} else {
					available += amount
				}
			default:
				c.add("wallet %s: unknown kind %s", openid, e.Kind)
			}
			if !e.Balanced() || e.CreditedFen < 0 || e.DebitedFen < 0 {
				c.add("wallet %s, %s: available %d + frozen %d + debited %d ≠ credited %d, or negative",
					openid, e.Ref, e.AvailableFen, e.FrozenFen, e.DebitedFen, e.CreditedFen)
			}
			if e.CreditedFen != credited || e.AvailableFen != available || e.FrozenFen != frozen || e.DebitedFen != debited {
				c.add("wallet %s, %s: totals %d/%d/%d/%d, movements say %d/%d/%d/%d (credited/available/frozen/debited)",
					openid, e.Ref, e.CreditedFen, e.AvailableFen, e.FrozenFen, e.DebitedFen, credited, available, frozen, debited)
			}
		}
		for id, amount := range live {
			wd, ok := s.withdrawals[id]
			switch {
			case !ok:
				c.add("wallet %s: %d fen frozen for withdrawal %s, which does not exist", openid, amount, id)
			case wd.Status.Final():
				c.add("wallet %s: %d fen frozen for withdrawal %s, which is %s", openid, amount, id, wd.Status)
			default:
				c.add("stuck: wallet %s: %d fen still frozen for withdrawal %s (%s)", openid, amount, id, wd.Status)
			}
		}
		for _, e := range entries {
			switch e.Kind {
			case cloudpay.EntryPayment:
				c.balanceDebit(s, e)
			case cloudpay.EntryReversal:
				tn, ok := strings.CutPrefix(e.Ref, "unpay:")
				pays := s.walletRefs[payRef(tn)]
				if !ok || len(pays) != 1 || pays[0].OpenID != openid || pays[0].OutTradeNo != e.OutTradeNo ||
					pays[0].AmountFen != e.AmountFen || pays[0].Seq > e.Seq {
					c.add("wallet %s: reversal %s of %d fen (order %s) gives back no debit before it (%+v)", openid, e.Ref, e.AmountFen, e.OutTradeNo, pays)
				}
			case cloudpay.EntryRefund:
				r, ok := s.refunds[e.OutRefundNo]
				if e.Ref != "refund:"+e.OutRefundNo || !ok || r.PaidBy != cloudpay.MethodBalance || r.Status != cloudpay.RefundSucceeded ||
					r.AmountFen != e.AmountFen || r.OutTradeNo != e.OutTradeNo || r.OpenID != openid {
					c.add("wallet %s: %s credits %d fen of order %s, refund %+v", openid, e.Ref, e.AmountFen, e.OutTradeNo, r)
				}
			}
		}
	}
}

// balanceDebit: a payment from the balance either paid its order (the
// settlement names its attempt) or was given back once; never both, never
// neither.
func (c *checker) balanceDebit(s snapshot, e cloudpay.WalletEntry) {
	tn, ok := strings.CutPrefix(e.Ref, "pay:")
	p, attempt := s.prepays[tn]
	o, ordered := s.orders[e.OutTradeNo]
	if !ok || !attempt || !ordered || p.OutTradeNo != o.OutTradeNo || p.Method != cloudpay.MethodBalance ||
		o.OpenID != e.OpenID || o.AmountFen != e.AmountFen {
		c.add("wallet %s: debit %s of %d fen for order %s (%+v) is not its balance attempt's (%+v)", e.OpenID, e.Ref, e.AmountFen, e.OutTradeNo, o, p)
		return
	}
	st := s.settlements[o.OutTradeNo]
	paid := st.Outcome == cloudpay.SettledPaid && st.PaidMethod() == cloudpay.MethodBalance && settledNo(o, st) == tn
	back := s.walletRefs[unpayRef(tn)]
	switch {
	case paid && len(back) > 0:
		c.add("wallet %s: debit %s paid order %s and was given back (%+v)", e.OpenID, e.Ref, o.OutTradeNo, back)
	case !paid && len(back) == 0:
		c.add("stuck: wallet %s: %d fen debited under %s, order %s neither paid by it nor given back (settlement %+v, attempt end %q)",
			e.OpenID, e.AmountFen, e.Ref, o.OutTradeNo, st, s.prepayEnds[tn].Outcome)
	case len(back) > 1:
		c.add("wallet %s: debit %s given back %d times", e.OpenID, e.Ref, len(back))
	}
	if s.prepayEnds[tn].Outcome == "" {
		c.add("stuck: wallet %s: debit %s, whose attempt has not ended", e.OpenID, e.Ref)
	}
}

// withdrawals: invariant 5, and each withdrawal ends (6).
func (c *checker) withdrawals(s snapshot) {
	ends := map[string]cloudpay.WalletEntry{}
	for _, entries := range s.walletLedger {
		for _, e := range entries {
			if e.Kind == cloudpay.EntryDebit || e.Kind == cloudpay.EntryUnfreeze {
				ends[e.WithdrawalID] = e
			}
		}
	}
	for id, wd := range s.withdrawals {
		wx, known := s.simTransfers[id]
		switch wd.Status {
		case cloudpay.WithdrawalSucceeded:
			if !known || wx.State != "SUCCESS" {
				c.add("withdrawal %s succeeded here, %+v at WeChat", id, wx)
			}
			if e, ok := ends[id]; !ok || e.Kind != cloudpay.EntryDebit {
				c.add("withdrawal %s succeeded without its debit", id)
			}
			if !s.events[string(cloudpay.EventWithdrawalSucceeded)+":"+id] {
				c.add("stuck: withdrawal %s succeeded without its event", id)
			}
		case cloudpay.WithdrawalFailed, cloudpay.WithdrawalCancelled:
			if known && wx.State != "FAIL" && wx.State != "CANCELLED" {
				c.add("withdrawal %s %s here, %s at WeChat", id, wd.Status, wx.State)
			}
			if e, ok := ends[id]; !ok || e.Kind != cloudpay.EntryUnfreeze {
				c.add("withdrawal %s %s without its unfreeze", id, wd.Status)
			}
			if !s.events[string(cloudpay.EventWithdrawalFailed)+":"+id] {
				c.add("stuck: withdrawal %s %s without its event", id, wd.Status)
			}
		default:
			c.add("stuck: withdrawal %s is %s (attempts %d; WeChat: %+v)", id, wd.Status, wd.Attempts, wx)
		}
	}
	for id, wx := range s.simTransfers {
		wd, ok := s.withdrawals[id]
		switch {
		case !ok:
			c.add("WeChat holds transfer bill %s (%d fen to %s, %s) without a withdrawal", id, wx.AmountFen, wx.OpenID, wx.State)
		case cloudpay.Fen(wx.AmountFen) != wd.AmountFen || wx.OpenID != wd.OpenID:
			c.add("transfer bill %s: %d fen to %s at WeChat, withdrawal of %d fen by %s", id, wx.AmountFen, wx.OpenID, wd.AmountFen, wd.OpenID)
		}
		if wx.State != "SUCCESS" && wx.State != "FAIL" && wx.State != "CANCELLED" {
			c.add("stuck: transfer bill %s is %s at WeChat", id, wx.State)
		}
	}
	for _, o := range s.withdrawalOutcomes {
		wd, ok := s.withdrawals[o.ID]
		if !ok {
			c.add("withdrawal outcome %s without its withdrawal", o.ID)
			continue
		}
		if wd.Status != o.Outcome {
			c.add("stuck: withdrawal %s ended %s but shows %s", o.ID, o.Outcome, wd.Status)
		}
		if e, ok := ends[o.ID]; !ok || e.Kind != o.Kind {
			c.add("stuck: withdrawal %s ended %s without its %s entry", o.ID, o.Outcome, o.Kind)
		}
	}
}
