package mongostore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// NextEntry builds the ledger entry that follows tail (found is false for an
// order without entries). It checks the rules against tail's totals and
// returns an error to refuse; it must not have side effects, because it runs
// again whenever a concurrent writer takes the sequence number first.
type NextEntry func(tail cloudpay.RefundEntry, found bool) (cloudpay.RefundEntry, error)

// maxLedgerRetries bounds how often an append retries after losing the race
// for a sequence number; each loss means another writer made progress.
const maxLedgerRetries = 1000

// AppendRefundEntry appends the entry next builds to an order's refund
// ledger under ref. The unique _id (order:seq) serialises writers and the
// unique ref makes the movement happen once: if an entry with ref exists,
// it is returned with appended false and next's answer is discarded.
func (s *Store) AppendRefundEntry(ctx context.Context, outTradeNo, ref string, next NextEntry) (cloudpay.RefundEntry, bool, error) {
	col := s.db.Collection(colRefundLedger)
	tail, found, err := s.refundTail(ctx, outTradeNo, s.ledgerHint(outTradeNo))
	if err != nil {
		return cloudpay.RefundEntry{}, false, err
	}
	for range maxLedgerRetries {
		e, err := next(tail, found)
		if err != nil {
			return cloudpay.RefundEntry{}, false, err
		}
		e.OutTradeNo, e.Ref = outTradeNo, ref
		e.Seq = tail.Seq + 1
		e.ID = cloudpay.RefundEntryID(outTradeNo, e.Seq)
		_, err = col.InsertOne(ctx, e)
		if err == nil {
			s.setLedgerHint(outTradeNo, e.Seq)
			return e, true, nil
		}
		if !isDuplicate(err) {
			return cloudpay.RefundEntry{}, false, fmt.Errorf("append refund entry: %w", err)
		}
		// Either another writer took this seq or ref exists. Walk the entries
		// written since tail: one of them may be ours.
		newTail, newFound, held, err := s.walkRefundLedger(ctx, outTradeNo, tail, found, ref)
		if err != nil {
			return cloudpay.RefundEntry{}, false, err
		}
		if held != nil {
			return *held, false, nil
		}
		if newFound && newTail.Seq > tail.Seq {
			tail, found = newTail, true
			jitter(ctx)
			continue
		}
		// Nobody took the seq, so ref exists from before we started.
		held, err = s.RefundEntryByRef(ctx, ref)
		if err != nil {
			return cloudpay.RefundEntry{}, false, err
		}
		if held == nil {
			return cloudpay.RefundEntry{}, false, fmt.Errorf("append refund entry %s: duplicate key but no entry", ref)
		}
		return *held, false, nil
	}
	return cloudpay.RefundEntry{}, false, fmt.Errorf("append refund entry %s: too much contention on order %s", ref, outTradeNo)
}

// jitter spreads writers that lost a race so they do not collide again in lockstep.
func jitter(ctx context.Context) {
	t := time.NewTimer(time.Duration(rand.IntN(2000)) * time.Microsecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// walkRefundLedger reads the entries after tail up to the newest, looking
// for ref on the way.
func (s *Store) walkRefundLedger(ctx context.Context, outTradeNo string, tail cloudpay.RefundEntry, found bool, ref string) (cloudpay.RefundEntry, bool, *cloudpay.RefundEntry, error) {
	seq := int64(0)
	if found {
		seq = tail.Seq
	}
	for {
		e, ok, err := s.RefundEntryAt(ctx, outTradeNo, seq+1)
		if err != nil {
			return tail, found, nil, err
		}
		if !ok {
			if seq > 0 {
				s.setLedgerHint(outTradeNo, seq)
			}
			return tail, found, nil, nil
		}
		if e.Ref == ref {
			return e, true, &e, nil
		}
		tail, found, seq = e, true, e.Seq
	}
}

// RefundLedgerTail returns the newest entry of an order's refund ledger.
func (s *Store) RefundLedgerTail(ctx context.Context, outTradeNo string) (cloudpay.RefundEntry, bool, error) {
	return s.refundTail(ctx, outTradeNo, s.ledgerHint(outTradeNo))
}

// refundTail finds the newest entry with point lookups by _id, the only
// lookup the embedded store indexes: forward from a known seq if there is
// one, else by doubling and then bisecting (entries have no gaps).
func (s *Store) refundTail(ctx context.Context, outTradeNo string, hint int64) (cloudpay.RefundEntry, bool, error) {
	exists := func(seq int64) (bool, error) {
		// No projection: with one, the embedded store stops using the _id
		// index and scans the collection.
		err := s.db.Collection(colRefundLedger).FindOne(ctx, bson.D{{Key: "_id", Value: cloudpay.RefundEntryID(outTradeNo, seq)}}).Err()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("read refund ledger: %w", err)
		}
		return true, nil
	}
	lo, hi := int64(0), int64(1) // lo exists (or is 0), hi is the next probe
	if hint > 0 {
		ok, err := exists(hint)
		if err != nil {
			return cloudpay.RefundEntry{}, false, err
		}
		if ok {
			lo, hi = hint, hint+1
		}
	}
	for step := int64(1); ; step *= 2 {
		ok, err := exists(hi)
		if err != nil {
			return cloudpay.RefundEntry{}, false, err
		}
		if !ok {
			break
		}
		lo, hi = hi, hi+step
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := exists(mid)
		if err != nil {
			return cloudpay.RefundEntry{}, false, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return cloudpay.RefundEntry{}, false, nil
	}
	e, ok, err := s.RefundEntryAt(ctx, outTradeNo, lo)
	if err != nil || !ok {
		return cloudpay.RefundEntry{}, false, err
	}
	// Writers may have appended meanwhile; walk to the real end.
	tail, found, _, err := s.walkRefundLedger(ctx, outTradeNo, e, true, "")
	return tail, found, err
}

// RefundEntryAt reads an order's seq-th ledger entry.
func (s *Store) RefundEntryAt(ctx context.Context, outTradeNo string, seq int64) (cloudpay.RefundEntry, bool, error) {
	var e cloudpay.RefundEntry
	err := s.db.Collection(colRefundLedger).FindOne(ctx, bson.D{{Key: "_id", Value: cloudpay.RefundEntryID(outTradeNo, seq)}}).Decode(&e)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return cloudpay.RefundEntry{}, false, nil
	}
	if err != nil {
		return cloudpay.RefundEntry{}, false, fmt.Errorf("read refund entry: %w", err)
	}
	return e, true, nil
}

// RefundEntryByRef finds the entry of one movement (nil if none). On the
// embedded store this scans; callers reach it only after a crash or a race.
func (s *Store) RefundEntryByRef(ctx context.Context, ref string) (*cloudpay.RefundEntry, error) {
	var e cloudpay.RefundEntry
	err := s.db.Collection(colRefundLedger).FindOne(ctx, bson.D{{Key: "ref", Value: ref}}).Decode(&e)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find refund entry: %w", err)
	}
	return &e, nil
}

// RefundLedger returns all entries of an order, oldest first.
func (s *Store) RefundLedger(ctx context.Context, outTradeNo string) ([]cloudpay.RefundEntry, error) {
	var out []cloudpay.RefundEntry
	for seq := int64(1); ; seq++ {
		e, ok, err := s.RefundEntryAt(ctx, outTradeNo, seq)
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		out = append(out, e)
	}
}

// ledgerHints remembers the newest seq seen per order, so the next append
// starts its search there. Only a hint: a stale one costs a few lookups.
type ledgerHints struct {
	mu sync.Mutex
	m  map[string]int64
}

const maxLedgerHints = 10000

func (s *Store) ledgerHint(outTradeNo string) int64 {
	s.hints.mu.Lock()
	defer s.hints.mu.Unlock()
	return s.hints.m[outTradeNo]
}

func (s *Store) setLedgerHint(outTradeNo string, seq int64) {
	s.hints.mu.Lock()
	defer s.hints.mu.Unlock()
	if s.hints.m == nil || len(s.hints.m) >= maxLedgerHints {
		s.hints.m = map[string]int64{}
	}
	if seq > s.hints.m[outTradeNo] {
		s.hints.m[outTradeNo] = seq
	}
}
