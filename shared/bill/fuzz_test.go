package bill_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/bill"
)

// seeds are well-formed and malformed bills of both kinds.
func seeds() [][]byte {
	trade := bill.FormatTrade(sampleTrade())
	success := bill.FormatTrade(bill.NewTrade(bill.Success, sampleTrade().Rows[:1]))
	refund := bill.FormatTrade(bill.NewTrade(bill.Refund, sampleTrade().Rows[1:]))
	return [][]byte{
		trade, success, refund,
		readSampleBytes("cloudhosting-downloadbill-sample.txt"),
		readSampleBytes("downloadfundflow-sample.txt"),
		[]byte(strings.ReplaceAll(string(trade), "\n", "\r\n")),
		[]byte("\ufeff" + string(success)),
		trade[:len(trade)/2],
		[]byte("交易时间\n`\n总交易单数\n`0"),
		[]byte("交易时间\n总交易单数\n`"),
		[]byte("`\n`\n`"),
		[]byte("a,a\n"),
		{},
	}
}

// FuzzParseTrade: no input makes ParseTrade panic; what it accepts has
// totals that add up, and is written back to a bill that reads the same.
func FuzzParseTrade(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := bill.ParseTrade(data)
		if err != nil {
			if _, ok := err.(*bill.ParseError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if tr.Totals != bill.TradeTotalsOf(tr.Rows) {
			t.Fatalf("totals %+v do not add up", tr.Totals)
		}
		again, err := bill.ParseTrade(bill.FormatTrade(tr))
		if err != nil {
			t.Fatalf("the bill written back does not parse: %v", err)
		}
		if !escapable(tr) && !reflect.DeepEqual(tr, again) {
			t.Fatalf("written back differently:\n%+v\n%+v", tr, again)
		}
	})
}

// FuzzParseFundFlow is FuzzParseTrade for the fund-flow bill.
func FuzzParseFundFlow(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ff, err := bill.ParseFundFlow(data)
		if err != nil {
			if _, ok := err.(*bill.ParseError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if ff.Totals != bill.FundFlowTotalsOf(ff.Rows) {
			t.Fatalf("totals %+v do not add up", ff.Totals)
		}
		if _, err := bill.ParseFundFlow(bill.FormatFundFlow(ff)); err != nil {
			t.Fatalf("the bill written back does not parse: %v", err)
		}
	})
}

// escapable reports whether a text field holds what the formatter escapes
// (then the bill written back differs in that field, by design).
func escapable(tr bill.Trade) bool {
	for _, r := range tr.Rows {
		v := reflect.ValueOf(r)
		for i := 0; i < v.NumField(); i++ {
			if s, ok := v.Field(i).Interface().(string); ok && strings.ContainsAny(s, "\r\x01") {
				return true
			}
		}
	}
	return false
}
