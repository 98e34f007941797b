package cloudhosting

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// fen is an amount in WeChat's JSON. The open interface converts v2's XML,
// where every value is text, so an amount may arrive as 25 or as "25"; both
// are accepted, but only as a whole number of fen.
type fen int64

func (f *fen) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || v < 0 || v > int64(cloudpay.MaxFen) {
		return fmt.Errorf("amount %q is not a whole number of fen in range", b)
	}
	*f = fen(v)
	return nil
}
