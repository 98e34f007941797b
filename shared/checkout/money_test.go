package checkout_test

import (
	"testing"

	"github.com/cloudpay/cloudpay/shared/checkout"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

func TestYuan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fen  cloudpay.Fen
		want string
	}{
		{0, "¥0.00"},
		{1, "¥0.01"},
		{10, "¥0.10"},
		{99, "¥0.99"},
		{100, "¥1.00"},
		{1234, "¥12.34"},
		{100000, "¥1,000.00"},
		{99999999, "¥999,999.99"},
		{123456789, "¥1,234,567.89"},
		{cloudpay.MaxFen, "¥10,000,000.00"},
		// Beyond where a float64 of yuan would lose the fen.
		{9007199254740993, "¥90,071,992,547,409.93"},
		{-5, "-¥0.05"},
	} {
		if got := checkout.Yuan(tc.fen); got != tc.want {
			t.Errorf("Yuan(%d) = %q, want %q", tc.fen, got, tc.want)
		}
	}
}
