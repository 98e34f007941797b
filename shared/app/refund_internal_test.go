package app

import (
	"context"
	"log/slog"
	"testing"
)

// Without a logger nobody would hear WeChat's answer, so the start-up
// check asks nothing: it starts no background work for Close to stop.
func TestTradeManagementIsNotAskedWithoutALogger(t *testing.T) {
	f := &Function{}
	checkTradeManaged(context.Background(), f, slog.New(slog.DiscardHandler))
	if len(f.closers) != 0 {
		t.Fatal("a background check was started with nobody to tell")
	}
}
