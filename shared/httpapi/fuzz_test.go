package httpapi

import (
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// The decoders see whatever the internet sends: they must never panic, and
// every refusal must be a domain error a client can act on.
func FuzzDecodeRequests(f *testing.F) {
	for _, seed := range []string{
		`{"out_trade_no":"A1","openid":"o1","amount_fen":1,"description":"x"}`,
		`{"amount_fen":1.5}`, `{"amount_fen":1e400}`, `{"amount_fen":-9223372036854775809}`,
		`{"x":1}`, `[]`, `null`, `{`, `{"out_trade_no":null}`, "\xff\xfe", `{"attach":"\u0000"}`, `{}{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		t.Parallel() // the seeds; no effect while fuzzing
		for _, dst := range []any{&createOrderRequest{}, &createPaymentRequest{}} {
			err := decodeStrict(raw, dst)
			if err == nil {
				continue
			}
			code := cloudpay.ErrorCode(err)
			if Status(code) != 400 {
				t.Fatalf("decode %q: %v is not a 400 (code %s)", raw, err, code)
			}
		}
	})
}
