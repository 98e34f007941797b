package mongostore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

func TestTransientTellsBusyFromWrong(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"write conflict", mongo.CommandError{Code: 112, Message: "WriteConflict"}, true},
		{"primary stepped down", mongo.CommandError{Code: 189}, true},
		{"retryable label", mongo.CommandError{Code: 1, Labels: []string{"RetryableWriteError"}}, true},
		{"sqlite lock", fmt.Errorf("insert: %w", errors.New("database is locked (5) (SQLITE_BUSY)")), true},
		{"deadline", context.DeadlineExceeded, true},
		{"caller gone", context.Canceled, false},
		{"duplicate key", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000}}}, false},
		{"bad query", mongo.CommandError{Code: 2, Message: "BadValue"}, false},
	}
	for _, tc := range tests {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("%s: transient = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRetryBusyRetriesThenAnswersStoreBusy(t *testing.T) {
	t.Parallel()
	busy := mongo.CommandError{Code: 112}
	calls := 0
	err := retryBusy(context.Background(), func() error {
		calls++
		if calls < 3 {
			return busy
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("recovering store: err %v after %d calls", err, calls)
	}

	calls = 0
	err = retryBusy(context.Background(), func() error { calls++; return busy })
	if cloudpay.ErrorCode(err) != cloudpay.CodeStoreBusy || calls != busyRetries+1 {
		t.Fatalf("busy store: %v (%s) after %d calls", err, cloudpay.ErrorCode(err), calls)
	}

	calls = 0
	wrong := errors.New("bad document")
	if err := retryBusy(context.Background(), func() error { calls++; return wrong }); err != wrong || calls != 1 {
		t.Fatalf("a wrong operation is not retried: %v after %d calls", err, calls)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	calls = 0
	if err := retryBusy(ctx, func() error { calls++; return busy }); cloudpay.ErrorCode(err) != cloudpay.CodeStoreBusy || calls > 2 {
		t.Fatalf("the caller's time bounds the retries: %v after %d calls", err, calls)
	}
}
