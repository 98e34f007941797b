package bill_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/bill"
)

// alipaySeeds are well-formed and malformed detail files (UTF-8).
func alipaySeeds() [][]byte {
	awkward := string(bill.FormatAlipayTrade(awkwardTrade()))
	return [][]byte{
		[]byte(alipaySample),
		[]byte(awkward),
		[]byte("\ufeff" + strings.ReplaceAll(alipaySample, "\n", "\r\n")),
		[]byte(alipaySample[:len(alipaySample)/2]),
		[]byte(strings.Replace(awkward, "#---", "\n\n#---", 1)),
		[]byte("支付宝交易号\n#业务明细列表结束"),
		[]byte("a,a\n\"#\n#业务明细列表结束\n#交易合计：0笔"),
		[]byte("#账号：[\n#起始日期：[]"),
		{},
	}
}

// FuzzParseAlipayTrade: no input makes ParseAlipayTrade panic; every error
// is a *ParseError; what it accepts is written back to a file that reads
// the same.
func FuzzParseAlipayTrade(f *testing.F) {
	for _, s := range alipaySeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := bill.ParseAlipayTrade(data)
		if err != nil {
			if _, ok := err.(*bill.ParseError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		checkAlipayWrittenBack(t, tr)
	})
}

// FuzzParseAlipayTradeZip is FuzzParseAlipayTrade for the ZIP.
func FuzzParseAlipayTradeZip(f *testing.F) {
	for _, tr := range []bill.AlipayTrade{alipaySampleTrade(), awkwardTrade(), {}} {
		z, err := bill.FormatAlipayTradeZip(tr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(z)
		f.Add(z[:len(z)/2])
	}
	for _, s := range alipaySeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := bill.ParseAlipayTradeZip(data)
		if err != nil {
			if _, ok := err.(*bill.ParseError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		checkAlipayWrittenBack(t, tr)
		z, err := bill.FormatAlipayTradeZip(tr)
		if err != nil {
			t.Fatal(err)
		}
		again, err := bill.ParseAlipayTradeZip(z)
		if err != nil {
			t.Fatalf("the ZIP written back does not parse: %v", err)
		}
		if !alipayHasCR(tr) && !reflect.DeepEqual(tr, again) {
			t.Fatalf("ZIP written back differently:\n%+v\n%+v", tr, again)
		}
	})
}

func checkAlipayWrittenBack(t *testing.T, tr bill.AlipayTrade) {
	t.Helper()
	again, err := bill.ParseAlipayTrade(bill.FormatAlipayTrade(tr))
	if err != nil {
		t.Fatalf("the file written back does not parse: %v\n%s", err, bill.FormatAlipayTrade(tr))
	}
	if !alipayHasCR(tr) && !reflect.DeepEqual(tr, again) {
		t.Fatalf("written back differently:\n%+v\n%+v", tr, again)
	}
}

// alipayHasCR reports whether a text field holds a CR, which the formatter
// writes as a space (by design).
func alipayHasCR(tr bill.AlipayTrade) bool {
	if strings.Contains(tr.Account, "\r") {
		return true
	}
	for _, r := range tr.Rows {
		v := reflect.ValueOf(r)
		for i := 0; i < v.NumField(); i++ {
			if s, ok := v.Field(i).Interface().(string); ok && strings.Contains(s, "\r") {
				return true
			}
		}
	}
	return false
}
