package cloudpay

import (
	"crypto/sha256"
	"math/big"
	"strings"
	"time"
)

// PayMethod is how a user pays an order.
type PayMethod string

const (
	MethodJSAPI     PayMethod = "jsapi"      // inside the mini-program (wx.requestPayment)
	MethodNative    PayMethod = "native"     // a QR code scanned with WeChat (API v3)
	MethodH5        PayMethod = "h5"         // a mobile browser outside WeChat (API v3)
	MethodBalance   PayMethod = "balance"    // the user's wallet balance; no outside call
	MethodAlipayQR  PayMethod = "alipay_qr"  // a QR code scanned with Alipay (alipay.trade.precreate)
	MethodAlipayWap PayMethod = "alipay_wap" // Alipay's mobile-web cashier (alipay.trade.wap.pay)
)

// Providers: who takes a payment.
const (
	ProviderWeChat = "wechat"
	ProviderAlipay = "alipay"
)

// Valid reports whether m is a method cloudpay knows.
func (m PayMethod) Valid() bool {
	switch m {
	case MethodJSAPI, MethodNative, MethodH5, MethodBalance, MethodAlipayQR, MethodAlipayWap:
		return true
	}
	return false
}

// Provider is who takes a payment by m: ProviderWeChat, ProviderAlipay, or ""
// for the balance, which no one outside holds.
func (m PayMethod) Provider() string {
	switch m {
	case MethodBalance:
		return ""
	case MethodAlipayQR, MethodAlipayWap:
		return ProviderAlipay
	}
	return ProviderWeChat
}

// Outside reports whether a payment by m is made at a provider (WeChat or
// Alipay), which must be asked and closed.
func (m PayMethod) Outside() bool { return m.Provider() != "" }

// Trade types of Alipay's payments, as the Alipay gateway reports them in
// the channel vocabulary (shared/alipay).
const (
	TradeTypeAlipayQR  = "ALIPAY_QR"
	TradeTypeAlipayWap = "ALIPAY_WAP"
)

// MethodOfTradeType maps a provider's trade type to the method.
func MethodOfTradeType(tradeType string) PayMethod {
	switch tradeType {
	case "NATIVE":
		return MethodNative
	case "MWEB":
		return MethodH5
	case TradeTypeAlipayQR:
		return MethodAlipayQR
	case TradeTypeAlipayWap:
		return MethodAlipayWap
	}
	return MethodJSAPI
}

// Prepay is one attempt to pay an order by one method, under its own
// number at WeChat (docs/design.md §4, "one live prepay"): WeChat never
// lets an out_trade_no change its trade type or be prepaid again once
// closed (docs/native-h5.md §3), so each attempt has its own TradeNo, the
// first the order's own number. Inserted under the unique TradeNo before
// WeChat hears of it; the attempt that follows is not prepaid before every
// earlier one has been closed.
type Prepay struct {
	TradeNo    string    `bson:"_id"`          // the out_trade_no WeChat knows
	OutTradeNo string    `bson:"out_trade_no"` // the order
	N          int       `bson:"n"`            // 1, 2, ...: the order's attempts in turn
	Method     PayMethod `bson:"method"`
	// ClientIP and ExpiresAt are sent to WeChat; asking again for the same
	// attempt replays them, as WeChat requires ("使用原参数").
	ClientIP  string    `bson:"client_ip,omitempty"`
	H5Type    string    `bson:"h5_type,omitempty"`
	ExpiresAt time.Time `bson:"expires_at"`
	CreatedAt time.Time `bson:"created_at"`
	// Implicit marks attempt 1 of an order prepaid before attempts were
	// stored (JSAPI, under the order's number); never stored.
	Implicit bool `bson:"-"`
}

// PrepayEnd is the claim that ends an attempt: WeChat closed it, or (a
// balance attempt, which WeChat never sees) it was used or closed. One
// insert under the attempt's TradeNo decides between a balance payment
// and a switch to another method.
type PrepayEnd struct {
	TradeNo    string    `bson:"_id"`
	OutTradeNo string    `bson:"out_trade_no"`
	Outcome    string    `bson:"outcome"` // PrepayClosed or PrepayUsed
	CreatedAt  time.Time `bson:"created_at"`
}

// Prepay end outcomes.
const (
	PrepayClosed = "closed" // nobody can pay under the attempt any more
	PrepayUsed   = "used"   // a balance attempt that took the money: it settles the order
)

// attemptPrefix starts the WeChat number of every attempt after the first.
// Order numbers that start with it are refused (ValidOrderNumber), so an
// attempt's number never names an order.
const attemptPrefix = "CPA"

// TradeNoOf names attempt n of an order at WeChat: the order's own number
// for the first, then "CPA" and 29 characters derived from the order and
// n (32 in all, WeChat's maximum), the same on every retry.
func TradeNoOf(outTradeNo string, n int) string {
	if n <= 1 {
		return outTradeNo
	}
	sum := sha256.Sum256([]byte(outTradeNo + "\x00" + big.NewInt(int64(n)).String()))
	digits := new(big.Int).SetBytes(sum[:]).Text(62)
	for len(digits) < 29 {
		digits = "0" + digits
	}
	return attemptPrefix + digits[:29]
}

// IsAttemptNo reports whether a WeChat out_trade_no names a later attempt
// (one that must be looked up to find its order).
func IsAttemptNo(tradeNo string) bool { return strings.HasPrefix(tradeNo, attemptPrefix) }
