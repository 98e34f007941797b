package cloudpay

import (
	"crypto/rand"
	"regexp"
	"time"
)

// OrderStatus is the order state machine of docs/design.md §4:
// unpaid → paying → paid | closed; after payment partially_refunded, refunded.
type OrderStatus string

const (
	OrderUnpaid            OrderStatus = "unpaid"
	OrderPaying            OrderStatus = "paying"
	OrderPaid              OrderStatus = "paid"
	OrderClosed            OrderStatus = "closed"
	OrderPartiallyRefunded OrderStatus = "partially_refunded"
	OrderRefunded          OrderStatus = "refunded"
)

// AwaitingPayment reports whether WeChat may still take money for the order.
func (s OrderStatus) AwaitingPayment() bool { return s == OrderUnpaid || s == OrderPaying }

// Settled is the settlement an order's status shows, if it shows one: a
// paid order stays paid whatever its refunds.
func (s OrderStatus) Settled() SettlementOutcome {
	switch s {
	case OrderPaid, OrderPartiallyRefunded, OrderRefunded:
		return SettledPaid
	case OrderClosed:
		return SettledClosed
	}
	return ""
}

// Order is a merchant order. It is a projection: the settlement claim is the
// authority on whether it was paid (docs/design.md §4).
type Order struct {
	OutTradeNo    string      `bson:"_id"`
	OpenID        string      `bson:"openid"`
	AmountFen     Fen         `bson:"amount_fen"`
	Description   string      `bson:"description"`
	Attach        string      `bson:"attach,omitempty"`
	ExpireMinutes int         `bson:"expire_minutes"`
	Status        OrderStatus `bson:"status"`
	CreatedAt     time.Time   `bson:"created_at"`
	ExpiresAt     time.Time   `bson:"expires_at"`
	PrepayID      string      `bson:"prepay_id,omitempty"`
	TransactionID string      `bson:"transaction_id,omitempty"`
	PaidAt        *time.Time  `bson:"paid_at,omitempty"`
	RefundedFen   Fen         `bson:"refunded_fen,omitempty"`
	RefundSeq     int64       `bson:"refund_seq,omitempty"` // the refund ledger entry the status reflects
	UpdatedAt     time.Time   `bson:"updated_at"`
	// Adopted marks a payment made outside cloudpay and recorded from
	// WeChat's answer alone (POST /orders/adopt, a refund by transaction_id).
	Adopted bool `bson:"adopted,omitempty"`
	// Method is how the order is being paid (its newest attempt) and, once
	// paid, how it was paid. TradeNo is the number WeChat knows that
	// attempt or payment by, when it is not the order's own (a later
	// attempt, shared/cloudpay/prepay.go); WeChatTradeNo gives either.
	Method  PayMethod `bson:"method,omitempty"`
	TradeNo string    `bson:"trade_no,omitempty"`
	// ShippingState is "shipped" or "partly_shipped" once WeChat's trade
	// management took an upload (shared/shipping).
	ShippingState string `bson:"shipping_state,omitempty"`
}

// WeChatTradeNo is the out_trade_no WeChat knows the order's payment by.
func (o Order) WeChatTradeNo() string {
	if o.TradeNo != "" {
		return o.TradeNo
	}
	return o.OutTradeNo
}

// SameRequest reports whether o was created from the same request as other:
// the fields a caller chooses, not the ones the service derives.
func (o Order) SameRequest(other Order) bool {
	return o.OutTradeNo == other.OutTradeNo && o.OpenID == other.OpenID &&
		o.AmountFen == other.AmountFen && o.Description == other.Description &&
		o.Attach == other.Attach && o.ExpireMinutes == other.ExpireMinutes
}

// Expired reports whether the order can no longer be paid at now.
func (o Order) Expired(now time.Time) bool { return !now.Before(o.ExpiresAt) }

var (
	outTradeNoPattern = regexp.MustCompile(`^[0-9A-Za-z_\-|*]{6,32}$`)
	openIDPattern     = regexp.MustCompile(`^[0-9A-Za-z_\-]{1,128}$`)
)

// ValidOutTradeNo reports whether s follows WeChat's rule for merchant order
// numbers: 6–32 characters of digits, letters and _-|* (API v3's rule; the
// open interface's 1–32 is looser, and one order may use either channel).
func ValidOutTradeNo(s string) bool { return outTradeNoPattern.MatchString(s) }

// ValidOpenID reports whether s looks like a WeChat openid.
func ValidOpenID(s string) bool { return openIDPattern.MatchString(s) }

const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewOutTradeNo generates an order number: "CP", the Beijing time to the
// second, and 12 random characters; 28 characters, within WeChat's 32.
func NewOutTradeNo(now time.Time) string {
	return "CP" + now.In(Beijing).Format("20060102150405") + randomString(12)
}

// Nonce is a random string that names one attempt at a claim (a ledger
// entry's ref), so two attempts never collide.
func Nonce() string { return randomString(16) }

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// Beijing is WeChat Pay's time zone (UTC+8, no daylight saving). A fixed
// zone avoids depending on tzdata being present in minimal images.
var Beijing = time.FixedZone("Asia/Shanghai", 8*60*60)
