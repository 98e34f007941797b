package mongostore

import (
	"context"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/withdraw"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// InsertWithdrawal stores a withdrawal unless one with its ID exists; it
// returns the stored one and whether this call inserted it.
func (s *Store) InsertWithdrawal(ctx context.Context, w cloudpay.Withdrawal) (cloudpay.Withdrawal, bool, error) {
	return insertOnce(ctx, s.db.Collection(colWithdrawals), w.ID, w)
}

// Withdrawal loads a withdrawal.
func (s *Store) Withdrawal(ctx context.Context, id string) (cloudpay.Withdrawal, error) {
	w, found, err := findByID[cloudpay.Withdrawal](ctx, s.db.Collection(colWithdrawals), id)
	if err == nil && !found {
		err = cloudpay.Errorf(cloudpay.CodeWithdrawalNotFound, "withdrawal %s not found", id)
	}
	if err == nil && w.FreezeSeq > 0 {
		// Its end is appended after its freeze: a process that has not
		// seen this wallet (a notification's) starts its tail search there.
		s.setLedgerHint(colWalletLedger, w.OpenID, w.FreezeSeq)
	}
	return w, err
}

// SaveWithdrawal overwrites a withdrawal's projection (see SaveRefund).
func (s *Store) SaveWithdrawal(ctx context.Context, w cloudpay.Withdrawal) error {
	return replaceByID(ctx, s.db.Collection(colWithdrawals), w.ID, w)
}

// ClaimWithdrawalOutcome inserts o unless the withdrawal has an outcome; it
// returns the outcome that holds and whether this call inserted it.
func (s *Store) ClaimWithdrawalOutcome(ctx context.Context, o withdraw.Outcome) (withdraw.Outcome, bool, error) {
	return insertOnce(ctx, s.db.Collection(colWdOutcomes), o.ID, o)
}

// WithdrawalOutcomeOf reads a withdrawal's outcome, if it has one.
func (s *Store) WithdrawalOutcomeOf(ctx context.Context, id string) (withdraw.Outcome, bool, error) {
	return findByID[withdraw.Outcome](ctx, s.db.Collection(colWdOutcomes), id)
}

// ListWithdrawals returns withdrawals, newest first, for the operator.
func (s *Store) ListWithdrawals(ctx context.Context, openid string, status cloudpay.WithdrawalStatus, limit int) ([]cloudpay.Withdrawal, error) {
	filter := bson.D{}
	if openid != "" {
		filter = append(filter, bson.E{Key: "openid", Value: openid})
	}
	if status != "" {
		filter = append(filter, bson.E{Key: "status", Value: status})
	}
	out, _, err := newestFirst(ctx, s.db.Collection(colWithdrawals), filter, nil, limit, func(w cloudpay.Withdrawal) cloudpay.Cursor {
		return cloudpay.Cursor{CreatedAt: w.CreatedAt, ID: w.ID}
	})
	return out, err
}
