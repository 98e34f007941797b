package httpapi

import (
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
)

// preparedView is a Native, H5 or Alipay payment ready for the user.
type preparedView struct {
	OutTradeNo  string    `json:"out_trade_no"`
	AmountFen   int64     `json:"amount_fen"`
	Method      string    `json:"method"`
	CodeURL     string    `json:"code_url,omitempty"`     // native: show as a QR code
	H5URL       string    `json:"h5_url,omitempty"`       // h5: open in the payer's browser
	QRCode      string    `json:"qr_code,omitempty"`      // alipay_qr: show as a QR code
	PayURL      string    `json:"pay_url,omitempty"`      // alipay_wap: open in the payer's browser
	ExpiresAt   time.Time `json:"expires_at"`             // when it stops working
	CheckoutURL string    `json:"checkout_url,omitempty"` // native: the hosted checkout page, signed
}

func viewPrepared(p payment.Prepared) preparedView {
	v := preparedView{
		OutTradeNo: p.Order.OutTradeNo, AmountFen: int64(p.Order.AmountFen), Method: string(p.Method), ExpiresAt: p.ExpiresAt.UTC(),
	}
	if p.Method.Provider() == cloudpay.ProviderAlipay {
		v.QRCode, v.PayURL = p.CodeURL, p.H5URL
	} else {
		v.CodeURL, v.H5URL = p.CodeURL, p.H5URL
	}
	return v
}

// balancePaymentView answers a payment from the wallet balance: the order,
// paid.
type balancePaymentView struct {
	OutTradeNo string     `json:"out_trade_no"`
	AmountFen  int64      `json:"amount_fen"`
	Method     string     `json:"method"`
	Status     string     `json:"status"`
	PaidAt     *time.Time `json:"paid_at,omitempty"`
}

func viewBalancePayment(o cloudpay.Order) balancePaymentView {
	return balancePaymentView{
		OutTradeNo: o.OutTradeNo, AmountFen: int64(o.AmountFen), Method: string(cloudpay.MethodBalance),
		Status: string(o.Status), PaidAt: utc(o.PaidAt),
	}
}
