package alipay_test

import (
	"testing"

	"github.com/cloudpay/cloudpay/shared/alipay"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

func TestFenFromYuan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want cloudpay.Fen
	}{
		{"0.00", 0}, {"0.01", 1}, {"0.29", 29}, {"0.57", 57}, {"1.10", 110}, {"12.30", 1230},
		{"19.99", 1999}, {"100.00", 10000}, {"4.35", 435}, {"1.15", 115},
		{"10000000.00", cloudpay.MaxFen}, // the largest amount cloudpay takes
	} {
		got, err := alipay.FenFromYuan(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("FenFromYuan(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", "12.3", "12", "12.", ".30", "-1.00", "+1.00", "1e2", "1E2", "0.001", " 1.00", "1.00 ", "01.00", "00.10",
		"1,00", "1.0O", "１.00", "0x1.00", "1_0.00", "10000000.01", "99999999999.99", "92233720368547758.07",
		"NaN", "Inf", "1.00\n",
	} {
		if got, err := alipay.FenFromYuan(in); err == nil {
			t.Errorf("FenFromYuan(%q) = %d, want an error", in, got)
		}
	}
}

func TestYuanOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   cloudpay.Fen
		want string
	}{
		{0, "0.00"}, {1, "0.01"}, {29, "0.29"}, {57, "0.57"}, {100, "1.00"}, {110, "1.10"}, {1230, "12.30"},
		{cloudpay.MaxFen, "10000000.00"}, {-1, "-0.01"}, {-1230, "-12.30"},
	} {
		if got := alipay.YuanOf(tc.in); got != tc.want {
			t.Errorf("YuanOf(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Every amount cloudpay takes goes out and comes back unchanged: the
// classic float traps (0.29*100 = 28.999…) cannot happen on integers, and
// this proves it on the whole range's edges and a dense low range.
func TestYuanRoundTrip(t *testing.T) {
	t.Parallel()
	check := func(f cloudpay.Fen) {
		got, err := alipay.FenFromYuan(alipay.YuanOf(f))
		if err != nil || got != f {
			t.Fatalf("FenFromYuan(YuanOf(%d)) = %d, %v", f, got, err)
		}
	}
	for f := cloudpay.Fen(0); f <= 100_000; f++ {
		check(f)
	}
	for f := cloudpay.MaxFen - 1000; f <= cloudpay.MaxFen; f++ {
		check(f)
	}
}
