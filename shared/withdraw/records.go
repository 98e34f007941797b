package withdraw

import (
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Profile is what the merchant keeps about a wallet's owner.
type Profile struct {
	OpenID    string    `bson:"_id"`
	RealName  string    `bson:"real_name,omitempty"` // WeChat needs it for transfers of 2000 CNY and more
	UpdatedAt time.Time `bson:"updated_at"`
}

// Outcome is the claim that ends a withdrawal: the frozen money is debited
// (paid out) or unfrozen (failed, cancelled), never both.
type Outcome struct {
	ID             string                    `bson:"_id"` // the withdrawal's ID
	Kind           cloudpay.WalletEntryKind  `bson:"kind"`
	Outcome        cloudpay.WithdrawalStatus `bson:"outcome"`
	TransferBillNo string                    `bson:"transfer_bill_no,omitempty"`
	FailReason     string                    `bson:"fail_reason,omitempty"`
	CreatedAt      time.Time                 `bson:"created_at"`
}
