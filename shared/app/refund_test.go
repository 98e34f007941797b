package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/app"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/miniapp"
	"github.com/cloudpay/cloudpay/shared/storetest"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// logBuffer collects a function's log lines, from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The refund function, which serves the console, says in its log at
// start-up whether the mini-program is under WeChat's trade management.
// It asks in the background: a platform that hangs neither holds up the
// start nor Close, and one that fails is a warning, not a failed start.
func TestRefundTellsTradeManagementAtStartUp(t *testing.T) {
	sim := wechatsim.New(wechatsim.Config{SubMchID: wechatsim.DevMchID})
	t.Cleanup(sim.Close)
	simURL := httptest.NewServer(sim.Handler())
	t.Cleanup(simURL.Close)
	// It reads the body first: only then does the server see the client go.
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(hanging.Close)
	store := storetest.New(t)

	build := func(t *testing.T, mp miniapp.Config, log *slog.Logger) *app.Function {
		t.Helper()
		ch := app.ChannelConfig{Channel: "cloudhosting"}
		ch.CloudHosting.SubMchID = wechatsim.DevMchID
		opts := []app.Option{app.WithStore(store)}
		if log != nil {
			opts = append(opts, app.WithLogger(log))
		}
		f, err := app.Refund(context.Background(), app.RefundConfig{Channel: ch, Shipping: app.ShippingConfig{MiniProgram: mp}, Admin: httpapi.AdminConfig{Tokens: []string{"test-admin"}}}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	waitFor := func(t *testing.T, logs *logBuffer, want string) {
		t.Helper()
		testkit.Eventually(t, func() error {
			if !strings.Contains(logs.String(), want) {
				return fmt.Errorf("no %q in the log:\n%s", want, logs)
			}
			return nil
		})
	}

	for _, tc := range []struct {
		name    string
		managed bool
		want    string
	}{
		{"managed", true, "the mini-program is under WeChat's trade management"},
		{"not managed", false, "the mini-program is not under WeChat's trade management"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim.SetTradeManaged(tc.managed)
			var logs logBuffer
			f := build(t, miniapp.Config{APIURL: simURL.URL}, slog.New(slog.NewTextHandler(&logs, nil)))
			defer f.Close()
			waitFor(t, &logs, tc.want)
		})
	}

	t.Run("a platform that fails", func(t *testing.T) {
		var logs logBuffer
		f := build(t, miniapp.Config{APIURL: hanging.URL, Timeout: 50 * time.Millisecond}, slog.New(slog.NewTextHandler(&logs, nil)))
		defer f.Close()
		waitFor(t, &logs, "could not ask WeChat whether the mini-program is under trade management")
	})

	// A build or a Close that waited for WeChat would end the check by its
	// own deadline, which is logged as a failure: no timing is measured.
	t.Run("a platform that hangs", func(t *testing.T) {
		var logs logBuffer
		f := build(t, miniapp.Config{APIURL: hanging.URL, Timeout: time.Minute}, slog.New(slog.NewTextHandler(&logs, nil)))
		f.Close()
		if s := logs.String(); strings.Contains(s, "level=WARN") {
			t.Errorf("the check ran out its time instead of being stopped by Close:\n%s", s)
		}
	})
}
