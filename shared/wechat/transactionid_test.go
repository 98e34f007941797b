package wechat_test

import (
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/wechat"
)

func TestValidTransactionID(t *testing.T) {
	for s, want := range map[string]bool{
		"4200004561202203217657282768":  true, // WeChat's docs' example, 28 digits
		strings.Repeat("9", 32):         true,
		"1":                             true,
		"":                              false,
		strings.Repeat("9", 33):         false,
		"42000045612022032176572827a8":  false,
		"4200004561202203217657282768 ": false,
		"-4200004561202203217657282768": false,
		"４２００":                          false, // full-width digits
	} {
		if got := wechat.ValidTransactionID(s); got != want {
			t.Errorf("ValidTransactionID(%q) = %v, want %v", s, got, want)
		}
	}
}
