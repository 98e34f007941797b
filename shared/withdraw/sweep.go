package withdraw

import (
	"context"
	"fmt"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Sweep makes the projection of one wallet ledger entry true, for the
// job's sweep of the ledger: a request that died between the entry and
// its document is finished here, through the paths live requests take.
// It is idempotent, and tells whether it repaired anything.
//
//   - a freeze whose withdrawal was never stored: the withdrawal, from the
//     entry's snapshot, as created; the job then sends it, as the user
//     asked;
//   - a debit or unfreeze: the withdrawal's final status, from its
//     outcome claim.
//
// An error with a domain code is about the entry itself and would come
// again; any other is the store's, and the next sweep tries again.
func (s *Service) Sweep(ctx context.Context, e cloudpay.WalletEntry) (bool, error) {
	var repaired bool
	var err error
	switch e.Kind {
	case cloudpay.EntryFreeze:
		repaired, err = s.sweepFreeze(ctx, e)
	case cloudpay.EntryDebit, cloudpay.EntryUnfreeze:
		var w, after cloudpay.Withdrawal
		if w, err = s.store.Withdrawal(ctx, e.WithdrawalID); err == nil {
			after, err = s.chain.Current(ctx, w)
			repaired = after.Status != w.Status
		}
	}
	if err != nil {
		return repaired, fmt.Errorf("sweep %s: %w", e.Ref, err)
	}
	if repaired {
		s.log.WarnContext(ctx, "withdrawal projection repaired from the ledger", "ref", e.Ref, "withdrawal_id", e.WithdrawalID)
	}
	return repaired, nil
}

// sweepFreeze stores the withdrawal a freeze was made for, if it is
// missing. A live request storing it meanwhile is harmless: the insert is
// decided once, and both write the entry's withdrawal.
func (s *Service) sweepFreeze(ctx context.Context, e cloudpay.WalletEntry) (bool, error) {
	_, err := s.store.Withdrawal(ctx, e.WithdrawalID)
	if cloudpay.ErrorCode(err) != cloudpay.CodeWithdrawalNotFound {
		return false, err
	}
	if e.Withdrawal == nil {
		return false, cloudpay.Errorf(cloudpay.CodeWithdrawalNotFound,
			"%d fen are frozen for withdrawal %s, which was never stored and cannot be rebuilt (the entry has no snapshot)",
			e.AmountFen, e.WithdrawalID)
	}
	w := *e.Withdrawal
	w.FreezeSeq = e.Seq
	_, inserted, err := s.store.InsertWithdrawal(ctx, w)
	return inserted, err
}
