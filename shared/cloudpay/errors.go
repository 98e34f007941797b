package cloudpay

import (
	"errors"
	"fmt"
)

// Code is a stable, UPPER_SNAKE error code that clients may switch on.
// The README lists every code; httpapi maps each to an HTTP status.
type Code string

const (
	CodeInvalidJSON      Code = "INVALID_JSON"
	CodeInvalidField     Code = "INVALID_FIELD"
	CodeUnknownField     Code = "UNKNOWN_FIELD"
	CodeBodyTooLarge     Code = "BODY_TOO_LARGE"
	CodeUnauthorized     Code = "UNAUTHORIZED"
	CodeOpenIDRequired   Code = "OPENID_REQUIRED"
	CodeForbidden        Code = "FORBIDDEN"
	CodeForbiddenRole    Code = "FORBIDDEN_ROLE" // the token's role may not do this
	CodeFourEyes         Code = "FOUR_EYES"      // the same person may not create and approve
	CodeNotFound         Code = "NOT_FOUND"
	CodeOrderNotFound    Code = "ORDER_NOT_FOUND"
	CodeOrderConflict    Code = "ORDER_CONFLICT"
	CodeOrderPaid        Code = "ORDER_PAID"
	CodeOrderClosed      Code = "ORDER_CLOSED"
	CodeOrderExpired     Code = "ORDER_EXPIRED"
	CodeMethodNotAllowed Code = "METHOD_NOT_ALLOWED"
	CodeWeChatError      Code = "WECHAT_ERROR"
	CodeWeChatTimeout    Code = "WECHAT_TIMEOUT"
	CodeBadSignature     Code = "BAD_SIGNATURE" // a v3 notification failed verification
	CodeOrderNotPaid     Code = "ORDER_NOT_PAID"
	CodeRefundNotFound   Code = "REFUND_NOT_FOUND"
	CodeRefundConflict   Code = "REFUND_CONFLICT"     // an idempotency key reused for another refund
	CodeRefundExceeds    Code = "REFUND_EXCEEDS_PAID" // more than the order's refundable amount
	CodeRefundLimit      Code = "REFUND_LIMIT"        // WeChat's 50 refunds per order
	CodeRefundTooLate    Code = "REFUND_TOO_LATE"     // paid more than a year ago
	CodeRefundState      Code = "REFUND_STATE"        // the refund's status does not allow this
	CodeBatchNotFound    Code = "BATCH_NOT_FOUND"
	CodeBatchConflict    Code = "BATCH_CONFLICT"
	// Withdrawals.
	CodeWithdrawalNotFound   Code = "WITHDRAWAL_NOT_FOUND"
	CodeWithdrawalConflict   Code = "WITHDRAWAL_CONFLICT"  // an idempotency key reused for another amount
	CodeCreditConflict       Code = "CREDIT_CONFLICT"      // a credit_id reused for another user or amount
	CodeInsufficientBalance  Code = "INSUFFICIENT_BALANCE" // more than the wallet's available balance
	CodeBelowMinimum         Code = "WITHDRAWAL_BELOW_MINIMUM"
	CodeAboveMaximum         Code = "WITHDRAWAL_ABOVE_MAXIMUM"
	CodeDailyCountExceeded   Code = "DAILY_COUNT_EXCEEDED"
	CodeDailyAmountExceeded  Code = "DAILY_AMOUNT_EXCEEDED"
	CodeRealNameRequired     Code = "REAL_NAME_REQUIRED"      // WeChat needs the payee's name at ≥ 2000 CNY
	CodeWithdrawalState      Code = "WITHDRAWAL_STATE"        // the withdrawal's status does not allow this
	CodeRetryBudgetExhausted Code = "RETRY_BUDGET_EXHAUSTED"  // WeChat refused a refund for now too often: an operator decides
	CodeStoreBusy            Code = "STORE_BUSY"              // contention or a busy store: retryable, never a bug
	CodeTransactionNotFound  Code = "TRANSACTION_NOT_FOUND"   // WeChat holds no payment under the number given
	CodeOtherMerchant        Code = "OTHER_MERCHANT"          // WeChat's payment belongs to another merchant
	CodeBillNotReady         Code = "BILL_NOT_READY"          // WeChat has not generated the day's bill yet (after 10:00 Beijing)
	CodeNoStatement          Code = "NO_STATEMENT"            // WeChat has no bill for the day (nothing happened)
	CodeBillUnsupported      Code = "BILL_UNSUPPORTED"        // the channel offers no such bill
	CodeMethodNotSupported   Code = "METHOD_NOT_SUPPORTED"    // the configured channel cannot take this way to pay
	CodePaymentSwitched      Code = "PAYMENT_SWITCHED"        // another request switched the order's method meanwhile: ask again
	CodeShippingRefused      Code = "SHIPPING_REFUSED"        // WeChat refuses the order's shipping for good (refunded, already shipped, its one update used)
	CodeShippingOff          Code = "SHIPPING_NOT_CONFIGURED" // no mini-program credentials to upload shipping with
	CodeShippingConflict     Code = "SHIPPING_CONFLICT"       // the idempotency key names another upload
	CodeInternal             Code = "INTERNAL"
)

// Error is a domain error: a code for programs, a message for people and,
// for bad input, the field at fault.
type Error struct {
	Code    Code
	Message string
	Field   string
	Err     error // the cause, for logs; never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError reports bad input in one named field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidField, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal for any other non-nil error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
