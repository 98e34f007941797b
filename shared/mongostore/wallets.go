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

// WalletEntryByRef finds the entry of one movement. On the embedded store
// this scans: callers reach it after a crash or for a refund's query, not
// on every request.
func (s *Store) WalletEntryByRef(ctx context.Context, ref string) (cloudpay.WalletEntry, bool, error) {
	e, err := s.walletLedger().byRef(ctx, ref)
	if err != nil || e == nil {
		return cloudpay.WalletEntry{}, false, err
	}
	return *e, true, nil
}
