package withdraw

import (
	"context"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Store is what the wallet and withdrawal use cases may do to the store.
// A wallet is an append-only ledger; a withdrawal ends in one outcome
// claim; documents are projections (docs/design.md §4).
type Store interface {
	// The wallet ledger.
	AppendWalletEntry(ctx context.Context, openid, ref string, next cloudpay.NextEntry[cloudpay.WalletEntry]) (cloudpay.WalletEntry, bool, error)
	WalletTail(ctx context.Context, openid string) (cloudpay.WalletEntry, bool, error)
	// WalletEntries lists up to limit entries with a seq below beforeSeq
	// (0: from the newest), newest first.
	WalletEntries(ctx context.Context, openid string, beforeSeq int64, limit int) ([]cloudpay.WalletEntry, error)

	// Claims: one call to WeChat per attempt, one outcome per withdrawal.
	ClaimAttempt(ctx context.Context, subject string, n int, now time.Time) (cloudpay.Attempt, bool, error)
	AttemptAt(ctx context.Context, subject string, n int) (cloudpay.Attempt, bool, error)
	ClaimWithdrawalOutcome(ctx context.Context, o Outcome) (Outcome, bool, error)
	WithdrawalOutcomeOf(ctx context.Context, id string) (Outcome, bool, error)

	// Projections and profiles.
	InsertWithdrawal(ctx context.Context, w cloudpay.Withdrawal) (cloudpay.Withdrawal, bool, error)
	Withdrawal(ctx context.Context, id string) (cloudpay.Withdrawal, error)
	SaveWithdrawal(ctx context.Context, w cloudpay.Withdrawal) error
	ListWithdrawals(ctx context.Context, openid string, status cloudpay.WithdrawalStatus, limit int) ([]cloudpay.Withdrawal, error)
	Profile(ctx context.Context, openid string) (Profile, error)
	SaveProfile(ctx context.Context, p Profile) error

	// Business notifications (the outbox).
	EnqueueEvent(ctx context.Context, e cloudpay.Event) error
}
