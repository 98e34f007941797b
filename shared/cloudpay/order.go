package cloudpay

import (
	"crypto/rand"
	"regexp"
	"time"
)

// OrderStatus is the order state machine of design.md §4:
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

// Order is a merchant order. It is a projection: the settlement claim is the
// authority on whether it was paid (design.md §4).
type Order struct {
	OutTradeNo    string      `json:"out_trade_no" bson:"_id"`
	OpenID        string      `json:"openid" bson:"openid"`
	AmountFen     Fen         `json:"amount_fen" bson:"amount_fen"`
	Description   string      `json:"description" bson:"description"`
	Attach        string      `json:"attach,omitempty" bson:"attach,omitempty"`
	ExpireMinutes int         `json:"expire_minutes" bson:"expire_minutes"`
	Status        OrderStatus `json:"status" bson:"status"`
	CreatedAt     time.Time   `json:"created_at" bson:"created_at"`
	ExpiresAt     time.Time   `json:"expires_at" bson:"expires_at"`
	PrepayID      string      `json:"-" bson:"prepay_id,omitempty"`
	TransactionID string      `json:"transaction_id,omitempty" bson:"transaction_id,omitempty"`
	PaidAt        *time.Time  `json:"paid_at,omitempty" bson:"paid_at,omitempty"`
	RefundedFen   Fen         `json:"refunded_fen,omitempty" bson:"refunded_fen,omitempty"`
	RefundSeq     int64       `json:"-" bson:"refund_seq,omitempty"` // the refund ledger entry the status reflects
	UpdatedAt     time.Time   `json:"updated_at" bson:"updated_at"`
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
