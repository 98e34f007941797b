package mongostore

import (
	"context"
	"sync"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// WalletEntries returns up to limit entries of a user's wallet with a seq
// below beforeSeq (0: from the newest), newest first.
func (s *Store) WalletEntries(ctx context.Context, openid string, beforeSeq int64, limit int) ([]cloudpay.WalletEntry, error) {
	return s.walletLedger().page(ctx, openid, beforeSeq, limit)
}

// pageReaders bounds the lookups one page has in flight.
const pageReaders = 8

// page reads up to limit entries below beforeSeq (0: from the newest),
// newest first. Entries have no gaps, so the page is a run of seqs read by
// _id, the one lookup every store indexes (see tail), a few at a time.
func (l ledger[E, P]) page(ctx context.Context, owner string, beforeSeq int64, limit int) ([]E, error) {
	out := []E{}
	if limit <= 0 || beforeSeq < 0 || beforeSeq == 1 {
		return out, nil
	}
	var (
		top   E
		found bool
		err   error
	)
	if beforeSeq > 0 {
		top, found, err = l.at(ctx, owner, beforeSeq-1)
	}
	if err == nil && !found {
		// From the newest, or from past it: the page starts at the tail.
		top, found, err = l.tail(ctx, owner)
	}
	if err != nil || !found {
		return out, err
	}
	start := l.seqOf(top)
	n := int(min(int64(limit), start))
	out = make([]E, n)
	out[0] = top
	ok := make([]bool, n)
	ok[0] = true
	errs := make([]error, n)
	sem := make(chan struct{}, pageReaders)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i], ok[i], errs[i] = l.at(ctx, owner, start-int64(i))
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if !ok[i] {
			return out[:i], nil // entries are never removed; cut the page short rather than leave a hole
		}
	}
	return out, nil
}
