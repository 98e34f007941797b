package withdraw

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// BalanceStore is what paying from the wallet may do to the store: the
// wallet ledger alone.
type BalanceStore interface {
	AppendWalletEntry(ctx context.Context, openid, ref string, next cloudpay.NextEntry[cloudpay.WalletEntry]) (cloudpay.WalletEntry, bool, error)
	WalletTail(ctx context.Context, openid string) (cloudpay.WalletEntry, bool, error)
	WalletEntryByRef(ctx context.Context, ref string) (cloudpay.WalletEntry, bool, error)
}

// Balance is the wallet as a way to pay: orders paid from the available
// balance, the payments that did not take given back, and refunds of
// such orders credited. Each movement is one ledger entry under a unique
// ref, so none applies twice, and the ledger's rules run against its
// newest entry, so no payment spends money twice (docs/design.md §4). It
// makes no WeChat call, so it works on every channel.
type Balance struct {
	store BalanceStore
	now   func() time.Time
}

// NewBalance builds the wallet's payment side.
func NewBalance(store BalanceStore, now func() time.Time) *Balance {
	if now == nil {
		now = time.Now
	}
	return &Balance{store: store, now: now}
}

func (b *Balance) clock() time.Time { return b.now().UTC().Truncate(time.Millisecond) }

// Available returns what a user can spend now.
func (b *Balance) Available(ctx context.Context, openid string) (cloudpay.Fen, error) {
	tail, _, err := b.store.WalletTail(ctx, openid)
	if err != nil {
		return 0, fmt.Errorf("wallet: %w", err)
	}
	return tail.AvailableFen, nil
}

// Spend takes amount from the user's available balance for an order,
// once per ref: the same ref again returns the entry that took it. More
// than the available balance is CodeInsufficientBalance, and changes
// nothing.
func (b *Balance) Spend(ctx context.Context, openid, ref string, amount cloudpay.Fen, outTradeNo string) (cloudpay.WalletEntry, error) {
	now := b.clock()
	e, _, err := b.store.AppendWalletEntry(ctx, openid, ref, func(tail cloudpay.WalletEntry, _ bool) (cloudpay.WalletEntry, error) {
		if tail.AvailableFen < amount {
			return cloudpay.WalletEntry{}, cloudpay.Errorf(cloudpay.CodeInsufficientBalance,
				"the balance is %d fen; the order is %d fen", tail.AvailableFen, amount)
		}
		e := next(tail, cloudpay.EntryPayment, amount, now)
		e.OutTradeNo = outTradeNo
		e.AvailableFen -= amount
		e.DebitedFen += amount
		return e, nil
	})
	if err != nil {
		return cloudpay.WalletEntry{}, fmt.Errorf("pay from balance: %w", err)
	}
	if e.Kind != cloudpay.EntryPayment || e.OpenID != openid || e.AmountFen != amount {
		return cloudpay.WalletEntry{}, fmt.Errorf("pay from balance: ref %s holds another movement", ref)
	}
	return e, nil
}

// GiveBack credits money back to a user's wallet once per ref: a balance
// payment that did not settle its order (EntryReversal) or a refund of an
// order paid from the balance (EntryRefund).
func (b *Balance) GiveBack(ctx context.Context, openid, ref string, kind cloudpay.WalletEntryKind, amount cloudpay.Fen, outTradeNo, outRefundNo string) (cloudpay.WalletEntry, error) {
	if kind != cloudpay.EntryReversal && kind != cloudpay.EntryRefund {
		return cloudpay.WalletEntry{}, fmt.Errorf("give back: %q is not a kind of giving back", kind)
	}
	now := b.clock()
	e, _, err := b.store.AppendWalletEntry(ctx, openid, ref, func(tail cloudpay.WalletEntry, _ bool) (cloudpay.WalletEntry, error) {
		e := next(tail, kind, amount, now)
		e.OutTradeNo, e.OutRefundNo = outTradeNo, outRefundNo
		e.CreditedFen += amount
		e.AvailableFen += amount
		return e, nil
	})
	if err != nil {
		return cloudpay.WalletEntry{}, fmt.Errorf("give back to the wallet: %w", err)
	}
	if e.Kind != kind || e.OpenID != openid || e.AmountFen != amount {
		return cloudpay.WalletEntry{}, fmt.Errorf("give back to the wallet: ref %s holds another movement", ref)
	}
	return e, nil
}

// Entry finds the movement under ref, if there is one.
func (b *Balance) Entry(ctx context.Context, ref string) (cloudpay.WalletEntry, bool, error) {
	return b.store.WalletEntryByRef(ctx, ref)
}
