package wechatsim_test

import (
	"context"
	"net/http"
	"regexp"
	"testing"

	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// payCoupon pays an order through POST /sim/pay with a coupon.
func (e *env) payCoupon(t *testing.T, no string, fen int64, typ string) map[string]any {
	t.Helper()
	body := map[string]any{"out_trade_no": no, "coupon_fen": fen}
	if typ != "" {
		body["coupon_type"] = typ
	}
	status, out := e.control(t, "POST", "/pay", body)
	if status != 200 {
		t.Fatalf("pay %s with a %d fen coupon: %d %v", no, fen, status, out)
	}
	return out
}

func wantFields(t *testing.T, what string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s = %#v, want %#v", what, k, got[k], w)
		}
	}
}

// A payment with a coupon keeps the order's total and shows the cash the user paid
// and the coupon in every Cloud Hosting answer and in the pay callback.
func TestCHCouponPayment(t *testing.T) {
	e := newEnv(t, nil)
	e.create(t, "CP1")
	res := e.payCoupon(t, "CP1", 30, "")
	couponID, _ := res["coupon_id"].(string)
	if !regexp.MustCompile(`^[1-9]\d{10}$`).MatchString(couponID) {
		t.Fatalf("coupon_id %q", couponID)
	}
	wantFields(t, "pay result", res, map[string]any{"cash_fee": 70.0, "coupon_fee": 30.0, "coupon_type": "CASH"})

	cb, _ := res["callback"].(map[string]any)
	body, _ := cb["body"].(map[string]any)
	if cb["ok"] != true {
		t.Fatalf("callback %v", cb)
	}
	wantFields(t, "pay callback", body, map[string]any{
		"totalFee": 100.0, "cashFee": 70.0, "couponFee": 30.0, "couponCount": 1.0,
		"couponType0": "CASH", "couponId0": couponID, "couponFee0": 30.0,
	})
	if body["settlementTotalFee"] != nil {
		t.Errorf("a CASH coupon leaves the merchant the whole total: settlementTotalFee %v", body["settlementTotalFee"])
	}

	d := e.api(t, "/_/pay/queryorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": "CP1"}).Respdata
	wantFields(t, "queryorder", d, map[string]any{
		"trade_state": "SUCCESS", "total_fee": 100.0, "cash_fee": 70.0, "coupon_fee": 30.0, "coupon_count": 1.0,
		"coupon_type_0": "CASH", "coupon_id_0": couponID, "coupon_fee_0": 30.0,
	})
	if d["settlement_total_fee"] != nil {
		t.Errorf("queryorder: settlement_total_fee %v for a CASH coupon", d["settlement_total_fee"])
	}
	for k, want := range map[string]any{"coupon_id_list": couponID, "coupon_type_list": "CASH", "coupon_fee_list": 30.0} {
		if l, _ := d[k].([]any); len(l) != 1 || l[0] != want {
			t.Errorf("queryorder: %s = %v, want [%v]", k, d[k], want)
		}
	}
}

// A no-cash (免充值) coupon is the merchant's own: what it settles is the total less
// the coupon, in the answers and the callbacks.
func TestCHNoCashCouponSettlesLess(t *testing.T) {
	e := newEnv(t, manualRefunds)
	e.create(t, "NC1")
	res := e.payCoupon(t, "NC1", 25, wechatsim.CouponNoCash)
	cb, _ := res["callback"].(map[string]any)
	body, _ := cb["body"].(map[string]any)
	wantFields(t, "pay callback", body, map[string]any{"cashFee": 75.0, "couponType0": "NO_CASH", "settlementTotalFee": 75.0})
	d := e.api(t, "/_/pay/queryorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": "NC1"}).Respdata
	wantFields(t, "queryorder", d, map[string]any{"cash_fee": 75.0, "settlement_total_fee": 75.0, "coupon_type_0": "NO_CASH"})

	r := e.refund(t, refundReq("NC1", "NCR1", 40)).Respdata
	// 40 × 75/100 = 30 in cash, 10 of coupon; the merchant settles the cash part only.
	wantFields(t, "refund", r, map[string]any{"refund_fee": 40.0, "cash_refund_fee": 30.0, "coupon_refund_fee": 10.0,
		"settlement_refund_fee": 30.0, "settlement_total_fee": 75.0})
	v, err := e.sim.SettleRefund(context.Background(), "NCR1", "SUCCESS")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	for _, b := range refundCallbacks(e.svc.received()) {
		got = b
	}
	if v.Callback == nil || !v.Callback.OK || got == nil {
		t.Fatalf("refund callback %+v, received %v", v.Callback, got)
	}
	wantFields(t, "refund callback", got, map[string]any{"totalFee": 100.0, "refundFee": 40.0,
		"settlementTotalFee": 75.0, "settlementRefundFee": 30.0, "refundStatus": "SUCCESS"})
}

// Refunds of a coupon payment give the user back a share of the cash paid,
// proportionally and rounded half up, and the last one what is left; the coupon takes
// the rest. The open interface tells both in its refund and query answers.
func TestCHCouponRefunds(t *testing.T) {
	e := newEnv(t, manualRefunds)
	e.create(t, "CR1")
	couponID, _ := e.payCoupon(t, "CR1", 30, "")["coupon_id"].(string)

	steps := []struct {
		no                 string
		fee, cash, coupon  float64
		couponRefundsCount float64
	}{
		{"CRR1", 50, 35, 15, 1}, // 50 × 70/100
		{"CRR2", 5, 4, 1, 1},    // 3.5 rounds up
		{"CRR3", 45, 31, 14, 1}, // the rest of the order: the rest of the cash
	}
	for _, st := range steps {
		d := e.refund(t, refundReq("CR1", st.no, int(st.fee))).Respdata
		if resultOf(envelope{Respdata: d}) != "SUCCESS" {
			t.Fatalf("refund %s: %v", st.no, d)
		}
		wantFields(t, "refund "+st.no, d, map[string]any{
			"total_fee": 100.0, "cash_fee": 70.0, "refund_fee": st.fee, "cash_refund_fee": st.cash,
			"coupon_refund_fee": st.coupon, "coupon_refund_count": st.couponRefundsCount,
			"coupon_type_0": "CASH", "coupon_refund_id_0": couponID, "coupon_refund_fee_0": st.coupon,
			"settlement_refund_fee": st.fee, "settlement_total_fee": 100.0,
		})
		for k, want := range map[string]any{"coupon_type_list": "CASH", "coupon_refund_id_list": couponID, "coupon_refund_fee_list": st.coupon} {
			if l, _ := d[k].([]any); len(l) != 1 || l[0] != want {
				t.Errorf("refund %s: %s = %v, want [%v]", st.no, k, d[k], want)
			}
		}
		v, _ := e.sim.Refund(st.no)
		if v.CashRefundFee != int64(st.cash) || v.CouponRefundFee != int64(st.coupon) {
			t.Errorf("control view of %s: %+v", st.no, v)
		}
	}
	q := e.queryRefund(t, map[string]any{"sub_mch_id": merchant, "out_trade_no": "CR1"}).Respdata
	wantFields(t, "queryrefund", q, map[string]any{"total_fee": 100.0, "cash_fee": 70.0, "refund_count": 3.0})
	for i, st := range steps {
		n := itoa(int64(i))
		wantFields(t, "queryrefund", q, map[string]any{
			"out_refund_no_" + n: st.no, "refund_fee_" + n: st.fee, "settlement_refund_fee_" + n: st.fee,
			"coupon_refund_fee_" + n: st.coupon, "coupon_refund_count_" + n: 1.0,
			"coupon_type_" + n + "_0": "CASH", "coupon_refund_id_" + n + "_0": couponID, "coupon_refund_fee_" + n + "_0": st.coupon,
		})
	}
}

// The cash back never exceeds what is left to give back, and a partial refund whose
// cash part rounds to nothing is refused, as WeChat refuses it [community]; the whole
// order can still be refunded.
func TestCHCouponRefundRounding(t *testing.T) {
	t.Run("the cash runs out before the order", func(t *testing.T) {
		e := newEnv(t, manualRefunds)
		e.api(t, "/_/pay/unifiedOrder", with(orderReq("RR1"), "total_fee", 3))
		e.payCoupon(t, "RR1", 1, "")
		for i, want := range []float64{1, 1, 0} { // ⅔ rounds to 1 twice; then no cash is left
			no := "RRR" + itoa(int64(i))
			d := e.refund(t, with(refundReq("RR1", no, 1), "total_fee", 3)).Respdata
			if d["result_code"] != "SUCCESS" || d["cash_refund_fee"] != want || d["coupon_refund_fee"] != 1-want {
				t.Fatalf("refund %d: %v", i, d)
			}
		}
	})
	t.Run("too little cash", func(t *testing.T) {
		e := newEnv(t, manualRefunds)
		e.create(t, "RR2")
		e.payCoupon(t, "RR2", 99, "")
		env := e.refund(t, refundReq("RR2", "RRT1", 10)) // 10 × 1/100 rounds to 0
		if got := resultOf(env); got != "INVALID_REQUEST" || env.Respdata["err_code_des"] != "由于你输入的金额较低所以无法退款成功，建议将本订单进行整单退款" {
			t.Fatalf("got %s %v", got, env.Respdata)
		}
		d := e.refund(t, refundReq("RR2", "RRT2", 100)).Respdata
		if d["result_code"] != "SUCCESS" || d["cash_refund_fee"] != 1.0 || d["coupon_refund_fee"] != 99.0 {
			t.Fatalf("full refund: %v", d)
		}
	})
}

// POST /sim/pay checks the coupon.
func TestPayCouponValidation(t *testing.T) {
	e := newEnv(t, nil)
	e.create(t, "PV1")
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"the whole total", map[string]any{"out_trade_no": "PV1", "coupon_fen": 100}, "coupon_fen"},
		{"more than the total", map[string]any{"out_trade_no": "PV1", "coupon_fen": 101}, "coupon_fen"},
		{"negative", map[string]any{"out_trade_no": "PV1", "coupon_fen": -1}, "coupon_fen"},
		{"a fraction", map[string]any{"out_trade_no": "PV1", "coupon_fen": 1.5}, "coupon_fen"},
		{"unknown type", map[string]any{"out_trade_no": "PV1", "coupon_fen": 10, "coupon_type": "COUPON"}, "coupon_type"},
		{"unknown field", map[string]any{"out_trade_no": "PV1", "coupon": 10}, "coupon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := e.control(t, "POST", "/pay", tc.body)
			if status != http.StatusBadRequest || !regexp.MustCompile(`\b`+tc.field+`\b`).MatchString(errorCode(out)) {
				t.Fatalf("got %d %v, want 400 naming %s", status, out, tc.field)
			}
		})
	}
	if v, _ := e.sim.Order("PV1"); v.TradeState != "NOTPAY" {
		t.Fatalf("a refused payment paid the order: %+v", v)
	}
	// coupon_fen 0 is a payment without a coupon.
	res := e.payCoupon(t, "PV1", 0, "")
	if res["cash_fee"] != 100.0 || res["coupon_fee"] != nil {
		t.Fatalf("pay %v", res)
	}
}

// API v3 tells a coupon payment in amount.payer_total and promotion_detail, of the
// query and the TRANSACTION.SUCCESS notification, and a refund of it in
// amount.payer_refund, discount_refund and its own promotion_detail, as the
// unmodified SDK reads them.
func TestV3CouponPayment(t *testing.T) {
	e := newV3Env(t, nil)
	e.prepay(t, "V3CPN1")
	res, err := e.sim.PayWithCoupon(context.Background(), "V3CPN1", wechatsim.Coupon{Fen: 30})
	if err != nil || !res.Callback.OK || res.CashFee != 70 {
		t.Fatalf("pay: %+v %v", res, err)
	}
	tx := e.query(t, "V3CPN1")
	if *tx.Amount.Total != 100 || *tx.Amount.PayerTotal != 70 || len(tx.PromotionDetail) != 1 {
		t.Fatalf("query: amount %+v, promotion_detail %+v", tx.Amount, tx.PromotionDetail)
	}
	p := tx.PromotionDetail[0]
	if *p.CouponId != res.CouponID || *p.Type != "CASH" || *p.Scope != "GLOBAL" || *p.Amount != 30 ||
		*p.WechatpayContribute+*p.MerchantContribute+*p.OtherContribute != 30 || *p.Currency != "CNY" {
		t.Fatalf("promotion_detail %+v", p)
	}
	var got []parsedNotify
	for _, n := range e.sink.received() {
		if n.eventType == "TRANSACTION.SUCCESS" {
			got = append(got, n)
		}
	}
	if len(got) != 1 {
		t.Fatalf("notifications %+v", got)
	}
	amount, _ := got[0].content["amount"].(map[string]any)
	promos, _ := got[0].content["promotion_detail"].([]any)
	if amount["total"] != 100.0 || amount["payer_total"] != 70.0 || len(promos) != 1 {
		t.Fatalf("notification content %v", got[0].content)
	}

	r := e.createRefund(t, "V3CPN1", "V3CR1", 50)
	if *r.Amount.Refund != 50 || *r.Amount.PayerRefund != 35 || *r.Amount.DiscountRefund != 15 ||
		*r.Amount.PayerTotal != 70 || *r.Amount.Total != 100 || *r.Amount.SettlementRefund != 50 ||
		*r.Amount.SettlementTotal != 100 || len(r.PromotionDetail) != 1 {
		t.Fatalf("refund amount %+v, promotion_detail %+v", r.Amount, r.PromotionDetail)
	}
	rp := r.PromotionDetail[0]
	if *rp.PromotionId != res.CouponID || string(*rp.Type) != "COUPON" || *rp.Amount != 30 || *rp.RefundAmount != 15 {
		t.Fatalf("refund promotion_detail %+v", rp)
	}
	if _, err := e.sim.SettleRefund(context.Background(), "V3CR1", "SUCCESS"); err != nil {
		t.Fatal(err)
	}
	var refunded map[string]any
	for _, n := range e.sink.received() {
		if n.eventType == "REFUND.SUCCESS" {
			refunded, _ = n.content["amount"].(map[string]any)
		}
	}
	if refunded["total"] != 100.0 || refunded["refund"] != 50.0 || refunded["payer_total"] != 70.0 || refunded["payer_refund"] != 35.0 {
		t.Fatalf("REFUND.SUCCESS amount %v", refunded)
	}
	// A no-cash coupon is the merchant's: NOCASH, and DISCOUNT in a refund.
	e.prepay(t, "V3CPN2")
	if _, err := e.sim.PayWithCoupon(context.Background(), "V3CPN2", wechatsim.Coupon{Fen: 20, Type: wechatsim.CouponNoCash}); err != nil {
		t.Fatal(err)
	}
	if p := e.query(t, "V3CPN2").PromotionDetail; len(p) != 1 || *p[0].Type != "NOCASH" || *p[0].MerchantContribute != 20 {
		t.Fatalf("promotion_detail %+v", p)
	}
	r2 := e.createRefund(t, "V3CPN2", "V3CR2", 100)
	if *r2.Amount.PayerRefund != 80 || *r2.Amount.DiscountRefund != 20 || *r2.Amount.SettlementTotal != 80 ||
		*r2.Amount.SettlementRefund != 80 || string(*r2.PromotionDetail[0].Type) != "DISCOUNT" {
		t.Fatalf("refund amount %+v, promotion_detail %+v", r2.Amount, r2.PromotionDetail)
	}
}

// What a coupon payment told survives a crash and a restart: the order's coupon and
// each refund's split.
func TestPersistCouponPayment(t *testing.T) {
	t.Parallel()
	p := newPersistent(t, nil)
	e := p.cur
	e.create(t, "PC1")
	couponID, _ := e.payCoupon(t, "PC1", 30, wechatsim.CouponNoCash)["coupon_id"].(string)
	if got := resultOf(e.refund(t, refundReq("PC1", "PCR1", 50))); got != "SUCCESS" {
		t.Fatalf("refund: %s", got)
	}
	before := e.api(t, "/_/pay/queryorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": "PC1"}).Respdata
	e = p.restart(t)
	after := e.api(t, "/_/pay/queryorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": "PC1"}).Respdata
	for _, k := range []string{"cash_fee", "coupon_fee", "coupon_id_0", "coupon_type_0", "settlement_total_fee"} {
		if before[k] == nil || after[k] != before[k] {
			t.Errorf("%s was %v, after a restart %v", k, before[k], after[k])
		}
	}
	if after["coupon_id_0"] != couponID {
		t.Errorf("coupon_id_0 %v, want %s", after["coupon_id_0"], couponID)
	}
	q := e.env.queryRefund(t, map[string]any{"sub_mch_id": merchant, "out_refund_no": "PCR1"}).Respdata
	wantFields(t, "queryrefund after a restart", q, map[string]any{"refund_fee_0": 50.0, "coupon_refund_fee_0": 15.0,
		"settlement_refund_fee_0": 35.0, "cash_fee": 70.0})
	// The rest of the order still refunds the rest of the cash.
	d := e.refund(t, refundReq("PC1", "PCR2", 50)).Respdata
	wantFields(t, "refund after a restart", d, map[string]any{"cash_refund_fee": 35.0, "coupon_refund_fee": 15.0})
}
