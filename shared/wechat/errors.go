package wechat

import (
	"errors"
	"net/http"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Error is a refusal or failure that WeChat reported, in its own words.
// Gateways put it in the Err of a *cloudpay.Error so that use cases can
// tell a retryable failure from a final one.
type Error struct {
	Code       string // err_code (v2) or code (v3), e.g. SYSTEM_ERROR
	Message    string
	HTTPStatus int // v3 only
}

func (e *Error) Error() string { return "wechat: " + e.Code + ": " + e.Message }

// ErrorOf returns the WeChat error in err's chain, if any.
func ErrorOf(err error) (*Error, bool) {
	var we *Error
	ok := errors.As(err, &we)
	return we, ok
}

// CallFailure is what a failed call to WeChat means for an outbound effect
// (a refund, a transfer) made under a fixed number.
type CallFailure int

const (
	// Unknown: no verdict (a timeout, unreachable, an unreadable reply):
	// nothing says the effect was not made.
	Unknown CallFailure = iota
	// Retryable: refused for now; the same number may be sent later.
	Retryable
	// Final: refused for good, once WeChat confirms it holds nothing under
	// the number (an earlier attempt may have reached it).
	Final
)

// retryableCodes are WeChat's codes that mean "not now" (v3 and v2 names).
var retryableCodes = map[string]bool{
	"SYSTEM_ERROR": true, "SYSTEMERROR": true, "FREQUENCY_LIMITED": true, "RATELIMIT_EXCEEDED": true,
	"NOT_ENOUGH": true, "NOTENOUGH": true, "SERVICE_UNAVAILABLE": true, "BIZERR_NEED_RETRY": true,
	"ERROR": true, // v2: "retry with the same parameters"
}

// Classify tells what a failed call's error means.
func Classify(err error) CallFailure {
	// Another provider's refusal (Alipay's) classifies itself.
	var other interface{ CallFailure() CallFailure }
	if errors.As(err, &other) {
		return other.CallFailure()
	}
	we, ok := ErrorOf(err)
	switch {
	case !ok:
		return Unknown
	case retryableCodes[we.Code] || we.HTTPStatus == http.StatusTooManyRequests || we.HTTPStatus >= 500:
		return Retryable
	}
	return Final
}

// FailureOf describes an error for people: WeChat's own code and words if
// WeChat refused, else ours.
func FailureOf(err error) *cloudpay.Failure {
	if we, ok := ErrorOf(err); ok {
		return &cloudpay.Failure{Code: we.Code, Message: we.Message}
	}
	msg := "WeChat Pay did not answer"
	var e *cloudpay.Error
	if errors.As(err, &e) {
		msg = e.Message
	}
	return &cloudpay.Failure{Code: string(cloudpay.ErrorCode(err)), Message: msg}
}
