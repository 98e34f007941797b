package cloudpay

import (
	"errors"
	"net/http"
)

// CallFailure is what a failed call to WeChat means for an outbound effect
// (a refund, a transfer) made under a fixed number.
type CallFailure int

const (
	// CallUnknown: no verdict (a timeout, unreachable, an unreadable
	// reply): nothing says the effect was not made.
	CallUnknown CallFailure = iota
	// CallRetryable: refused for now; the same number may be sent later.
	CallRetryable
	// CallFinal: refused for good, once WeChat confirms it holds nothing
	// under the number (an earlier attempt may have reached it).
	CallFinal
)

// retryableCodes are WeChat's codes that mean "not now" (v3 and v2 names).
var retryableCodes = map[string]bool{
	"SYSTEM_ERROR": true, "SYSTEMERROR": true, "FREQUENCY_LIMITED": true, "RATELIMIT_EXCEEDED": true,
	"NOT_ENOUGH": true, "NOTENOUGH": true, "SERVICE_UNAVAILABLE": true, "BIZERR_NEED_RETRY": true,
	"ERROR": true, // v2: "retry with the same parameters"
}

// ClassifyCall tells what a failed call's error means.
func ClassifyCall(err error) CallFailure {
	we, ok := WeChatErrorOf(err)
	switch {
	case !ok:
		return CallUnknown
	case retryableCodes[we.Code] || we.HTTPStatus == http.StatusTooManyRequests || we.HTTPStatus >= 500:
		return CallRetryable
	}
	return CallFinal
}

// FailureOf describes an error for people: WeChat's own code and words if
// WeChat refused, else ours.
func FailureOf(err error) *Failure {
	if we, ok := WeChatErrorOf(err); ok {
		return &Failure{Code: we.Code, Message: we.Message}
	}
	msg := "WeChat Pay did not answer"
	var e *Error
	if errors.As(err, &e) {
		msg = e.Message
	}
	return &Failure{Code: string(ErrorCode(err)), Message: msg}
}
