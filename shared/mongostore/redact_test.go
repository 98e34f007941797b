package mongostore

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ msg, uri string }{
		{"auth failed for mongodb://app:pa%24%24word@db:27017/", "mongodb://app:pa%24%24word@db:27017/"},
		{"bad password pa$$word", "mongodb://app:pa%24%24word@db:27017/"},
		{"cannot parse mongodb://app:%zz@db/", "mongodb://app:%zz@db/"},
	} {
		got := redact(tc.msg, tc.uri)
		if strings.Contains(got, "pa$$word") || strings.Contains(got, "pa%24%24word") || strings.Contains(got, "%zz") {
			t.Errorf("redact(%q) = %q", tc.msg, got)
		}
	}
}
