package withdraw

import (
	"context"
	"fmt"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// History page sizes.
const (
	defaultHistory = 20
	maxHistory     = 100
)

// History lists a user's wallet entries, newest first: credits,
// withdrawals (freeze, debit, unfreeze), payments from the balance and
// their reversals, and refunds credited back. A page starts below the
// entry numbered before (0: from the newest) and holds at most limit
// entries (0: 20); next is the before of the following page, 0 when this
// one reaches the first entry.
func (s *Service) History(ctx context.Context, openid string, before int64, limit int) (entries []cloudpay.WalletEntry, next int64, err error) {
	if err := validOpenID(openid); err != nil {
		return nil, 0, err
	}
	if before < 0 {
		return nil, 0, cloudpay.FieldError("before", "before must be a positive entry number")
	}
	if limit == 0 {
		limit = defaultHistory
	}
	if limit < 1 || limit > maxHistory {
		return nil, 0, cloudpay.FieldError("limit", "limit must be between 1 and %d", maxHistory)
	}
	entries, err = s.store.WalletEntries(ctx, openid, before, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("wallet history: %w", err)
	}
	if entries == nil {
		entries = []cloudpay.WalletEntry{}
	}
	// Entries are numbered 1, 2, … without gaps: older ones exist exactly
	// when the oldest here is not the first.
	if n := len(entries); n == limit && entries[n-1].Seq > 1 {
		next = entries[n-1].Seq
	}
	return entries, next, nil
}
