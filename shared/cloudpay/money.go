package cloudpay

import "fmt"

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
