package cloudhosting_test

import (
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

func TestParsePayCallback(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		wantErr bool
		want    wechat.PayHint
	}{
		{"genuine", `{"returnCode":"SUCCESS","resultCode":"SUCCESS","subMchId":"19","subOpenid":"oU","totalFee":25,"transactionId":"42","outTradeNo":"ORDER1","extra":[1]}`,
			false, wechat.PayHint{OutTradeNo: "ORDER1", TransactionID: "42", TotalFen: 25, MchID: "19", OpenID: "oU", HasTotal: true}},
		{"business failure", `{"returnCode":"SUCCESS","resultCode":"FAIL","outTradeNo":"ORDER1","totalFee":1}`,
			false, wechat.PayHint{OutTradeNo: "ORDER1", TotalFen: 1, HasTotal: true}},
		{"no amount", `{"outTradeNo":"ORDER1"}`, false, wechat.PayHint{OutTradeNo: "ORDER1"}},
		{"no order", `{"returnCode":"SUCCESS"}`, true, wechat.PayHint{}},
		{"bad order number", `{"outTradeNo":"a b"}`, true, wechat.PayHint{}},
		{"amount as text", `{"outTradeNo":"ORDER1","totalFee":"25"}`, false, wechat.PayHint{OutTradeNo: "ORDER1", TotalFen: 25, HasTotal: true}},
		{"amount as non-numeric text", `{"outTradeNo":"ORDER1","totalFee":"25.0"}`, true, wechat.PayHint{}},
		{"negative amount", `{"outTradeNo":"ORDER1","totalFee":-1}`, true, wechat.PayHint{}},
		{"amount beyond int64", `{"outTradeNo":"ORDER1","totalFee":99999999999999999999}`, true, wechat.PayHint{}},
		{"fractional amount", `{"outTradeNo":"ORDER1","totalFee":2.5}`, true, wechat.PayHint{}},
		{"not JSON", `returnCode=SUCCESS`, true, wechat.PayHint{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cloudhosting.ParsePayCallback([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParsePayCallback(f *testing.F) {
	f.Add([]byte(`{"returnCode":"SUCCESS","resultCode":"SUCCESS","totalFee":1,"outTradeNo":"ORDER1"}`))
	f.Add([]byte(`{"outTradeNo":"ORDER1","totalFee":1e99}`))
	f.Add([]byte(`{"outTradeNo":["ORDER1"]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		hint, err := cloudhosting.ParsePayCallback(raw)
		if err == nil && !cloudpay.ValidOutTradeNo(hint.OutTradeNo) {
			t.Fatalf("accepted %q with invalid order number %q", raw, hint.OutTradeNo)
		}
	})
}

func TestParseRefundCallback(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		wantErr bool
		want    wechat.RefundHint
	}{
		{"success", `{"returnCode":"SUCCESS","subMchId":"19","outTradeNo":"ORDER1","outRefundNo":"R-1@x","refundId":"50","refundStatus":"SUCCESS","refundFee":1,"extra":{}}`,
			false, wechat.RefundHint{OutRefundNo: "R-1@x", OutTradeNo: "ORDER1", MchID: "19", State: wechat.RefundSuccess}},
		{"abnormal", `{"outRefundNo":"R1","refundStatus":"CHANGE"}`, false, wechat.RefundHint{OutRefundNo: "R1", State: wechat.RefundAbnormal}},
		{"closed", `{"outRefundNo":"R1","refundStatus":"REFUNDCLOSE"}`, false, wechat.RefundHint{OutRefundNo: "R1", State: wechat.RefundClosed}},
		{"unknown status is only a trigger", `{"outRefundNo":"R1","refundStatus":"WHATEVER"}`, false, wechat.RefundHint{OutRefundNo: "R1"}},
		{"amounts as text", `{"outRefundNo":"R1","refundFee":"1","totalFee":"2"}`, false, wechat.RefundHint{OutRefundNo: "R1"}},
		{"no refund number", `{"outTradeNo":"ORDER1","refundStatus":"SUCCESS"}`, true, wechat.RefundHint{}},
		{"bad refund number", `{"outRefundNo":"R 1"}`, true, wechat.RefundHint{}},
		{"refund number too long", `{"outRefundNo":"` + strings.Repeat("R", 65) + `"}`, true, wechat.RefundHint{}},
		{"bad order number", `{"outRefundNo":"R1","outTradeNo":"A/1"}`, true, wechat.RefundHint{}},
		{"refund number not a string", `{"outRefundNo":1}`, true, wechat.RefundHint{}},
		{"not JSON", `outRefundNo=R1`, true, wechat.RefundHint{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cloudhosting.ParseRefundCallback([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseRefundCallback(f *testing.F) {
	f.Add([]byte(`{"outRefundNo":"R1","outTradeNo":"ORDER1","refundStatus":"SUCCESS"}`))
	f.Add([]byte(`{"outRefundNo":"R1","refundFee":1e99}`))
	f.Add([]byte(`{"outRefundNo":["R1"]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		hint, err := cloudhosting.ParseRefundCallback(raw)
		if err == nil && !cloudpay.ValidOutRefundNo(hint.OutRefundNo) {
			t.Fatalf("accepted %q with invalid refund number %q", raw, hint.OutRefundNo)
		}
	})
}
