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

// A ledger is an append-only list of movements per owner (an order's
// refundable amount, a user's wallet). Entries of one owner are numbered 1,
// 2, … without gaps under a unique _id (owner:seq), every movement has a
// unique ref, and every entry carries the totals after it (docs/design.md §4).
// A writer reads the newest entry, checks its rules, inserts seq+1 and, if
// another writer took that seq, tries again on the new newest entry.
type ledger[E any, P entry[E]] struct {
	s   *Store
	col string
}

// entry is what a ledger needs of its entry type.
type entry[E any] interface {
	*E
	Place(owner, ref string, seq int64)
	Position() (seq int64, ref string)
}

// maxLedgerRetries bounds how often an append retries after losing the race
// for a sequence number; each loss means another writer made progress.
const maxLedgerRetries = 1000

// append adds the entry next builds under ref. If an entry with ref exists,
// it is returned with appended false and next's answer is discarded.
func (l ledger[E, P]) append(ctx context.Context, owner, ref string, next cloudpay.NextEntry[E]) (E, bool, error) {
	var zero E
	tail, found, err := l.lastKnown(ctx, owner)
	if err != nil {
		return zero, false, err
	}
	if _, r := P(&tail).Position(); found && r == ref {
		return tail, false, nil // the newest movement is this one: a writer racing us made it
	}
	for range maxLedgerRetries {
		e, err := next(tail, found)
		if err != nil {
			// The rules may have been checked against an entry that is not
			// the newest (this process's hint is only a hint): refuse only
			// on the newest.
			if newTail, newFound, held, werr := l.walk(ctx, owner, tail, found, ref); werr != nil {
				return zero, false, werr
			} else if held != nil {
				return *held, false, nil
			} else if newSeq, _ := P(&newTail).Position(); newFound && (!found || newSeq > l.seqOf(tail)) {
				tail, found = newTail, true
				continue
			}
			if errors.Is(err, errTooSoon) {
				return zero, false, err // a spaced claim's ref is new each time: nothing to look up
			}
			// The rules may refuse because of our own movement, made by an
			// earlier attempt that died before its caller recorded it (a
			// freeze of the whole balance refuses its own retry): the
			// movement that exists is the answer.
			if held, herr := l.byRef(ctx, ref); herr != nil {
				return zero, false, herr
			} else if held != nil {
				return *held, false, nil
			}
			return zero, false, err
		}
		seq := int64(0)
		if found {
			seq, _ = P(&tail).Position()
		}
		P(&e).Place(owner, ref, seq+1)
		err = retryBusy(ctx, func() error { _, err := l.s.db.Collection(l.col).InsertOne(ctx, e); return err })
		if err == nil {
			l.s.setLedgerHint(l.col, owner, seq+1)
			return e, true, nil
		}
		if !isDuplicate(err) {
			return zero, false, fmt.Errorf("append to %s: %w", l.col, err)
		}
		// Either another writer took this seq or ref exists. Walk the entries
		// written since tail: one of them may be ours.
		newTail, newFound, held, err := l.walk(ctx, owner, tail, found, ref)
		if err != nil {
			return zero, false, err
		}
		if held != nil {
			return *held, false, nil
		}
		if newSeq, _ := P(&newTail).Position(); newFound && newSeq > seq {
			tail, found = newTail, true
			jitter(ctx)
			continue
		}
		// Nobody took the seq, so ref exists from before we started.
		held, err = l.byRef(ctx, ref)
		if err != nil {
			return zero, false, err
		}
		if held == nil {
			return zero, false, fmt.Errorf("append to %s %s: duplicate key but no entry", l.col, ref)
		}
		return *held, false, nil
	}
	return zero, false, errBusy(fmt.Errorf("append to %s %s: too much contention on %s", l.col, ref, owner))
}

// lastKnown is the entry an append builds on: the newest entry this
// process knows of, read in one lookup, or else the tail searched for. A
// newer entry makes the insert fail on its _id, and the append walks on
// from there: the rules are always checked against the entry right
// before the one inserted.
func (l ledger[E, P]) lastKnown(ctx context.Context, owner string) (E, bool, error) {
	if hint := l.s.ledgerHint(l.col, owner); hint > 0 {
		e, ok, err := l.at(ctx, owner, hint)
		if err != nil || ok {
			return e, ok, err
		}
	}
	return l.tail(ctx, owner)
}

func (l ledger[E, P]) seqOf(e E) int64 {
	seq, _ := P(&e).Position()
	return seq
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

// walk reads the entries after tail up to the newest, looking for ref on the way.
func (l ledger[E, P]) walk(ctx context.Context, owner string, tail E, found bool, ref string) (E, bool, *E, error) {
	seq := int64(0)
	if found {
		seq, _ = P(&tail).Position()
	}
	for {
		e, ok, err := l.at(ctx, owner, seq+1)
		if err != nil {
			return tail, found, nil, err
		}
		if !ok {
			if seq > 0 {
				l.s.setLedgerHint(l.col, owner, seq)
			}
			return tail, found, nil, nil
		}
		if _, r := P(&e).Position(); ref != "" && r == ref {
			return e, true, &e, nil
		}
		tail, found, seq = e, true, seq+1
	}
}

// tail finds the newest entry with point lookups by _id, the only lookup
// the embedded store indexes (FerretDB's SQLite backend pushes a filter
// down only when it is a bare _id): forward from a known seq if there is
// one, else one by one for short ledgers and then by doubling and
// bisecting (entries have no gaps). Every probe reads the entry, so the
// newest one found is the answer: two lookups when the hint holds. A
// writer appending meanwhile is caught by the insert's unique _id.
func (l ledger[E, P]) tail(ctx context.Context, owner string) (E, bool, error) {
	var last E
	lo, hi := int64(0), int64(1) // lo exists (or is 0) and last is its entry; hi is the next probe
	if hint := l.s.ledgerHint(l.col, owner); hint > 0 {
		e, ok, err := l.at(ctx, owner, hint)
		if err != nil {
			return last, false, err
		}
		if ok {
			lo, hi, last = hint, hint+1, e
		}
	}
	for step := int64(1); ; {
		e, ok, err := l.at(ctx, owner, hi)
		if err != nil {
			return last, false, err
		}
		if !ok {
			break
		}
		lo, last = hi, e
		if hi >= linearProbes {
			step *= 2
		}
		hi += step
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		e, ok, err := l.at(ctx, owner, mid)
		if err != nil {
			return last, false, err
		}
		if ok {
			lo, last = mid, e
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return last, false, nil
	}
	l.s.setLedgerHint(l.col, owner, lo)
	return last, true, nil
}

// linearProbes is how far a search without a hint probes one by one
// before doubling: most ledgers (an order's refunds, a claim's spacing)
// are that short.
const linearProbes = 4

// at reads an owner's seq-th entry.
func (l ledger[E, P]) at(ctx context.Context, owner string, seq int64) (E, bool, error) {
	var e E
	err := retryBusy(ctx, func() error {
		return l.s.db.Collection(l.col).FindOne(ctx, bson.D{{Key: "_id", Value: cloudpay.LedgerEntryID(owner, seq)}}).Decode(&e)
	})
	if errors.Is(err, mongo.ErrNoDocuments) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("read %s entry: %w", l.col, err)
	}
	return e, true, nil
}

// byRef finds the entry of one movement (nil if none). On the embedded
// store this scans; callers reach it only after a crash or a race.
func (l ledger[E, P]) byRef(ctx context.Context, ref string) (*E, error) {
	var e E
	err := retryBusy(ctx, func() error {
		return l.s.db.Collection(l.col).FindOne(ctx, bson.D{{Key: "ref", Value: ref}}).Decode(&e)
	})
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find %s entry: %w", l.col, err)
	}
	return &e, nil
}

// all returns an owner's entries, oldest first.
func (l ledger[E, P]) all(ctx context.Context, owner string) ([]E, error) {
	var out []E
	for seq := int64(1); ; seq++ {
		e, ok, err := l.at(ctx, owner, seq)
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		out = append(out, e)
	}
}

// ledgerHints remembers the newest seq seen per ledger and owner, so the
// next append starts its search there. Only a hint: a stale one costs a
// few lookups.
type ledgerHints struct {
	mu sync.Mutex
	m  map[string]int64
}

const maxLedgerHints = 10000

func (s *Store) ledgerHint(col, owner string) int64 {
	s.hints.mu.Lock()
	defer s.hints.mu.Unlock()
	return s.hints.m[col+"\x00"+owner]
}

func (s *Store) setLedgerHint(col, owner string, seq int64) {
	s.hints.mu.Lock()
	defer s.hints.mu.Unlock()
	if s.hints.m == nil || len(s.hints.m) >= maxLedgerHints {
		s.hints.m = map[string]int64{}
	}
	if k := col + "\x00" + owner; seq > s.hints.m[k] {
		s.hints.m[k] = seq
	}
}
