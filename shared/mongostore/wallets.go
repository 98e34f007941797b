package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

func (s *Store) walletLedger() ledger[cloudpay.WalletEntry, *cloudpay.WalletEntry] {
	return ledger[cloudpay.WalletEntry, *cloudpay.WalletEntry]{s: s, col: colWalletLedger}
}

// AppendWalletEntry appends the entry next builds to a user's wallet under
// ref; an existing entry with ref is returned instead, with appended false.
func (s *Store) AppendWalletEntry(ctx context.Context, openid, ref string, next Next[cloudpay.WalletEntry]) (cloudpay.WalletEntry, bool, error) {
	return s.walletLedger().append(ctx, openid, ref, next)
}

// WalletTail returns the newest entry of a user's wallet.
func (s *Store) WalletTail(ctx context.Context, openid string) (cloudpay.WalletEntry, bool, error) {
	return s.walletLedger().tail(ctx, openid)
}

// WalletLedger returns all entries of a user's wallet, oldest first.
func (s *Store) WalletLedger(ctx context.Context, openid string) ([]cloudpay.WalletEntry, error) {
	return s.walletLedger().all(ctx, openid)
}

// Profile is what the merchant keeps about a wallet's owner.
type Profile struct {
	OpenID    string    `bson:"_id"`
	RealName  string    `bson:"real_name,omitempty"` // WeChat needs it for transfers of 2000 CNY and more
	UpdatedAt time.Time `bson:"updated_at"`
}

// SaveProfile stores a user's profile.
func (s *Store) SaveProfile(ctx context.Context, p Profile) error {
	_, err := s.db.Collection(colWallets).ReplaceOne(ctx, bson.D{{Key: "_id", Value: p.OpenID}}, p, options.Replace().SetUpsert(true))
	if err != nil && !isDuplicate(err) {
		return fmt.Errorf("save profile: %w", err)
	}
	return nil
}

// Profile loads a user's profile (empty if none).
func (s *Store) Profile(ctx context.Context, openid string) (Profile, error) {
	var p Profile
	err := s.db.Collection(colWallets).FindOne(ctx, bson.D{{Key: "_id", Value: openid}}).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Profile{OpenID: openid}, nil
	}
	if err != nil {
		return Profile{}, fmt.Errorf("find profile: %w", err)
	}
	return p, nil
}

// InsertWithdrawal stores a withdrawal unless one with its ID exists; it
// returns the stored one and whether this call inserted it.
func (s *Store) InsertWithdrawal(ctx context.Context, w cloudpay.Withdrawal) (cloudpay.Withdrawal, bool, error) {
	_, err := s.db.Collection(colWithdrawals).InsertOne(ctx, w)
	if err == nil {
		return w, true, nil
	}
	if !isDuplicate(err) {
		return cloudpay.Withdrawal{}, false, fmt.Errorf("insert withdrawal: %w", err)
	}
	held, err := s.Withdrawal(ctx, w.ID)
	return held, false, err
}

// Withdrawal loads a withdrawal.
func (s *Store) Withdrawal(ctx context.Context, id string) (cloudpay.Withdrawal, error) {
	var w cloudpay.Withdrawal
	err := s.db.Collection(colWithdrawals).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&w)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return cloudpay.Withdrawal{}, cloudpay.Errorf(cloudpay.CodeWithdrawalNotFound, "withdrawal %s not found", id)
	}
	if err != nil {
		return cloudpay.Withdrawal{}, fmt.Errorf("find withdrawal: %w", err)
	}
	return w, nil
}

// SaveWithdrawal overwrites a withdrawal's projection (see SaveRefund).
func (s *Store) SaveWithdrawal(ctx context.Context, w cloudpay.Withdrawal) error {
	_, err := s.db.Collection(colWithdrawals).ReplaceOne(ctx, bson.D{{Key: "_id", Value: w.ID}}, w, options.Replace().SetUpsert(true))
	if err != nil && !isDuplicate(err) {
		return fmt.Errorf("save withdrawal: %w", err)
	}
	return nil
}

// Withdrawals lists a user's withdrawals, newest first, up to limit.
func (s *Store) Withdrawals(ctx context.Context, openid string, limit int) ([]cloudpay.Withdrawal, error) {
	cur, err := s.db.Collection(colWithdrawals).Find(ctx, bson.D{{Key: "openid", Value: openid}},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("list withdrawals: %w", err)
	}
	out := []cloudpay.Withdrawal{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("list withdrawals: %w", err)
	}
	return out, nil
}

// WithdrawalOutcome is the claim that ends a withdrawal: the frozen money
// is debited (paid out) or unfrozen (failed, cancelled), never both.
type WithdrawalOutcome struct {
	ID             string                    `bson:"_id"` // the withdrawal's ID
	Kind           cloudpay.WalletEntryKind  `bson:"kind"`
	Outcome        cloudpay.WithdrawalStatus `bson:"outcome"`
	TransferBillNo string                    `bson:"transfer_bill_no,omitempty"`
	FailReason     string                    `bson:"fail_reason,omitempty"`
	CreatedAt      time.Time                 `bson:"created_at"`
}

// ClaimWithdrawalOutcome inserts o unless the withdrawal has an outcome; it
// returns the outcome that holds and whether this call inserted it.
func (s *Store) ClaimWithdrawalOutcome(ctx context.Context, o WithdrawalOutcome) (WithdrawalOutcome, bool, error) {
	_, err := s.db.Collection(colWdOutcomes).InsertOne(ctx, o)
	if err == nil {
		return o, true, nil
	}
	if !isDuplicate(err) {
		return WithdrawalOutcome{}, false, fmt.Errorf("claim withdrawal outcome: %w", err)
	}
	held, found, err := s.WithdrawalOutcomeOf(ctx, o.ID)
	if err == nil && !found {
		err = fmt.Errorf("claim withdrawal outcome %s: duplicate key but no document", o.ID)
	}
	return held, false, err
}

// WithdrawalOutcomeOf reads a withdrawal's outcome, if it has one.
func (s *Store) WithdrawalOutcomeOf(ctx context.Context, id string) (WithdrawalOutcome, bool, error) {
	var o WithdrawalOutcome
	err := s.db.Collection(colWdOutcomes).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&o)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return WithdrawalOutcome{}, false, nil
	}
	if err != nil {
		return WithdrawalOutcome{}, false, fmt.Errorf("read withdrawal outcome: %w", err)
	}
	return o, true, nil
}
