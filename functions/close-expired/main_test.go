package main

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/app"
)

// A missing or wrong setting stops start-up, named, before anything connects.
func TestMissingSettingStopsStartUp(t *testing.T) {
	base := map[string]string{"MONGODB_URI": "mongodb://127.0.0.1:1", "WECHAT_SUB_MCH_ID": "1", "ADMIN_TOKENS": "a", "JOB_TOKEN": "j"}
	for _, tc := range []struct {
		name, key, value, want string
	}{
		{"no job token", "JOB_TOKEN", "", "JOB_TOKEN"},
		{"no admin tokens", "ADMIN_TOKENS", "", "ADMIN_TOKENS"},
		{"no merchant", "WECHAT_SUB_MCH_ID", "", "WECHAT_SUB_MCH_ID"},
		{"no store", "MONGODB_URI", "", "MONGODB_URI"},
		{"unknown trigger", "JOB_TRIGGER", "cron", "JOB_TRIGGER"},
		{"notify URL without a secret", "BUSINESS_NOTIFY_URL", "https://example.com/hook", "BUSINESS_NOTIFY_SECRET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"MONGODB_URI", "WECHAT_SUB_MCH_ID", "ADMIN_TOKENS", "JOB_TOKEN", "JOB_TRIGGER", "BUSINESS_NOTIFY_URL", "BUSINESS_NOTIFY_SECRET"} {
				t.Setenv(k, base[k])
			}
			t.Setenv(tc.key, tc.value)
			err := app.Run(context.Background(), app.CloseExpiredBinary())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("start-up error = %v, want one naming %s", err, tc.want)
			}
		})
	}
}
