package mongostore

import (
	"context"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

func (s *Store) walletLedger() ledger[cloudpay.WalletEntry, *cloudpay.WalletEntry] {
	return ledger[cloudpay.WalletEntry, *cloudpay.WalletEntry]{s: s, col: colWalletLedger}
}

// AppendWalletEntry appends the entry next builds to a user's wallet under
// ref; an existing entry with ref is returned instead, with appended false.
func (s *Store) AppendWalletEntry(ctx context.Context, openid, ref string, next cloudpay.NextEntry[cloudpay.WalletEntry]) (cloudpay.WalletEntry, bool, error) {
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

// SaveProfile stores a user's profile.
func (s *Store) SaveProfile(ctx context.Context, p withdraw.Profile) error {
	return replaceByID(ctx, s.db.Collection(colWallets), p.OpenID, p)
}

// Profile loads a user's profile (empty if none).
func (s *Store) Profile(ctx context.Context, openid string) (withdraw.Profile, error) {
	p, found, err := findByID[withdraw.Profile](ctx, s.db.Collection(colWallets), openid)
	if err == nil && !found {
		p.OpenID = openid
	}
	return p, err
}

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
