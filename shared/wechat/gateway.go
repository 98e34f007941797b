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
	CloseOrder(ctx context.Context, outTradeNo string) error
}

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
}

// Transfers is WeChat Pay's transfer bills (商家转账), on API v3 only.
type Transfers interface {
	MerchantID() string
	CreateTransfer(ctx context.Context, req TransferRequest) (TransferResult, error)
	QueryTransfer(ctx context.Context, outBillNo string) (TransferResult, error)
	CancelTransfer(ctx context.Context, outBillNo string) (TransferResult, error)
}
