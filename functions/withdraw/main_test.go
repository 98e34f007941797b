package main

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/app"
)

// Withdrawals need the API v3 keys whatever PAY_CHANNEL says: a missing
// one stops start-up, named, before anything connects.
func TestMissingSettingStopsStartUp(t *testing.T) {
	base := map[string]string{
		"MONGODB_URI": "mongodb://127.0.0.1:1", "ADMIN_TOKENS": "t",
		"WECHATPAY_MCH_ID": "1900000109", "WECHATPAY_APPID": "wx1", "WECHATPAY_MCH_SERIAL": "S",
		"WECHATPAY_PRIVATE_KEY": "x", "WECHATPAY_APIV3_KEY": "k", "WECHATPAY_PUBLIC_KEY": "x",
		"WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_1", "WECHATPAY_NOTIFY_URL": "https://example.com/callbacks/v3",
	}
	for _, missing := range []string{"MONGODB_URI", "ADMIN_TOKENS", "WECHATPAY_MCH_ID", "WECHATPAY_APIV3_KEY", "WECHATPAY_NOTIFY_URL"} {
		t.Run(missing, func(t *testing.T) {
			for k, v := range base {
				if k == missing {
					v = ""
				}
				t.Setenv(k, v)
			}
			err := app.Run(context.Background(), app.WithdrawBinary())
			if err == nil || !strings.Contains(err.Error(), missing) {
				t.Fatalf("start-up error = %v, want one naming %s", err, missing)
			}
		})
	}
	t.Run("a malformed key is named, not shown", func(t *testing.T) {
		for k, v := range base {
			t.Setenv(k, v)
		}
		t.Setenv("WECHATPAY_PRIVATE_KEY", "not-a-pem-secret-value")
		err := app.Run(context.Background(), app.WithdrawBinary())
		if err == nil || !strings.Contains(err.Error(), "WECHATPAY_PRIVATE_KEY") || strings.Contains(err.Error(), "not-a-pem-secret-value") {
			t.Fatalf("start-up error = %v", err)
		}
	})
}
