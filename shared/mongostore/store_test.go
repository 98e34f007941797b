package mongostore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/storetest"
)

func TestClaimSettlementHasOneWinner(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	const writers = 100
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			st := cloudpay.Settlement{OutTradeNo: "ORDER1", Outcome: cloudpay.SettledPaid,
				TransactionID: "tx", AmountFen: cloudpay.Fen(100 + i), Source: "test", CreatedAt: time.Now()}
			held, won, err := s.ClaimSettlement(ctx, st)
			if err != nil {
				t.Errorf("claim: %v", err)
				return
			}
			if won {
				wins.Add(1)
			}
			if held.OutTradeNo != "ORDER1" {
				t.Errorf("held settlement %+v", held)
			}
		})
	}
	wg.Wait()
	if got := wins.Load(); got != 1 {
		t.Fatalf("winners = %d, want exactly 1", got)
	}
	n, err := s.Database().Collection("settlements").CountDocuments(ctx, map[string]any{})
	if err != nil || n != 1 {
		t.Fatalf("settlements = %d (%v), want 1", n, err)
	}
}

func TestCreateOrderIsIdempotentOnNumber(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	o := cloudpay.Order{OutTradeNo: "A1", OpenID: "o1", AmountFen: 100, Description: "d",
		Status: cloudpay.OrderUnpaid, CreatedAt: now, ExpiresAt: now.Add(time.Hour), UpdatedAt: now}
	_, created, err := s.CreateOrder(ctx, o)
	if err != nil || !created {
		t.Fatalf("first create: created=%v err=%v", created, err)
	}
	other := o
	other.AmountFen = 999
	got, created, err := s.CreateOrder(ctx, other)
	if err != nil || created {
		t.Fatalf("second create: created=%v err=%v", created, err)
	}
	if got.AmountFen != 100 {
		t.Fatalf("second create returned amount %d, want the stored 100", got.AmountFen)
	}
	if _, err := s.Order(ctx, "missing"); cloudpay.ErrorCode(err) != cloudpay.CodeOrderNotFound {
		t.Fatalf("missing order: %v", err)
	}
}

func TestEnqueueEventTwiceKeepsOne(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	e := cloudpay.NewEvent(cloudpay.EventOrderPaid, "A1", map[string]any{"amount_fen": 1}, time.Now())
	for range 3 {
		if err := s.EnqueueEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.Events(ctx, "A1")
	if err != nil || len(evs) != 1 {
		t.Fatalf("events = %d (%v), want 1", len(evs), err)
	}
}

func TestOpeningTwiceKeepsIndexes(t *testing.T) {
	t.Parallel()
	cfg := storetest.Config(t)
	for range 3 {
		s, err := mongostore.Open(context.Background(), cfg)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		_ = s.Close(context.Background())
	}
}

// Of many passes racing for the same action, one wins; the next claim is
// allowed only after the spacing.
func TestClaimActionOnePerSpacing(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	now := time.Now().UTC()
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			ok, err := s.ClaimAction(ctx, "close", "ORDER0001", fmt.Sprintf("pass-%d", i), time.Minute, now)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d passes claimed the action, want 1", wins.Load())
	}
	if ok, _ := s.ClaimAction(ctx, "close", "ORDER0001", "pass-late", time.Minute, now.Add(30*time.Second)); ok {
		t.Fatal("claimed again within the spacing")
	}
	if ok, _ := s.ClaimAction(ctx, "close", "ORDER0001", "pass-next", time.Minute, now.Add(61*time.Second)); !ok {
		t.Fatal("not claimed after the spacing")
	}
	if ok, _ := s.ClaimAction(ctx, "query", "ORDER0001", "pass-next", time.Minute, now); !ok {
		t.Fatal("another action on the same subject was blocked")
	}
}
