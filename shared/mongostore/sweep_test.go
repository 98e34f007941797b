package mongostore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/storetest"
)

// The sweep reads each ledger in the order it was written, (created_at,
// _id), from a position on and up to a time: what it reads after a
// position is exactly what it has not read yet.
func TestLedgerEntriesBetween(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	appends := []struct {
		owner string
		at    time.Time
	}{
		{"ORDERB", t0}, {"ORDERA", t0}, {"ORDERA", t0.Add(time.Second)}, {"ORDERB", t0.Add(2 * time.Second)}, {"ORDERA", t0.Add(time.Hour)},
	}
	for i, a := range appends {
		_, _, err := s.AppendRefundEntry(ctx, a.owner, "ref-"+string(rune('a'+i)),
			func(tail cloudpay.RefundEntry, _ bool) (cloudpay.RefundEntry, error) {
				return cloudpay.RefundEntry{Kind: cloudpay.EntryReserve, PaidFen: 100, CreatedAt: a.at, Count: tail.Count + 1}, nil
			})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.AppendWalletEntry(ctx, a.owner, "ref-"+string(rune('a'+i)),
			func(tail cloudpay.WalletEntry, _ bool) (cloudpay.WalletEntry, error) {
				return cloudpay.WalletEntry{Kind: cloudpay.EntryCredit, AmountFen: 1, CreatedAt: a.at, CreditedFen: tail.CreditedFen + 1}, nil
			})
		if err != nil {
			t.Fatal(err)
		}
	}
	// In (created_at, _id) order: ORDERA:1 and ORDERB:1 at t0, ORDERA:2 at
	// t0+1s, ORDERB:2 at t0+2s, ORDERA:3 an hour later.
	tests := []struct {
		name   string
		from   time.Time
		fromID string
		to     time.Time
		limit  int
		want   []string
	}{
		{"from the start", time.Time{}, "", t0.Add(time.Minute), 10, []string{"ORDERA:1", "ORDERB:1", "ORDERA:2", "ORDERB:2"}},
		{"up to a limit", time.Time{}, "", t0.Add(2 * time.Hour), 3, []string{"ORDERA:1", "ORDERB:1", "ORDERA:2"}},
		{"from a time, inclusive", t0.Add(time.Second), "", t0.Add(2 * time.Hour), 10, []string{"ORDERA:2", "ORDERB:2", "ORDERA:3"}},
		{"right after an entry", t0, "ORDERA:1", t0.Add(2 * time.Hour), 2, []string{"ORDERB:1", "ORDERA:2"}},
		{"right after the last of an instant", t0, "ORDERB:1", t0.Add(2 * time.Hour), 10, []string{"ORDERA:2", "ORDERB:2", "ORDERA:3"}},
		{"up to a time, inclusive", t0, "", t0.Add(time.Second), 10, []string{"ORDERA:1", "ORDERB:1", "ORDERA:2"}},
		{"nothing yet", t0.Add(time.Hour), "ORDERA:3", t0.Add(2 * time.Hour), 10, nil},
	}
	for _, tc := range tests {
		refunds, err := s.RefundEntriesBetween(ctx, tc.from, tc.fromID, tc.to, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		wallets, err := s.WalletEntriesBetween(ctx, tc.from, tc.fromID, tc.to, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var gotRefunds, gotWallets []string
		for _, e := range refunds {
			gotRefunds = append(gotRefunds, e.ID)
		}
		for _, e := range wallets {
			gotWallets = append(gotWallets, e.ID)
		}
		if !slices.Equal(gotRefunds, tc.want) || !slices.Equal(gotWallets, tc.want) {
			t.Errorf("%s: refund ledger %v, wallet ledger %v; want %v", tc.name, gotRefunds, gotWallets, tc.want)
		}
	}
}
