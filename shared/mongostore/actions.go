package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// actionEntry is one claimed action of the scheduled job on one subject
// (close an order, query a refund, deliver an event). The actions on a
// subject form a ledger, so two passes running at once cannot both claim
// the next one.
type actionEntry struct {
	ID    string    `bson:"_id"` // action:subject:seq
	Owner string    `bson:"owner"`
	Seq   int64     `bson:"seq"`
	Ref   string    `bson:"ref"` // owner@pass
	At    time.Time `bson:"at"`
}

func (e *actionEntry) Place(owner, ref string, seq int64) {
	e.ID, e.Owner, e.Ref, e.Seq = cloudpay.LedgerEntryID(owner, seq), owner, ref, seq
}

func (e *actionEntry) Position() (int64, string) { return e.Seq, e.Ref }

var errTooSoon = errors.New("the previous action is too recent")

// ClaimAction claims the right to act on subject now, for the job pass
// pass: it succeeds unless the previous claim of this action on subject is
// younger than spacing (or belongs to this pass). Of two passes racing for
// the same action, exactly one wins.
func (s *Store) ClaimAction(ctx context.Context, action, subject, pass string, spacing time.Duration, now time.Time) (bool, error) {
	owner := action + ":" + subject
	l := ledger[actionEntry, *actionEntry]{s: s, col: colActions}
	if s.ledgerHint(colActions, owner) == 0 {
		// Most subjects are acted on once or twice (a callback's query, a
		// close): try the first claim without looking for earlier ones. A
		// duplicate key means there are some, and the append below decides.
		e := actionEntry{At: now}
		e.Place(owner, owner+"@"+pass, 1)
		err := retryBusy(ctx, func() error { _, err := s.db.Collection(colActions).InsertOne(ctx, e); return err })
		if err == nil {
			s.setLedgerHint(colActions, owner, 1)
			return true, nil
		}
		if !isDuplicate(err) {
			return false, fmt.Errorf("claim %s: %w", owner, err)
		}
	}
	_, appended, err := l.append(ctx, owner, owner+"@"+pass, func(tail actionEntry, found bool) (actionEntry, error) {
		if found && now.Sub(tail.At) < spacing {
			return tail, errTooSoon
		}
		return actionEntry{At: now}, nil
	})
	if errors.Is(err, errTooSoon) {
		return false, nil
	}
	return appended, err
}
