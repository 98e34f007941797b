package checkout

import (
	"strconv"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Yuan shows an amount of fen as the payer reads it, by integer arithmetic
// only, grouped as the console groups it: 1234 → "¥12.34",
// 123456789 → "¥1,234,567.89".
func Yuan(f cloudpay.Fen) string {
	v := int64(f)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	cents := strconv.FormatInt(v%100, 10)
	if len(cents) == 1 {
		cents = "0" + cents
	}
	return sign + "¥" + group(strconv.FormatInt(v/100, 10)) + "." + cents
}

// group puts a comma between each three digits from the right.
func group(digits string) string {
	out := make([]byte, 0, len(digits)+len(digits)/3)
	for i := range len(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, digits[i])
	}
	return string(out)
}
