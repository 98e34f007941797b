package wechat

import (
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// TransferState is WeChat's state of a transfer bill (商家转账).
type TransferState string

const (
	TransferAccepted        TransferState = "ACCEPTED"
	TransferProcessing      TransferState = "PROCESSING"
	TransferWaitUserConfirm TransferState = "WAIT_USER_CONFIRM"
	TransferTransfering     TransferState = "TRANSFERING" // sic: WeChat's spelling
	TransferSuccess         TransferState = "SUCCESS"
	TransferFail            TransferState = "FAIL"
	TransferCanceling       TransferState = "CANCELING"
	TransferCancelled       TransferState = "CANCELLED"
	// TransferNotExist means WeChat has no bill with that out_bill_no.
	TransferNotExist TransferState = "NOTEXIST"
)

// Final reports whether WeChat will not change the bill any more.
func (s TransferState) Final() bool {
	return s == TransferSuccess || s == TransferFail || s == TransferCancelled
}

// TransferRequest is what the v3 channel needs to create a transfer bill.
type TransferRequest struct {
	OutBillNo string // fixed when the withdrawal is created; never changed after an unknown result
	OpenID    string
	AmountFen cloudpay.Fen
	Remark    string // shown to the user, ≤ 32 characters
	UserName  string // real name, required by WeChat at ≥ 2000 CNY; sent encrypted
}

// TransferResult is WeChat's view of one transfer bill.
type TransferResult struct {
	OutBillNo      string
	TransferBillNo string
	State          TransferState
	AmountFen      cloudpay.Fen
	OpenID         string
	MchID          string
	FailReason     string
	PackageInfo    string // for wx.requestMerchantTransfer while WAIT_USER_CONFIRM
	CreatedAt      time.Time
	UpdatedAt      time.Time
}
