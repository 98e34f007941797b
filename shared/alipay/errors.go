package alipay

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	sdk "github.com/smartwalle/alipay/v3"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Error is a refusal Alipay answered, in its own words: the gateway's code
// and msg, and the business sub_code and sub_msg
// (https://opendocs.alipay.com/common/02km9f). The channel puts it in the
// Err of a *cloudpay.Error; Classify reads it.
type Error struct {
	Code    string // 40004 (business failed), 20000 (service unavailable), …
	Msg     string
	SubCode string // ACQ.TRADE_NOT_EXIST, …
	SubMsg  string
}

func (e *Error) Error() string {
	s := "alipay: " + e.Code + " " + e.Msg
	if e.SubCode != "" {
		s += ": " + e.SubCode + " " + e.SubMsg
	}
	return s
}

// subCode is the business code without the "aop." some gateways put in
// front of it.
func (e *Error) subCode() string { return strings.TrimPrefix(e.SubCode, "aop.") }

// ErrorOf returns Alipay's refusal in err's chain, if any.
func ErrorOf(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Alipay's gateway codes (公共错误码, https://opendocs.alipay.com/common/02km9f).
const (
	codeSuccess     = "10000"
	codeUnavailable = "20000" // 服务不可用: the service failed, the call may or may not have been carried out
	codeCallLimited = "40005" // 调用频次超限
)

// retryableSubCodes are the business codes that mean "not now: send the
// same request again" (解决方案: 请使用相同的参数再次调用 / 稍后重试, on
// https://opendocs.alipay.com/open/02ekfk and https://opendocs.alipay.com/open/02ekfh).
var retryableSubCodes = map[string]bool{
	"ACQ.SYSTEM_ERROR": true,
	"AQC.SYSTEM_ERROR": true, // so spelled in some of Alipay's tables
	// 卖家余额不足: the merchant's balance cannot cover the refund until it
	// is topped up; the same out_request_no is retried.
	"ACQ.SELLER_BALANCE_NOT_ENOUGH": true,
}

// Classify tells what a failed call's error means for an effect made under
// a fixed number (a refund's out_request_no):
//   - Unknown: no verdict — a timeout, no answer, an answer that is not
//     HTTP 200, unreadable or not signed by Alipay, or Alipay's 20000
//     (service unavailable, which does not say the call was not carried
//     out). Query before anything else.
//   - Retryable: Alipay refused for now (ACQ.SYSTEM_ERROR, 40005 call
//     limit, the seller's balance); the same number may be sent again.
//   - Final: any other refusal.
//
// It uses the WeChat vocabulary's CallFailure so that use cases can treat
// both channels alike.
func Classify(err error) wechat.CallFailure {
	if e, ok := ErrorOf(err); ok {
		return e.CallFailure()
	}
	return wechat.Unknown
}

// CallFailure is what this refusal means (see Classify). With it, a
// classifier that looks for interface{ CallFailure() wechat.CallFailure }
// in an error's chain reads Alipay's refusals without importing this
// package.
func (e *Error) CallFailure() wechat.CallFailure {
	switch {
	case e.Code == codeUnavailable:
		return wechat.Unknown
	case e.Code == codeCallLimited || retryableSubCodes[e.subCode()]:
		return wechat.Retryable
	}
	return wechat.Final
}

// FailureOf describes an error for people: Alipay's own code and words if
// Alipay refused, else ours.
func FailureOf(err error) *cloudpay.Failure {
	if e, ok := ErrorOf(err); ok {
		if e.SubCode != "" {
			return &cloudpay.Failure{Code: e.SubCode, Message: e.SubMsg}
		}
		return &cloudpay.Failure{Code: e.Code, Message: e.Msg}
	}
	msg := "Alipay did not answer"
	var ce *cloudpay.Error
	if errors.As(err, &ce) {
		msg = ce.Message
	}
	return &cloudpay.Failure{Code: string(cloudpay.ErrorCode(err)), Message: msg}
}

// domainCodes give some refusals the domain's meaning; every other one is
// CodeWeChatError, the code of a payment channel's refusal (HTTP 502).
var domainCodes = map[string]cloudpay.Code{
	"ACQ.TRADE_HAS_SUCCESS":           cloudpay.CodeOrderPaid,     // 交易已被支付
	"ACQ.TRADE_HAS_CLOSE":             cloudpay.CodeOrderClosed,   // 交易已经关闭
	"ACQ.CONTEXT_INCONSISTENT":        cloudpay.CodeOrderConflict, // 交易信息被篡改: the number was used with other details
	"ACQ.DISCORDANT_REPEAT_REQUEST":   cloudpay.CodeRefundConflict,
	"ACQ.REASON_TRADE_REFUND_FEE_ERR": cloudpay.CodeRefundExceeds, // 退款金额无效
	"ACQ.REFUND_AMT_NOT_EQUAL_TOTAL":  cloudpay.CodeRefundExceeds,
	"ACQ.REFUND_FEE_ERROR":            cloudpay.CodeRefundExceeds,
}

// refused is Alipay's refusal as the domain's error, keeping Alipay's
// code, sub_code and sub_msg in the message and the refusal as its cause.
func refused(e *Error) *cloudpay.Error {
	code, ok := domainCodes[e.subCode()]
	if !ok {
		code = cloudpay.CodeWeChatError
	}
	msg := "Alipay refused the request: " + e.Code + " " + e.Msg
	if e.SubCode != "" {
		msg += ": " + e.SubCode + " " + e.SubMsg
	}
	return &cloudpay.Error{Code: code, Message: msg, Err: e}
}

// statusError is an answer that is not HTTP 200: a proxy's or a load
// balancer's, not Alipay's gateway's, which always answers 200.
type statusError struct{ status int }

func (e *statusError) Error() string { return "alipay: HTTP " + strconv.Itoa(e.status) }

// fail translates what a call returned into the domain's errors, the one
// place where that happens (besides refused, for answers that carry a
// refusal):
//   - Alipay refused, unsigned (the SDK returns those as its own Error;
//     Alipay's official SDKs also accept refusals without a signature):
//     as refused;
//   - no answer in time: CodeWeChatTimeout, because the call may have
//     taken effect;
//   - no answer at all, an answer that is not HTTP 200, not signed by
//     Alipay or unreadable: CodeWeChatError, saying which.
//
// None of these reveal a key: the SDK's errors name no key material.
func fail(ctx context.Context, op string, err error) error {
	var sdkErr *sdk.Error
	var se *statusError
	var ne net.Error
	var ue *url.Error
	var out *cloudpay.Error
	switch {
	case errors.As(err, &sdkErr) && (sdkErr.Code == "" || sdkErr.Code.IsSuccess()):
		// The SDK returns an unsigned answer as an Error whatever its code:
		// an unsigned success proves nothing.
		out = &cloudpay.Error{Code: cloudpay.CodeWeChatError,
			Message: "Alipay's answer carries no signature: it may not come from Alipay", Err: err}
	case errors.As(err, &sdkErr):
		out = refused(&Error{Code: string(sdkErr.Code), Msg: sdkErr.Msg, SubCode: sdkErr.SubCode, SubMsg: sdkErr.SubMsg})
	case errors.As(err, &se):
		out = &cloudpay.Error{Code: cloudpay.CodeWeChatError, Message: "Alipay answered HTTP " + strconv.Itoa(se.status), Err: err}
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		(errors.As(err, &ne) && ne.Timeout()):
		out = &cloudpay.Error{Code: cloudpay.CodeWeChatTimeout, Message: "Alipay did not answer in time", Err: err}
	case errors.As(err, &ue) || errors.As(err, &ne):
		out = &cloudpay.Error{Code: cloudpay.CodeWeChatError, Message: "Alipay could not be reached", Err: err}
	case errors.Is(err, rsa.ErrVerification) || errors.Is(err, sdk.ErrAliPublicKeyNotFound):
		out = &cloudpay.Error{Code: cloudpay.CodeWeChatError,
			Message: "Alipay's answer failed signature verification: it may not come from Alipay", Err: err}
	default:
		out = &cloudpay.Error{Code: cloudpay.CodeWeChatError, Message: "Alipay answered a body that cannot be read", Err: err}
	}
	return fmt.Errorf("%s: %w", op, out)
}

// unreadable is an answer Alipay signed that this code cannot use (a
// missing field, an amount that is not yuan with two decimals).
func unreadable(op string, err error) error {
	return fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
		Message: "Alipay answered something that cannot be read", Err: err})
}
