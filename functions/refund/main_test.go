package main

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/app"
)

// A function missing a required setting must refuse to start and say which,
// for either channel, before it connects to anything.
func TestMissingSettingStopsStartUp(t *testing.T) {
	names := []string{"MONGODB_URI", "WECHAT_SUB_MCH_ID", "ADMIN_TOKENS", "PAY_CHANNEL", "WECHATPAY_MCH_ID", "WECHATPAY_APIV3_KEY"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no store", map[string]string{"WECHAT_SUB_MCH_ID": "1", "ADMIN_TOKENS": "t"}, "MONGODB_URI"},
		{"no merchant", map[string]string{"MONGODB_URI": "mongodb://127.0.0.1:1", "ADMIN_TOKENS": "t"}, "WECHAT_SUB_MCH_ID"},
		{"no admin tokens", map[string]string{"MONGODB_URI": "mongodb://127.0.0.1:1", "WECHAT_SUB_MCH_ID": "1"}, "ADMIN_TOKENS"},
		{"unknown channel", map[string]string{"MONGODB_URI": "mongodb://127.0.0.1:1", "ADMIN_TOKENS": "t", "PAY_CHANNEL": "v2"}, "PAY_CHANNEL"},
		{"v3 without its keys", map[string]string{"MONGODB_URI": "mongodb://127.0.0.1:1", "ADMIN_TOKENS": "t", "PAY_CHANNEL": "v3"}, "WECHATPAY_MCH_ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range names {
				t.Setenv(k, tc.env[k])
			}
			err := app.Run(context.Background(), app.RefundBinary())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("start-up error = %v, want one naming %s", err, tc.want)
			}
		})
	}
}
