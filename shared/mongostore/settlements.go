package mongostore

import (
	"context"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// ClaimSettlement inserts the one settlement an order may ever have. It
// returns the settlement that holds (this one or the one that won earlier)
// and whether this call inserted it.
func (s *Store) ClaimSettlement(ctx context.Context, st cloudpay.Settlement) (cloudpay.Settlement, bool, error) {
	return insertOnce(ctx, s.db.Collection(colSettlements), st.OutTradeNo, st)
}

// Settlement returns an order's settlement, if it has one.
func (s *Store) Settlement(ctx context.Context, outTradeNo string) (cloudpay.Settlement, bool, error) {
	return findByID[cloudpay.Settlement](ctx, s.db.Collection(colSettlements), outTradeNo)
}
