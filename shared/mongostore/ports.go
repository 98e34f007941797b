package mongostore

import (
	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/miniapp"
	"github.com/cloudpay/cloudpay/shared/operator"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/recon"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/shipping"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// The store is every use case's store (each declares what it may do).
var (
	_ payment.Store  = (*Store)(nil)
	_ refund.Store   = (*Store)(nil)
	_ withdraw.Store = (*Store)(nil)
	_ job.Store      = (*Store)(nil)
	_ outbox.Store   = (*Store)(nil)
	_ operator.Store = (*Store)(nil)
	_ recon.Store    = (*Store)(nil)
	_ shipping.Store = (*Store)(nil)
	_ miniapp.Tokens = (*Store)(nil)
)
