package mongostore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/storetest"
)

var errNoRoom = errors.New("no room")

// A ledger's rule is decided on its newest entry, even when this process
// last saw an older one: another process (payment-callback releasing a
// refund, another instance crediting a wallet) may have appended since.
func TestAppendDecidesOnTheNewestEntry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := storetest.Config(t)
	open := func() *mongostore.Store {
		s, err := mongostore.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(ctx) })
		return s
	}
	refundFn, callbackFn := open(), open()
	now := time.Now().UTC()
	// Reserve what is left of 100 fen, refusing more.
	reserve := func(fen cloudpay.Fen) cloudpay.NextEntry[cloudpay.RefundEntry] {
		return func(tail cloudpay.RefundEntry, found bool) (cloudpay.RefundEntry, error) {
			if !found {
				tail = cloudpay.RefundEntry{PaidFen: 100}
			}
			e := cloudpay.RefundEntry{Kind: cloudpay.EntryReserve, AmountFen: fen, CreatedAt: now,
				PaidFen: tail.PaidFen, ReservedFen: tail.ReservedFen + fen, RefundedFen: tail.RefundedFen}
			if e.ReservedFen+e.RefundedFen > e.PaidFen {
				return e, errNoRoom
			}
			return e, nil
		}
	}
	if _, _, err := refundFn.AppendRefundEntry(ctx, "LEDGER0001", "reserve:1", reserve(100)); err != nil {
		t.Fatal(err)
	}
	// The other process releases it.
	if _, _, err := callbackFn.AppendRefundEntry(ctx, "LEDGER0001", "end:1",
		func(tail cloudpay.RefundEntry, found bool) (cloudpay.RefundEntry, error) {
			return cloudpay.RefundEntry{Kind: cloudpay.EntryRelease, AmountFen: 100, CreatedAt: now,
				PaidFen: tail.PaidFen, ReservedFen: tail.ReservedFen - 100}, nil
		}); err != nil {
		t.Fatal(err)
	}
	// The first process, which last saw the reservation, reserves again.
	e, appended, err := refundFn.AppendRefundEntry(ctx, "LEDGER0001", "reserve:2", reserve(100))
	if err != nil || !appended || e.Seq != 3 || e.ReservedFen != 100 {
		t.Fatalf("a reservation after another process's release: %+v appended %v, %v", e, appended, err)
	}
	// And refuses on the newest entry too.
	if _, _, err := callbackFn.AppendRefundEntry(ctx, "LEDGER0001", "reserve:3", reserve(1)); !errors.Is(err, errNoRoom) {
		t.Fatalf("a reservation past what was paid: %v", err)
	}
}
