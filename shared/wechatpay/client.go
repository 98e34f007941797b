// Package wechatpay is the WeChat Pay API v3 channel, through the official
// wechatpay-go SDK in public-key mode: requests are signed with the
// merchant's private key, and WeChat Pay's responses and notifications are
// verified with the WeChat Pay public key named by its PUB_KEY_ID_… id.
package wechatpay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Client calls WeChat Pay API v3. Build one per process and share it.
//
// It keeps no secret of its own: the keys live inside the SDK's client and
// notification handler, so printing a Client shows none of them.
type Client struct {
	mchID, appID, notifyURL string
	timeout                 time.Duration
	core                    *core.Client
	jsapi                   *jsapi.JsapiApiService
	refunds                 *refunddomestic.RefundsApiService
	notify                  *notify.Handler
	notifyValidator         *validators.WechatPayNotifyValidator
	transfer                transferSettings
	http                    *http.Client // the SDK's, for the unsigned bill download (bill.go)
}

// New checks cfg, loads the keys and builds the SDK client. hc may be nil
// for a default one; it is not modified. Every call is also bounded by
// cfg.Timeout, whatever hc's own timeout.
func New(ctx context.Context, cfg Config, hc *http.Client) (*Client, error) {
	k, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	client := &http.Client{}
	if hc != nil {
		client = new(http.Client)
		*client = *hc
	}
	if k.apiURL != nil {
		client.Transport = newRewriteHost(client.Transport, k.apiURL)
	}
	verifier, auth, err := verification(ctx, cfg, k, client)
	if err != nil {
		return nil, err
	}
	sdk, err := core.NewClient(ctx, auth, option.WithVerifier(verifier), option.WithHTTPClient(client))
	if err != nil {
		return nil, fmt.Errorf("wechatpay client: %w", err)
	}
	handler, err := notify.NewRSANotifyHandler(cfg.APIv3Key, verifier)
	if err != nil {
		return nil, errors.New("wechatpay configuration: WECHATPAY_APIV3_KEY is not a usable AES-256 key")
	}
	return &Client{
		mchID: cfg.MchID, appID: cfg.AppID, notifyURL: cfg.NotifyURL, timeout: cfg.Timeout,
		core:    sdk,
		jsapi:   &jsapi.JsapiApiService{Client: sdk},
		refunds: &refunddomestic.RefundsApiService{Client: sdk},
		notify:  handler, notifyValidator: validators.NewWechatPayNotifyValidator(verifier),
		transfer: transferSettings{sceneID: k.transferSceneID, reportInfos: k.reportInfos, perception: cfg.TransferPerception},
		http:     client,
	}, nil
}

// verification builds how WeChat Pay's answers and notifications are
// verified, and how fields sent to it are encrypted, in the configured
// mode (facts §5.2):
//   - the WeChat Pay public key (PUB_KEY_ID_…): verify and encrypt with it;
//   - platform certificates, downloaded from /v3/certificates and
//     refreshed every 24 hours by the SDK's downloader: verify with the
//     certificate the Wechatpay-Serial header names, encrypt with the
//     newest;
//   - both, while WeChat switches a merchant over: a signature by either
//     is accepted (the SDK's combined verifier picks by serial), and
//     nothing else; fields are encrypted with the public key, which WeChat
//     accepts throughout. During the switch WeChat signs answers with the
//     key a request's Wechatpay-Serial names and moves notifications to
//     the public key at random, all of them from day 7 (WeChat Pay staff,
//     https://developers.weixin.qq.com/community/pay/doc/000a8e0dd38738536a5239c9466800).
//
// The verifier records its verdicts (recordingVerifier).
func verification(ctx context.Context, cfg Config, k keys, hc *http.Client) (recordingVerifier, core.ClientOption, error) {
	if !k.certs {
		return recordingVerifier{verifiers.NewSHA256WithRSAPubkeyVerifier(cfg.PublicKeyID, *k.public)},
			option.WithWechatPayPublicKeyAuthCipher(cfg.MchID, cfg.MchSerial, k.private, cfg.PublicKeyID, k.public), nil
	}
	certs, err := platformCertificates(ctx, cfg, k, hc)
	if err != nil {
		return recordingVerifier{}, nil, err
	}
	if k.public == nil {
		return recordingVerifier{verifiers.NewSHA256WithRSAVerifier(certs)},
			option.WithWechatPayAutoAuthCipherUsingDownloaderMgr(cfg.MchID, cfg.MchSerial, k.private, certs.mgr), nil
	}
	return recordingVerifier{verifiers.NewSHA256WithRSACombinedVerifier(certs, cfg.PublicKeyID, *k.public)},
		option.WithWechatPayPublicKeyAuthCipher(cfg.MchID, cfg.MchSerial, k.private, cfg.PublicKeyID, k.public), nil
}

// MerchantID is the merchant whose orders this channel handles.
func (c *Client) MerchantID() string { return c.mchID }

// Prepay creates WeChat's side of the order (JSAPI) and returns what
// wx.requestPayment needs, signed RSA with the merchant key. The amount is
// the stored order's.
func (c *Client) Prepay(ctx context.Context, req wechat.PrepayRequest) (string, wechat.PaymentParams, error) {
	o := req.Order
	body := jsapi.PrepayRequest{
		Appid: core.String(c.appID), Mchid: core.String(c.mchID),
		Description: core.String(o.Description), OutTradeNo: core.String(o.OutTradeNo),
		NotifyUrl: core.String(c.notifyURL),
		Amount:    &jsapi.Amount{Total: core.Int64(int64(o.AmountFen)), Currency: core.String("CNY")},
		Payer:     &jsapi.Payer{Openid: core.String(o.OpenID)},
	}
	if !o.ExpiresAt.IsZero() {
		body.TimeExpire = core.Time(o.ExpiresAt.In(cloudpay.Beijing))
	}
	if o.Attach != "" {
		body.Attach = core.String(o.Attach)
	}
	ctx, cancel := c.begin(ctx)
	defer cancel()
	// jsapi.PrepayWithRequestPayment is Prepay plus this signature, but it
	// dereferences prepay_id unchecked; an answer without one must be an
	// error, not a panic.
	resp, result, err := c.jsapi.Prepay(ctx, body)
	if err != nil {
		return "", wechat.PaymentParams{}, c.fail(ctx, "prepay "+o.OutTradeNo, result, err)
	}
	if resp.PrepayId == nil || *resp.PrepayId == "" {
		return "", wechat.PaymentParams{}, cloudpay.Errorf(cloudpay.CodeWeChatError, "prepay %s: WeChat returned no prepay_id", o.OutTradeNo)
	}
	nonce, err := utils.GenerateNonce()
	if err != nil {
		return "", wechat.PaymentParams{}, fmt.Errorf("prepay %s: nonce: %w", o.OutTradeNo, err)
	}
	p := wechat.PaymentParams{
		AppID: c.appID, TimeStamp: strconv.FormatInt(time.Now().Unix(), 10), NonceStr: nonce,
		Package: "prepay_id=" + *resp.PrepayId, SignType: "RSA",
	}
	signed, err := c.core.Sign(ctx, p.AppID+"\n"+p.TimeStamp+"\n"+p.NonceStr+"\n"+p.Package+"\n")
	if err != nil {
		return "", wechat.PaymentParams{}, fmt.Errorf("prepay %s: sign the payment: %w", o.OutTradeNo, err)
	}
	p.PaySign = signed.Signature
	return *resp.PrepayId, p, nil
}

// QueryOrder asks WeChat what happened to an order. An order WeChat does not
// know comes back with state NOTEXIST, not as an error.
func (c *Client) QueryOrder(ctx context.Context, outTradeNo string) (wechat.Transaction, error) {
	ctx, cancel := c.begin(ctx)
	defer cancel()
	resp, result, err := c.jsapi.QueryOrderByOutTradeNo(ctx, jsapi.QueryOrderByOutTradeNoRequest{
		OutTradeNo: core.String(outTradeNo), Mchid: core.String(c.mchID),
	})
	if core.IsAPIError(err, "ORDER_NOT_EXIST") {
		return wechat.Transaction{OutTradeNo: outTradeNo, State: wechat.TradeNotExist}, nil
	}
	if err != nil {
		return wechat.Transaction{}, c.fail(ctx, "query order "+outTradeNo, result, err)
	}
	tx, err := transaction(resp)
	if err != nil {
		return wechat.Transaction{}, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
			Message: "query order " + outTradeNo + ": WeChat answered an unreadable transaction", Err: err}
	}
	return tx, nil
}

// CloseOrder closes an unpaid order at WeChat. An order already closed is
// success; one already paid is CodeOrderPaid.
func (c *Client) CloseOrder(ctx context.Context, outTradeNo string) error {
	ctx, cancel := c.begin(ctx)
	defer cancel()
	result, err := c.jsapi.CloseOrder(ctx, jsapi.CloseOrderRequest{
		OutTradeNo: core.String(outTradeNo), Mchid: core.String(c.mchID),
	})
	if core.IsAPIError(err, "ORDER_CLOSED") {
		return nil
	}
	if err != nil {
		return c.fail(ctx, "close order "+outTradeNo, result, err)
	}
	return nil
}

// Refund asks WeChat to refund part or all of a paid order. Acceptance is
// usually not the refund: the result is PROCESSING until the notification
// or QueryRefund says otherwise. Retry a failed or unanswered refund with
// the same OutRefundNo: WeChat refunds a number only once.
func (c *Client) Refund(ctx context.Context, req wechat.RefundRequest) (wechat.RefundResult, error) {
	body := refunddomestic.CreateRequest{
		OutTradeNo: core.String(req.OutTradeNo), OutRefundNo: core.String(req.OutRefundNo),
		NotifyUrl: core.String(c.notifyURL),
		Amount: &refunddomestic.AmountReq{
			Refund: core.Int64(int64(req.RefundFen)), Total: core.Int64(int64(req.TotalFen)), Currency: core.String("CNY"),
		},
	}
	if req.Reason != "" {
		body.Reason = core.String(req.Reason)
	}
	ctx, cancel := c.begin(ctx)
	defer cancel()
	resp, result, err := c.refunds.Create(ctx, body)
	if err != nil {
		return wechat.RefundResult{}, c.fail(ctx, "refund "+req.OutRefundNo, result, err)
	}
	res, err := c.refund(resp)
	if errors.Is(err, errUnknownStatus) {
		// Accepted with a status this code does not know: the refund exists
		// and its outcome is not known yet, which is what PROCESSING means.
		res.State, err = wechat.RefundProcessing, nil
	}
	if err != nil {
		return wechat.RefundResult{}, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
			Message: "refund " + req.OutRefundNo + ": WeChat accepted it but answered an unreadable refund", Err: err}
	}
	return res, nil
}

// QueryRefund asks WeChat about one refund. A refund WeChat does not know
// comes back with state NOTEXIST, not as an error.
func (c *Client) QueryRefund(ctx context.Context, outRefundNo string) (wechat.RefundResult, error) {
	ctx, cancel := c.begin(ctx)
	defer cancel()
	resp, result, err := c.refunds.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{
		OutRefundNo: core.String(outRefundNo),
	})
	if core.IsAPIError(err, "RESOURCE_NOT_EXISTS") {
		return wechat.RefundResult{OutRefundNo: outRefundNo, State: wechat.RefundNotExist}, nil
	}
	if err != nil {
		return wechat.RefundResult{}, c.fail(ctx, "query refund "+outRefundNo, result, err)
	}
	res, err := c.refund(resp)
	if err != nil {
		return wechat.RefundResult{}, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
			Message: "query refund " + outRefundNo + ": WeChat answered an unreadable refund", Err: err}
	}
	return res, nil
}

// refundStates maps v3 refund statuses (status in the Refund object,
// refund_status in notifications) to the domain's.
var refundStates = map[string]wechat.RefundState{
	"SUCCESS":    wechat.RefundSuccess,
	"CLOSED":     wechat.RefundClosed,
	"PROCESSING": wechat.RefundProcessing,
	"ABNORMAL":   wechat.RefundAbnormal,
}

var errUnknownStatus = errors.New("unknown refund status")

// refund maps the SDK's Refund. The Refund object names no merchant: it is
// this client's.
func (c *Client) refund(r *refunddomestic.Refund) (wechat.RefundResult, error) {
	res := wechat.RefundResult{
		OutRefundNo: deref(r.OutRefundNo), OutTradeNo: deref(r.OutTradeNo), TransactionID: deref(r.TransactionId),
		RefundID: deref(r.RefundId), MchID: c.mchID, Account: deref(r.UserReceivedAccount),
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
	if r.SuccessTime != nil {
		res.SucceededAt = r.SuccessTime.UTC()
	}
	if r.Status == nil {
		return res, fmt.Errorf("%w: none", errUnknownStatus)
	}
	state, ok := refundStates[string(*r.Status)]
	if !ok {
		return res, fmt.Errorf("%w %q", errUnknownStatus, string(*r.Status))
	}
	res.State = state
	return res, nil
}

// transaction maps the SDK's Transaction (query answer and TRANSACTION.*
// notification resource).
func transaction(t *payments.Transaction) (wechat.Transaction, error) {
	tx := wechat.Transaction{
		OutTradeNo: deref(t.OutTradeNo), TransactionID: deref(t.TransactionId),
		State: wechat.TradeState(deref(t.TradeState)), MchID: deref(t.Mchid),
		TradeType: deref(t.TradeType),
	}
	if !cloudpay.ValidOutTradeNo(tx.OutTradeNo) {
		return tx, errors.New("no valid out_trade_no")
	}
	if tx.State == "" {
		return tx, errors.New("no trade_state")
	}
	if t.Amount != nil {
		var err error
		if tx.TotalFen, err = fen("amount.total", t.Amount.Total); err != nil {
			return tx, err
		}
	}
	if t.Payer != nil {
		tx.OpenID = deref(t.Payer.Openid)
	}
	if s := deref(t.SuccessTime); s != "" {
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return tx, fmt.Errorf("success_time %q is not RFC 3339", s)
		}
		tx.PaidAt = at.UTC()
	}
	return tx, nil
}

// fen checks an amount from WeChat: whole fen, within the domain's range.
func fen(field string, v *int64) (cloudpay.Fen, error) {
	if v == nil {
		return 0, nil
	}
	if *v < 0 || *v > int64(cloudpay.MaxFen) {
		return 0, fmt.Errorf("%s %d is out of range", field, *v)
	}
	return cloudpay.Fen(*v), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// fail translates what the SDK returned into the domain's errors, the one
// place where that happens:
//   - WeChat Pay answered non-2xx: a refusal, with its code in a WeChatError;
//   - no answer in time: CodeWeChatTimeout, because the call may have taken
//     effect;
//   - no answer at all: CodeWeChatError;
//   - an answer that fails signature verification or cannot be read:
//     CodeWeChatError, saying which.
func (c *Client) fail(ctx context.Context, op string, result *core.APIResult, err error) error {
	var apiErr *core.APIError
	var ne net.Error
	var ue *url.Error
	var out *cloudpay.Error
	switch {
	case errors.As(err, &apiErr):
		code := cloudpay.CodeWeChatError
		switch apiErr.Code {
		case "ORDERPAID":
			code = cloudpay.CodeOrderPaid
		case "ORDER_CLOSED":
			code = cloudpay.CodeOrderClosed
		}
		msg := "WeChat Pay refused the request: " + apiErr.Code
		if apiErr.Code == "" {
			msg = "WeChat Pay answered HTTP " + strconv.Itoa(apiErr.StatusCode)
		}
		out = &cloudpay.Error{Code: code, Message: msg,
			Err: &wechat.Error{Code: apiErr.Code, Message: apiErr.Message, HTTPStatus: apiErr.StatusCode}}
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		(errors.As(err, &ne) && ne.Timeout()):
		out = &cloudpay.Error{Code: cloudpay.CodeWeChatTimeout, Message: "WeChat Pay did not answer in time", Err: err}
	case errors.As(err, &ue) || errors.As(err, &ne):
		out = &cloudpay.Error{Code: cloudpay.CodeWeChatError, Message: "WeChat Pay could not be reached", Err: err}
	case result != nil && result.Response != nil && !verified(ctx):
		out = &cloudpay.Error{Code: cloudpay.CodeWeChatError,
			Message: "WeChat Pay's answer failed signature verification: it may not come from WeChat Pay", Err: err}
	case result != nil && result.Response != nil:
		out = &cloudpay.Error{Code: cloudpay.CodeWeChatError, Message: "WeChat Pay answered a body that cannot be read", Err: err}
	default:
		out = &cloudpay.Error{Code: cloudpay.CodeInternal, Message: "cannot build the request to WeChat Pay", Err: err}
	}
	return fmt.Errorf("%s: %w", op, out)
}

// begin bounds a call by the configured timeout and prepares the record of
// whether WeChat Pay's signature on the answer checked out.
func (c *Client) begin(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	return context.WithValue(ctx, verifiedKey{}, new(bool)), cancel
}

type verifiedKey struct{}

// verified reports whether a signature was verified during the call made
// with ctx (from begin).
func verified(ctx context.Context) bool {
	ok, _ := ctx.Value(verifiedKey{}).(*bool)
	return ok != nil && *ok
}

// recordingVerifier is the SDK's verifier that also notes a good signature
// in the call's context. The SDK reports every failure of an answer as
// plain text; this tells "not from WeChat Pay" (bad or missing signature,
// stale timestamp, unknown serial) from "from WeChat Pay, but unreadable"
// without parsing the SDK's messages.
type recordingVerifier struct{ auth.Verifier }

func (v recordingVerifier) Verify(ctx context.Context, serial, message, signature string) error {
	err := v.Verifier.Verify(ctx, serial, message, signature)
	if ok, _ := ctx.Value(verifiedKey{}).(*bool); ok != nil && err == nil {
		*ok = true
	}
	return err
}

// QueryTransaction asks WeChat about a payment by its transaction_id
// (GET /v3/pay/transactions/id/{transaction_id}?mchid=): a payment made
// outside cloudpay. A malformed number is a field error, sent nowhere; one
// WeChat does not know (ORDER_NOT_EXIST, or RESOURCE_NOT_EXISTS, with 404)
// is CodeTransactionNotFound.
func (c *Client) QueryTransaction(ctx context.Context, transactionID string) (wechat.Transaction, error) {
	if !wechat.ValidTransactionID(transactionID) {
		return wechat.Transaction{}, cloudpay.FieldError("transaction_id", "transaction_id must be 1 to %d digits", wechat.MaxTransactionIDLen)
	}
	ctx, cancel := c.begin(ctx)
	defer cancel()
	resp, result, err := c.jsapi.QueryOrderById(ctx, jsapi.QueryOrderByIdRequest{
		TransactionId: core.String(transactionID), Mchid: core.String(c.mchID),
	})
	var apiErr *core.APIError
	if errors.As(err, &apiErr) && (apiErr.Code == "ORDER_NOT_EXIST" || apiErr.Code == "RESOURCE_NOT_EXISTS") {
		return wechat.Transaction{}, &cloudpay.Error{Code: cloudpay.CodeTransactionNotFound,
			Message: "WeChat holds no payment with transaction_id " + transactionID,
			Err:     &wechat.Error{Code: apiErr.Code, Message: apiErr.Message, HTTPStatus: apiErr.StatusCode}}
	}
	if err != nil {
		return wechat.Transaction{}, c.fail(ctx, "query transaction "+transactionID, result, err)
	}
	tx, err := transaction(resp)
	if err != nil {
		return wechat.Transaction{}, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
			Message: "query transaction " + transactionID + ": WeChat answered an unreadable transaction", Err: err}
	}
	if tx.TransactionID != "" && tx.TransactionID != transactionID {
		return wechat.Transaction{}, cloudpay.Errorf(cloudpay.CodeWeChatError,
			"query transaction %s: WeChat answered for another payment, %s", transactionID, tx.TransactionID)
	}
	return tx, nil
}
