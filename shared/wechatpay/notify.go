package wechatpay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Notification is a verified, decrypted WeChat Pay notification.
type Notification struct {
	ID, EventType string
	Transaction   *wechat.Transaction    // TRANSACTION.*
	Refund        *wechat.RefundResult   // REFUND.*
	Transfer      *wechat.TransferResult // MCHTRANSFER.BILL.FINISHED
	// Resource is the decrypted plaintext of other types (the old batch
	// transfers' MCHTRANSFER.BATCH.*, …). It can hold personal data: never
	// log it.
	Resource []byte
}

// maxNotification bounds a notification body; real ones are about 1 KiB.
const maxNotification = 64 << 10

// ParseNotification verifies a notification (WeChat Pay's signature over
// the raw body, timestamp within ±300 s, the public key's id), decrypts its
// resource with the APIv3 key and reads it. Anything that fails
// verification or decryption — a forged or tampered body, a signature
// probe (WECHATPAY/SIGNTEST/), a stale timestamp, an unknown serial, bad
// ciphertext — is CodeBadSignature; a verified body that cannot be
// understood is CodeInvalidJSON; one over 64 KiB is CodeBodyTooLarge.
//
// r.Body is consumed and replaced by a reader of the same bytes.
func (c *Client) ParseNotification(r *http.Request) (Notification, error) {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxNotification))
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(raw))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return Notification{}, cloudpay.Errorf(cloudpay.CodeBodyTooLarge, "notification body is larger than 64 KiB")
	case err != nil:
		return Notification{}, &cloudpay.Error{Code: cloudpay.CodeInvalidJSON, Message: "cannot read the notification body", Err: err}
	}
	if t := r.Header.Get("Wechatpay-Signature-Type"); t != "" && t != signatureType {
		return Notification{}, cloudpay.Errorf(cloudpay.CodeBadSignature, "notification signature type is not %s", signatureType)
	}
	sdkReq := r.Clone(r.Context())
	sdkReq.Body = io.NopCloser(bytes.NewReader(raw))
	// Verified on its own first, so that every later failure is known to
	// concern a genuine notification. ParseNotifyRequest verifies again:
	// one more RSA verification, in exchange for not parsing its messages.
	if err := c.notifyValidator.Validate(r.Context(), sdkReq); err != nil {
		return Notification{}, &cloudpay.Error{Code: cloudpay.CodeBadSignature,
			Message: "notification failed signature verification", Err: err}
	}
	// The SDK dereferences resource unchecked, and AES-GCM panics on a
	// nonce of the wrong length: refuse those bodies before it opens them.
	var probe struct {
		Resource *struct {
			Nonce string `json:"nonce"`
		} `json:"resource"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil || probe.Resource == nil {
		return Notification{}, cloudpay.Errorf(cloudpay.CodeInvalidJSON, "verified notification has no encrypted resource")
	}
	if len(probe.Resource.Nonce) != gcmNonceSize {
		return Notification{}, cloudpay.Errorf(cloudpay.CodeBadSignature, "notification resource cannot be decrypted: bad nonce")
	}

	var plaintext json.RawMessage
	env, err := c.notify.ParseNotifyRequest(r.Context(), sdkReq, &plaintext)
	switch {
	case err != nil && (env == nil || env.Resource.Plaintext != ""):
		// The algorithm or the plaintext is not what a notification carries.
		return Notification{}, &cloudpay.Error{Code: cloudpay.CodeInvalidJSON,
			Message: "verified notification cannot be read", Err: sdkError(err)}
	case err != nil:
		return Notification{}, &cloudpay.Error{Code: cloudpay.CodeBadSignature,
			Message: "notification resource cannot be decrypted with the APIv3 key", Err: sdkError(err)}
	}

	n := Notification{ID: env.ID, EventType: env.EventType}
	switch {
	case strings.HasPrefix(env.EventType, "TRANSACTION."):
		var t payments.Transaction
		err = json.Unmarshal(plaintext, &t)
		if err == nil {
			var tx wechat.Transaction
			if tx, err = transaction(&t); err == nil {
				n.Transaction = &tx
			}
		}
	case strings.HasPrefix(env.EventType, "REFUND."):
		var res wechat.RefundResult
		if res, err = refundNotice(plaintext, env.EventType); err == nil {
			n.Refund = &res
		}
	case env.EventType == transferFinished:
		var res wechat.TransferResult
		if res, err = c.transferNotice(plaintext); err == nil {
			n.Transfer = &res
		}
	default:
		n.Resource = []byte(plaintext)
	}
	if err != nil {
		return Notification{}, &cloudpay.Error{Code: cloudpay.CodeInvalidJSON,
			Message: "verified " + env.EventType + " notification cannot be read", Err: err}
	}
	return n, nil
}

// transferFinished is the event of a transfer bill that reached SUCCESS,
// FAIL or CANCELLED.
const transferFinished = "MCHTRANSFER.BILL.FINISHED"

// signatureType is the only notification signature the SDK checks; it is
// also its default when the header is absent.
const signatureType = "WECHATPAY2-SHA256-RSA2048"

// gcmNonceSize is AEAD_AES_256_GCM's nonce length.
const gcmNonceSize = 12

// sdkError keeps the SDK's reason but drops the dump of the whole
// http.Request it appends to verification failures.
func sdkError(err error) error {
	msg, _, _ := strings.Cut(err.Error(), ", request: ")
	return errors.New(msg)
}

// refundResource is the decrypted resource of REFUND.* notifications; the
// SDK has no model for it.
type refundResource struct {
	MchID               string `json:"mchid"`
	OutTradeNo          string `json:"out_trade_no"`
	TransactionID       string `json:"transaction_id"`
	RefundID            string `json:"refund_id"`
	OutRefundNo         string `json:"out_refund_no"`
	RefundStatus        string `json:"refund_status"`
	SuccessTime         string `json:"success_time"`
	UserReceivedAccount string `json:"user_received_account"`
	Amount              *struct {
		Total  *int64 `json:"total"`
		Refund *int64 `json:"refund"`
	} `json:"amount"`
}

func refundNotice(plaintext []byte, eventType string) (wechat.RefundResult, error) {
	var r refundResource
	if err := json.Unmarshal(plaintext, &r); err != nil {
		return wechat.RefundResult{}, err
	}
	if !cloudpay.ValidOutRefundNo(r.OutRefundNo) {
		return wechat.RefundResult{}, errors.New("no valid out_refund_no")
	}
	status := r.RefundStatus
	if status == "" { // the event type says it too: REFUND.SUCCESS, …
		status = strings.TrimPrefix(eventType, "REFUND.")
	}
	state, ok := refundStates[status]
	if !ok {
		return wechat.RefundResult{}, fmt.Errorf("unknown refund_status %q", status)
	}
	res := wechat.RefundResult{
		OutRefundNo: r.OutRefundNo, OutTradeNo: r.OutTradeNo, TransactionID: r.TransactionID, RefundID: r.RefundID,
		State: state, MchID: r.MchID, Account: r.UserReceivedAccount,
	}
	if r.Amount != nil {
		var err error
		if res.RefundFen, err = fen("amount.refund", r.Amount.Refund); err != nil {
			return res, err
		}
		if res.TotalFen, err = fen("amount.total", r.Amount.Total); err != nil {
			return res, err
		}
	}
	if r.SuccessTime != "" {
		at, err := time.Parse(time.RFC3339, r.SuccessTime)
		if err != nil {
			return res, fmt.Errorf("success_time %q is not RFC 3339", r.SuccessTime)
		}
		res.SucceededAt = at.UTC()
	}
	return res, nil
}
