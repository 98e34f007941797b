package cloudpay

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"time"
)

// RefundStatus is the refund state machine of design.md §4:
// pending_review → approved | rejected; approved → processing →
// succeeded | failed (retryable or not) | closed | abnormal.
type RefundStatus string

const (
	RefundPendingReview RefundStatus = "pending_review"
	RefundApproved      RefundStatus = "approved" // accepted here, waiting for its turn at WeChat
	RefundRejected      RefundStatus = "rejected"
	RefundProcessing    RefundStatus = "processing" // sent; WeChat's answer pending or unknown
	RefundSucceeded     RefundStatus = "succeeded"
	RefundFailed        RefundStatus = "failed"
	RefundClosed        RefundStatus = "closed"
	RefundAbnormal      RefundStatus = "abnormal"
)

// Final reports whether nothing more can happen to a refund in this status.
// A failed refund that is retryable is not final.
func (s RefundStatus) Final() bool {
	return s == RefundRejected || s == RefundSucceeded || s == RefundClosed
}

// RefundState is WeChat's state of a refund (v3 names; v2's are mapped).
type RefundState string

const (
	RefundStateSuccess    RefundState = "SUCCESS"
	RefundStateProcessing RefundState = "PROCESSING"
	RefundStateClosed     RefundState = "CLOSED"
	RefundStateAbnormal   RefundState = "ABNORMAL"
	// RefundStateNotExist means WeChat has no refund with that number.
	RefundStateNotExist RefundState = "NOTEXIST"
)

// RefundRequest is what a channel needs to ask WeChat for a refund.
type RefundRequest struct {
	OutTradeNo  string
	OutRefundNo string
	TotalFen    Fen // the order's amount
	RefundFen   Fen // this refund
	Reason      string
	EnvID       string // Cloud Hosting environment that receives the refund callback
}

// RefundResult is WeChat's view of one refund.
type RefundResult struct {
	OutRefundNo string
	OutTradeNo  string
	RefundID    string // WeChat's refund number
	State       RefundState
	RefundFen   Fen
	TotalFen    Fen
	MchID       string
	Account     string // where the money went (user_received_account)
	SucceededAt time.Time
}

// WeChatError is a refusal or failure that WeChat reported, in its own
// words. Gateways put it in the Err of an *Error so that use cases can tell
// a retryable failure from a final one.
type WeChatError struct {
	Code       string // err_code (v2) or code (v3), e.g. SYSTEM_ERROR
	Message    string
	HTTPStatus int // v3 only
}

func (e *WeChatError) Error() string { return "wechat: " + e.Code + ": " + e.Message }

// WeChatErrorOf returns the WeChatError in err's chain, if any.
func WeChatErrorOf(err error) (*WeChatError, bool) {
	var we *WeChatError
	ok := errors.As(err, &we)
	return we, ok
}

var outRefundNoPattern = regexp.MustCompile(`^[0-9A-Za-z_\-|*@]{1,64}$`)

// ValidOutRefundNo reports whether s follows WeChat's rule for merchant
// refund numbers: 1–64 characters of digits, letters and _-|*@.
func ValidOutRefundNo(s string) bool { return outRefundNoPattern.MatchString(s) }

// OutRefundNoForKey derives the refund number of an idempotency key, so
// that every submission of the same key names the same refund at WeChat.
func OutRefundNoForKey(key string) string {
	sum := sha256.Sum256([]byte("refund-key:" + key))
	return "RF" + hex.EncodeToString(sum[:16])
}

// NewOutRefundNo generates a refund number for a refund without a key.
func NewOutRefundNo(now time.Time) string {
	return "RQ" + now.In(Beijing).Format("20060102150405") + randomString(16)
}

// RefundHint is what an unsigned refund callback claims; it proves nothing
// and is confirmed by querying WeChat.
type RefundHint struct {
	OutRefundNo string
	OutTradeNo  string
	MchID       string
	State       RefundState // what the callback says; informational only
}
