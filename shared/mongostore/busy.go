package mongostore

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// A store that is momentarily unable to answer (a failover, a pool
// exhausted, the embedded store's single writer holding its lock) is not a
// fault: the operation is retried a few times within the caller's time,
// and then reported as STORE_BUSY, which clients see as a retryable 503,
// never a 500 (docs/design.md §3). Every operation retried here is safe to
// repeat: inserts are decided by unique keys, reads and projection writes
// are idempotent.

// busyRetries bounds the retries of one operation; with busyBackoff's
// doubling they span about 1.5 s.
const (
	busyRetries = 5
	busyBackoff = 50 * time.Millisecond
)

// transientCodes are server error codes that mean "not now".
var transientCodes = map[int32]bool{
	6: true, 7: true, 89: true, 91: true, 112: true, 189: true, 262: true, 9001: true, 10107: true,
	11600: true, 11602: true, 13435: true, 13436: true, 50: true,
}

// transient reports whether err says the store was busy rather than that
// the operation was wrong.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.Is(err, mongo.ErrClientDisconnected) {
		return true
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		for code := range transientCodes {
			if se.HasErrorCode(int(code)) {
				return true
			}
		}
		if se.HasErrorLabel("RetryableWriteError") || se.HasErrorLabel("TransientTransactionError") {
			return true
		}
	}
	// The embedded store (FerretDB on SQLite) reports its writer lock as text.
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}

// errBusy is what callers see once retries are spent.
func errBusy(err error) error {
	return &cloudpay.Error{Code: cloudpay.CodeStoreBusy, Message: "the store is busy; try again in a moment", Err: err}
}

// retryBusy runs op again while it fails transiently, within ctx and
// busyRetries; a transient failure that outlasts them is errBusy.
func retryBusy(ctx context.Context, op func() error) error {
	wait := busyBackoff
	for i := 0; ; i++ {
		err := op()
		if !transient(err) {
			return err
		}
		if i == busyRetries || ctx.Err() != nil {
			return errBusy(err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return errBusy(err)
		}
		wait *= 2
	}
}
