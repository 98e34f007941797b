package alipay

import (
	"fmt"
	"strconv"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// FenFromYuan reads an amount as Alipay writes it: yuan with exactly two
// decimals ("12.30"; total_amount and refund_fee are Price or Number(9,2),
// 单位为元，精确到小数点后两位:
// https://opendocs.alipay.com/open/02ekfh, https://opendocs.alipay.com/open/02ekfk).
// Anything else — "12.3", "12", "-1.00", "1e2", "0.001", " 1.00", "01.00" —
// is an error rather than a guess, and so is more than cloudpay.MaxFen.
// The digits are read as integers; no float is involved.
func FenFromYuan(s string) (cloudpay.Fen, error) {
	// The longest amount within MaxFen is "10000000.00".
	if len(s) < 4 || len(s) > 11 || s[len(s)-3] != '.' {
		return 0, fmt.Errorf("amount %q is not yuan with two decimals", s)
	}
	whole, cents := s[:len(s)-3], s[len(s)-2:]
	if !digits(whole) || !digits(cents) || (len(whole) > 1 && whole[0] == '0') {
		return 0, fmt.Errorf("amount %q is not yuan with two decimals", s)
	}
	y, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q is not yuan with two decimals", s)
	}
	c, _ := strconv.ParseInt(cents, 10, 64) // two digits: cannot fail
	f := cloudpay.Fen(y*100 + c)
	if f > cloudpay.MaxFen {
		return 0, fmt.Errorf("amount %q is out of range", s)
	}
	return f, nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// YuanOf writes an amount the way Alipay takes it: yuan with two decimals,
// 1230 → "12.30". Callers send only positive amounts; a negative one is
// written with a minus sign, for messages.
func YuanOf(f cloudpay.Fen) string {
	v := uint64(f)
	sign := ""
	if f < 0 {
		sign, v = "-", uint64(-(f+1))+1 // no overflow at math.MinInt64
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}
