package wechat

import "context"

// Channel names (PAY_CHANNEL): which WeChat Pay interface carries payments
// and refunds. Transfers exist only on API v3.
const (
	CloudHosting = "cloudhosting" // the Cloud Hosting open interface: no keys, no certificates
	V3           = "v3"           // API v3 through wechatpay-go
)

// Payments is WeChat Pay's orders, whichever channel carries them.
type Payments interface {
	MerchantID() string
	Prepay(ctx context.Context, req PrepayRequest) (prepayID string, params PaymentParams, err error)
	QueryOrder(ctx context.Context, outTradeNo string) (Transaction, error)
	// QueryTransaction asks about a payment by WeChat's transaction_id (a
	// payment made outside cloudpay). None: CodeTransactionNotFound.
	QueryTransaction(ctx context.Context, transactionID string) (Transaction, error)
	CloseOrder(ctx context.Context, outTradeNo string) error
}

// WebPayments is the payments a channel can make outside the
// mini-program: a QR code to scan (Native) and a mobile browser's cashier
// (H5). Only API v3 has them (docs/native-h5.md §1).
type WebPayments interface {
	// PrepayNative returns the code_url to show as a QR code.
	PrepayNative(ctx context.Context, req PrepayRequest) (codeURL string, err error)
	// PrepayH5 returns the h5_url the payer's browser opens; h5Type is
	// the scene (iOS, Android, Wap).
	PrepayH5(ctx context.Context, req PrepayRequest, h5Type string) (h5URL string, err error)
}

// H5 scenes (scene_info.h5_info.type; docs/native-h5.md §4).
const (
	H5TypeIOS     = "iOS"
	H5TypeAndroid = "Android"
	H5TypeWap     = "Wap"
)

// Refunds is WeChat Pay's refunds, whichever channel carries them.
type Refunds interface {
	MerchantID() string
	Refund(ctx context.Context, req RefundRequest) (RefundResult, error)
	QueryRefund(ctx context.Context, outRefundNo string) (RefundResult, error)
}

// Channel is everything a payment channel carries (PAY_CHANNEL).
type Channel interface {
	Payments
	Refunds
	Bills
}

// Bills is WeChat Pay's daily bills.
type Bills interface {
	// DownloadBill returns the bill of one Beijing day ("2006-01-02") as
	// WeChat writes it (plain text, unzipped, checked against the hash
	// WeChat gives with it). Not generated yet: CodeBillNotReady; a day
	// without one: CodeNoStatement; a bill the channel does not offer:
	// CodeBillUnsupported.
	DownloadBill(ctx context.Context, kind BillKind, day string) ([]byte, error)
}

// BillKind is which daily bill.
type BillKind string

const (
	TradeBill    BillKind = "trade"    // 交易账单: every payment and refund of the day
	FundFlowBill BillKind = "fundflow" // 资金账单: every movement of the merchant's balance
)

// Transfers is WeChat Pay's transfer bills (商家转账), on API v3 only.
type Transfers interface {
	MerchantID() string
	CreateTransfer(ctx context.Context, req TransferRequest) (TransferResult, error)
	QueryTransfer(ctx context.Context, outBillNo string) (TransferResult, error)
	CancelTransfer(ctx context.Context, outBillNo string) (TransferResult, error)
}
