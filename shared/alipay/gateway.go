package alipay

import (
	"context"
	"net/url"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Gateway is the Alipay channel in the vocabulary the pay and refund use
// cases share with WeChat's channels (package wechat): an Alipay trade is
// queried and closed like a WeChat order, refunded like one, and its
// notification read as a transaction. It satisfies payment.Alipay,
// refund.AlipayRefunds and the payment-callback's Alipay notifications.
type Gateway struct{ c *Client }

// NewGateway wraps a client.
func NewGateway(c *Client) *Gateway { return &Gateway{c: c} }

// TradeType is what an Alipay trade reports as its trade type; which
// Alipay method paid is the attempt's (payment.Service keeps it).
const TradeType = cloudpay.TradeTypeAlipayQR

// MerchantID is the seller (PID) every trade must name.
func (g *Gateway) MerchantID() string { return g.c.SellerID() }

// Prepay is WeChat's mini-program payment, which Alipay does not have.
func (g *Gateway) Prepay(context.Context, wechat.PrepayRequest) (string, wechat.PaymentParams, error) {
	return "", wechat.PaymentParams{}, cloudpay.Errorf(cloudpay.CodeMethodNotSupported, "Alipay has no mini-program payment")
}

func order(req wechat.PrepayRequest) Order {
	return Order{OutTradeNo: req.Order.OutTradeNo, Subject: req.Order.Description, AmountFen: req.Order.AmountFen, ExpiresAt: req.Order.ExpiresAt}
}

// PrepayQR precreates the trade and returns the QR code's text.
func (g *Gateway) PrepayQR(ctx context.Context, req wechat.PrepayRequest) (string, error) {
	return g.c.Precreate(ctx, order(req))
}

// PrepayWap returns the mobile-web cashier's URL.
func (g *Gateway) PrepayWap(ctx context.Context, req wechat.PrepayRequest, returnURL string) (string, error) {
	return g.c.WapPayURL(ctx, order(req), returnURL)
}

// QueryOrder asks Alipay about the trade under tradeNo.
func (g *Gateway) QueryOrder(ctx context.Context, tradeNo string) (wechat.Transaction, error) {
	t, err := g.c.Query(ctx, tradeNo)
	if err != nil {
		return wechat.Transaction{}, err
	}
	return wechat.Transaction{
		OutTradeNo: tradeNo, TransactionID: t.TradeNo, State: stateOf(t.Status, t.PaidAt.IsZero()),
		TotalFen: t.TotalFen, MchID: g.c.SellerID(), PaidAt: t.PaidAt, TradeType: TradeType,
	}, nil
}

// QueryTransaction would find a payment by Alipay's trade_no; cloudpay
// adopts only WeChat's payments made elsewhere.
func (g *Gateway) QueryTransaction(context.Context, string) (wechat.Transaction, error) {
	return wechat.Transaction{}, cloudpay.Errorf(cloudpay.CodeMethodNotSupported, "payments made outside cloudpay are adopted from WeChat only")
}

// CloseOrder closes the trade; paid is CodeOrderPaid. A trade Alipay does
// not hold (a QR code nobody scanned, a cashier nobody opened) is
// wechat.Error ORDER_NOT_EXIST, as WeChat says it: nothing was closed, and
// the code handed out may still be paid until it lapses (payment.Service
// keeps asking till then).
func (g *Gateway) CloseOrder(ctx context.Context, tradeNo string) error {
	st, err := g.c.Close(ctx, tradeNo)
	switch {
	case err != nil:
		return err
	case st.Paid():
		return cloudpay.Errorf(cloudpay.CodeOrderPaid, "Alipay trade %s is paid", tradeNo)
	case st == NotExist:
		return &wechat.Error{Code: "ORDER_NOT_EXIST", Message: "Alipay holds no trade " + tradeNo + " yet"}
	}
	return nil
}

// stateOf is an Alipay trade status in WeChat's words. TRADE_CLOSED is
// both "closed unpaid" and "paid, then refunded in full": a payment time
// tells them apart.
func stateOf(s TradeStatus, neverPaid bool) wechat.TradeState {
	switch s {
	case TradeSuccess, TradeFinished:
		return wechat.TradeSuccess
	case WaitBuyerPay:
		return wechat.TradeNotPay
	case TradeClosed:
		if neverPaid {
			return wechat.TradeClosed
		}
		return wechat.TradeRefund
	}
	return wechat.TradeNotExist
}

// Refund asks Alipay to refund, under out_request_no = our refund number.
func (g *Gateway) Refund(ctx context.Context, req wechat.RefundRequest) (wechat.RefundResult, error) {
	res, err := g.c.Refund(ctx, Refund{OutTradeNo: req.OutTradeNo, OutRequestNo: req.OutRefundNo, AmountFen: req.RefundFen, Reason: req.Reason})
	if err != nil {
		return wechat.RefundResult{}, err
	}
	out := g.refundResult(res)
	if res.RefundFen == 0 {
		out.RefundFen = req.RefundFen // Alipay's answer tells the trade's total refunded, not this refund's
	}
	if out.State == wechat.RefundSuccess && res.RefundedTotalFen > 0 && res.RefundedTotalFen < req.RefundFen {
		// The trade's refunds so far cannot be less than this one: not
		// confirmed, the refund query settles it.
		out.State = wechat.RefundProcessing
	}
	out.TotalFen = req.TotalFen
	return out, nil
}

// QueryRefundOf asks Alipay about one refund of a trade.
func (g *Gateway) QueryRefundOf(ctx context.Context, tradeNo, outRefundNo string) (wechat.RefundResult, error) {
	res, err := g.c.QueryRefund(ctx, tradeNo, outRefundNo)
	if err != nil {
		return wechat.RefundResult{}, err
	}
	return g.refundResult(res), nil
}

// refundResult is Alipay's refund in WeChat's words. Alipay refunds at once
// or not at all (no refund notifications, no CLOSED): not confirmed yet is
// PROCESSING, found by the next query.
func (g *Gateway) refundResult(res RefundResult) wechat.RefundResult {
	out := wechat.RefundResult{OutRefundNo: res.OutRequestNo, OutTradeNo: res.OutTradeNo, RefundID: res.TradeNo + ":" + res.OutRequestNo,
		RefundFen: res.RefundFen, MchID: g.c.SellerID(), State: wechat.RefundProcessing}
	switch {
	case res.NotExist:
		out.State, out.RefundID = wechat.RefundNotExist, ""
	case res.Succeeded:
		out.State = wechat.RefundSuccess
	}
	return out
}

// ParseNotification verifies an Alipay notification's form and reads it as
// a transaction for payment.Service.Record.
func (g *Gateway) ParseNotification(form url.Values) (wechat.Transaction, error) {
	n, err := g.c.ParseNotification(form)
	if err != nil {
		return wechat.Transaction{}, err
	}
	return wechat.Transaction{
		OutTradeNo: n.OutTradeNo, TransactionID: n.TradeNo, State: stateOf(n.Status, n.PaidAt.IsZero()),
		TotalFen: n.TotalFen, MchID: n.SellerID, PaidAt: n.PaidAt, TradeType: TradeType,
	}, nil
}

// DownloadTradeBill returns Alipay's trade bill of a Beijing day, as a
// ZIP (Client.DownloadTradeBill).
func (g *Gateway) DownloadTradeBill(ctx context.Context, day string) ([]byte, error) {
	return g.c.DownloadTradeBill(ctx, day)
}
