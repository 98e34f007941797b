package cloudpay

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Fen is an amount of money in fen (1/100 CNY). Money is never a float.
type Fen int64

// MaxFen bounds any single amount accepted from outside: 10,000,000 CNY.
// It keeps sums of many amounts far from int64 overflow.
const MaxFen Fen = 1_000_000_000

// String renders the amount in yuan with exactly two decimals, for people.
func (f Fen) String() string {
	sign := ""
	v := int64(f)
	if v < 0 {
		sign = "-"
		v = -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// Printable reports whether s is valid UTF-8 without control characters:
// WeChat shows descriptions and reasons to the payer and echoes them back.
func Printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
