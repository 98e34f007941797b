// Package alipay is cloudpay's Alipay channel, over the
// github.com/smartwalle/alipay/v3 SDK: requests are signed RSA2 with the
// application's private key; Alipay's answers and notifications are
// verified with Alipay's public key or, in the certificate mode, its
// public-key certificate. Amounts cross the boundary as yuan with two
// decimals (FenFromYuan, YuanOf) and are fen everywhere else.
package alipay

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	sdk "github.com/smartwalle/alipay/v3"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Client calls Alipay's open platform gateway. Build one per process and
// share it.
//
// It keeps no secret of its own: the private key lives inside the SDK's
// signer, so printing a Client shows none of it.
type Client struct {
	appID, sellerID, notifyURL string
	timeout                    time.Duration
	sdk                        sdkCalls
	// files downloads what the gateway only links to (the daily bill),
	// without the gateway's 1 MiB answer limit.
	files *http.Client
}

// sdkCalls are the SDK client's methods this package uses, as closures
// over it rather than the *sdk.Client itself. Deployables call methods by
// name through reflection (the templates gin links), and the linker then keeps
// every exported method of every type reachable from a value stored in an
// interface — a Client is, behind the use cases' interfaces. The SDK's
// client has about a hundred methods (funds, bills, certification, …)
// and a field of its type would keep them all: measured, 0.43 MB more in
// each deployable.
type sdkCalls struct {
	Request            func(ctx context.Context, p sdk.Param, out any) error
	BuildURL           func(p sdk.Param) (*url.URL, error)
	DecodeNotification func(ctx context.Context, v url.Values) (*sdk.Notification, error)
}

// New checks cfg, loads the keys and builds the SDK client. hc may be nil
// for a default one; it is not modified. Every call is also bounded by
// cfg.Timeout, whatever hc's own timeout. A disabled cfg (no AppID) is an
// error: check Enabled first.
func New(cfg Config, hc *http.Client) (*Client, error) {
	if !cfg.Enabled() {
		return nil, errors.New("alipay configuration: ALIPAY_APP_ID is not set: Alipay is off")
	}
	s, err := cfg.check()
	if err != nil {
		return nil, err
	}
	client := &http.Client{}
	if hc != nil {
		client = new(http.Client)
		*client = *hc
	}
	files := new(http.Client)
	*files = *client
	files.CheckRedirect = noDowngrade
	client.Transport = gatewayTransport{base: client.Transport}

	// The key was parsed by check; the SDK gets it back as PKCS#1 PEM,
	// the first form it tries. production=true: the SDK then fetches a
	// rotated Alipay certificate by its serial number, from Alipay itself,
	// in the certificate mode.
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(s.private)}))
	c, err := sdk.New(cfg.AppID, keyPEM, true,
		sdk.WithProductionGateway(s.gateway), sdk.WithHTTPClient(client),
		// The gateway reads timestamp as Beijing time (公共请求参数 timestamp,
		// https://opendocs.alipay.com/open/02ekfh); the SDK's default is the
		// host's zone, UTC on Lambda.
		sdk.WithTimeLocation(cloudpay.Beijing))
	if err != nil {
		return nil, errors.New("alipay configuration: ALIPAY_APP_PRIVATE_KEY cannot be used to sign")
	}
	if s.publicPEM != "" {
		if err := c.LoadAliPayPublicKey(s.publicPEM); err != nil {
			return nil, errors.New("alipay configuration: ALIPAY_PUBLIC_KEY cannot be loaded")
		}
	} else {
		if err := c.LoadAppCertPublicKey(s.appCertPEM); err != nil {
			return nil, errors.New("alipay configuration: ALIPAY_APP_CERT cannot be loaded")
		}
		if err := c.LoadAliPayRootCert(s.rootCertPEM); err != nil {
			return nil, errors.New("alipay configuration: ALIPAY_ROOT_CERT cannot be loaded")
		}
		if err := c.LoadAlipayCertPublicKey(s.alipayCertPEM); err != nil {
			return nil, errors.New("alipay configuration: ALIPAY_PUBLIC_CERT cannot be loaded")
		}
	}
	return &Client{appID: cfg.AppID, sellerID: cfg.SellerID, notifyURL: cfg.NotifyURL, timeout: s.timeout, files: files,
		sdk: sdkCalls{Request: c.Request, BuildURL: c.BuildURL, DecodeNotification: c.DecodeNotification}}, nil
}

// AppID is the application whose trades this channel handles.
func (c *Client) AppID() string { return c.appID }

// SellerID is the merchant (PID) whose trades this channel handles.
func (c *Client) SellerID() string { return c.sellerID }

// Order is what Alipay needs to create a trade. The amount is the stored
// order's.
type Order struct {
	OutTradeNo, Subject string
	AmountFen           cloudpay.Fen
	ExpiresAt           time.Time // zero: Alipay's default
}

// Product codes (销售产品码): precreate is 当面付 (face to face, the QR
// code), wap.pay is 手机网站支付
// (https://opendocs.alipay.com/open/f540afd8_alipay.trade.precreate,
// https://opendocs.alipay.com/open/29ae8cb6_alipay.trade.wap.pay).
const (
	productFaceToFace = "FACE_TO_FACE_PAYMENT"
	productWap        = "QUICK_WAP_WAY"
)

// alipayTime is how Alipay writes times (time_expire, send_pay_date,
// gmt_payment), in Beijing time.
const alipayTime = "2006-01-02 15:04:05"

// maxSubject is subject's length, String(256).
const maxSubject = 256

// biz is an order's biz_content. Amounts go out as yuan with two decimals
// (total_amount: 单位为元，精确到小数点后两位，取值范围[0.01,100000000]).
func (o Order) biz(productCode string) (map[string]any, error) {
	switch {
	case !cloudpay.ValidOutTradeNo(o.OutTradeNo):
		return nil, cloudpay.FieldError("out_trade_no", "out_trade_no must be 6 to 32 letters, digits or _-|*")
	case o.AmountFen <= 0 || o.AmountFen > cloudpay.MaxFen:
		return nil, cloudpay.FieldError("amount_fen", "amount_fen must be between 1 and %d", cloudpay.MaxFen)
	case strings.TrimSpace(o.Subject) == "" || utf8.RuneCountInString(o.Subject) > maxSubject || !cloudpay.Printable(o.Subject):
		return nil, cloudpay.FieldError("subject", "subject must be 1 to %d printable characters", maxSubject)
	case strings.ContainsAny(o.Subject, "/=&"):
		// subject: 不可使用特殊字符，如 /，=，& 等
		// (https://opendocs.alipay.com/open/f540afd8_alipay.trade.precreate).
		return nil, cloudpay.FieldError("subject", "subject must not contain /, = or &")
	}
	b := map[string]any{
		"out_trade_no": o.OutTradeNo, "subject": o.Subject,
		"total_amount": YuanOf(o.AmountFen), "product_code": productCode,
	}
	if !o.ExpiresAt.IsZero() {
		// time_expire: 订单绝对超时时间，格式为yyyy-MM-dd HH:mm:ss.
		b["time_expire"] = o.ExpiresAt.In(cloudpay.Beijing).Format(alipayTime)
	}
	return b, nil
}

// result is the part of every answer that says whether the call worked.
type result struct {
	Code    string `json:"code"`
	Msg     string `json:"msg"`
	SubCode string `json:"sub_code"`
	SubMsg  string `json:"sub_msg"`
}

// call makes one signed call to the gateway and decodes Alipay's verified
// answer into out; res must point into out. Alipay's refusal comes back as
// a bare *Error, for the caller to handle the ones that mean something to
// it before refused turns it into the domain's error; every other failure
// is already the domain's (fail).
func (c *Client) call(ctx context.Context, op, method string, biz map[string]any, withNotify bool, out any, res *result) error {
	p := sdk.NewPayload(method)
	for k, v := range biz {
		p.AddBizField(k, v)
	}
	if withNotify {
		p.AddParam("notify_url", c.notifyURL)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.sdk.Request(ctx, p, out); err != nil {
		var sdkErr *sdk.Error
		if errors.As(err, &sdkErr) && sdkErr.Code != "" && !sdkErr.Code.IsSuccess() {
			return &Error{Code: string(sdkErr.Code), Msg: sdkErr.Msg, SubCode: sdkErr.SubCode, SubMsg: sdkErr.SubMsg}
		}
		return fail(ctx, op, err)
	}
	switch res.Code {
	case codeSuccess:
		return nil
	case "":
		return unreadable(op, errors.New("answer without code"))
	}
	return &Error{Code: res.Code, Msg: res.Msg, SubCode: res.SubCode, SubMsg: res.SubMsg}
}

// domain turns a bare refusal from call into the domain's error; other
// errors are already the domain's.
func domain(op string, err error) error {
	if e, ok := err.(*Error); ok {
		return fmt.Errorf("%s: %w", op, refused(e))
	}
	return err
}

// refusedWith reports whether err is Alipay's bare refusal with the given
// sub_code, before domain has wrapped it.
func refusedWith(err error, subCodes ...string) bool {
	e, ok := err.(*Error)
	if !ok {
		return false
	}
	for _, code := range subCodes {
		if e.subCode() == code {
			return true
		}
	}
	return false
}

// Precreate creates the trade of a QR-code payment (当面付 precreate) and
// returns the qr_code text to show as a QR code. Alipay creates the trade
// only when the payer scans it: until then Query answers NotExist
// (https://opendocs.alipay.com/open/02ekfh, ACQ.TRADE_NOT_EXIST).
// Precreating the same order again returns a code again; a paid order is
// CodeOrderPaid, a closed one CodeOrderClosed, the same number with
// another amount or subject CodeOrderConflict.
func (c *Client) Precreate(ctx context.Context, o Order) (string, error) {
	op := "alipay precreate " + o.OutTradeNo
	biz, err := o.biz(productFaceToFace)
	if err != nil {
		return "", err
	}
	var resp struct {
		result
		OutTradeNo string `json:"out_trade_no"`
		QRCode     string `json:"qr_code"`
	}
	if err := c.call(ctx, op, "alipay.trade.precreate", biz, true, &resp, &resp.result); err != nil {
		return "", domain(op, err)
	}
	switch {
	case resp.QRCode == "":
		return "", unreadable(op, errors.New("no qr_code"))
	case resp.OutTradeNo != "" && resp.OutTradeNo != o.OutTradeNo:
		return "", unreadable(op, fmt.Errorf("answer for another order, %s", resp.OutTradeNo))
	}
	return resp.QRCode, nil
}

// WapPayURL returns the URL of Alipay's mobile cashier for the order
// (手机网站支付, alipay.trade.wap.pay: a signed GET to the gateway that the
// payer's browser opens; https://opendocs.alipay.com/open/29ae8cb6_alipay.trade.wap.pay).
// Nothing is sent to Alipay here. Alipay sends the payer back to returnURL
// (empty: none) and the outcome to the configured notify URL; the return
// proves nothing, the notification or Query does.
func (c *Client) WapPayURL(ctx context.Context, o Order, returnURL string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	biz, err := o.biz(productWap)
	if err != nil {
		return "", err
	}
	p := sdk.NewPayload("alipay.trade.wap.pay")
	for k, v := range biz {
		p.AddBizField(k, v)
	}
	p.AddParam("notify_url", c.notifyURL)
	if returnURL != "" {
		if u, err := url.Parse(returnURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", cloudpay.FieldError("return_url", "return_url must be an absolute http(s) URL")
		}
		p.AddParam("return_url", returnURL)
	}
	u, err := c.sdk.BuildURL(p)
	if err != nil {
		return "", fmt.Errorf("alipay wap pay %s: sign the URL: %w", o.OutTradeNo, err)
	}
	return u.String(), nil
}

// TradeStatus is Alipay's trade status (交易状态,
// https://opendocs.alipay.com/open/02ekfh), plus NotExist for a trade
// Alipay does not hold.
type TradeStatus string

const (
	WaitBuyerPay  TradeStatus = "WAIT_BUYER_PAY" // created (scanned, cashier opened), not paid
	TradeSuccess  TradeStatus = "TRADE_SUCCESS"  // paid; refunds possible
	TradeFinished TradeStatus = "TRADE_FINISHED" // paid; no refund possible any more
	TradeClosed   TradeStatus = "TRADE_CLOSED"   // closed unpaid, or paid and fully refunded
	NotExist      TradeStatus = "NOT_EXIST"      // ours: Alipay holds no trade under the number
)

// Paid reports whether the status is a payment.
func (s TradeStatus) Paid() bool { return s == TradeSuccess || s == TradeFinished }

func knownStatus(s TradeStatus) bool {
	switch s {
	case WaitBuyerPay, TradeSuccess, TradeFinished, TradeClosed:
		return true
	}
	return false
}

// Trade is Alipay's answer about a trade.
type Trade struct {
	OutTradeNo, TradeNo string
	Status              TradeStatus
	TotalFen            cloudpay.Fen
	BuyerID             string    // buyer_user_id (2088…), or buyer_open_id for applications that get open ids
	PaidAt              time.Time // UTC; zero until paid
}

// Query asks Alipay about a trade (alipay.trade.query,
// https://opendocs.alipay.com/open/02ekfh). A trade Alipay does not hold —
// ACQ.TRADE_NOT_EXIST, which includes a QR code nobody scanned yet — comes
// back with status NotExist, not as an error.
func (c *Client) Query(ctx context.Context, outTradeNo string) (Trade, error) {
	op := "alipay query " + outTradeNo
	if !cloudpay.ValidOutTradeNo(outTradeNo) {
		return Trade{}, cloudpay.FieldError("out_trade_no", "out_trade_no must be 6 to 32 letters, digits or _-|*")
	}
	var resp struct {
		result
		TradeNo     string `json:"trade_no"`
		OutTradeNo  string `json:"out_trade_no"`
		TradeStatus string `json:"trade_status"`
		TotalAmount string `json:"total_amount"`
		BuyerUserID string `json:"buyer_user_id"`
		BuyerOpenID string `json:"buyer_open_id"`
		SendPayDate string `json:"send_pay_date"` // 本次交易打款给卖家的时间
	}
	err := c.call(ctx, op, "alipay.trade.query", map[string]any{"out_trade_no": outTradeNo}, false, &resp, &resp.result)
	if refusedWith(err, "ACQ.TRADE_NOT_EXIST") {
		return Trade{OutTradeNo: outTradeNo, Status: NotExist}, nil
	}
	if err != nil {
		return Trade{}, domain(op, err)
	}
	t := Trade{
		OutTradeNo: resp.OutTradeNo, TradeNo: resp.TradeNo, Status: TradeStatus(resp.TradeStatus),
		BuyerID: firstOf(resp.BuyerUserID, resp.BuyerOpenID),
	}
	switch {
	case t.OutTradeNo != outTradeNo:
		return Trade{}, unreadable(op, fmt.Errorf("answer for another order, %q", t.OutTradeNo))
	case !knownStatus(t.Status):
		return Trade{}, unreadable(op, fmt.Errorf("unknown trade_status %q", resp.TradeStatus))
	}
	if t.TotalFen, err = FenFromYuan(resp.TotalAmount); err != nil {
		return Trade{}, unreadable(op, fmt.Errorf("total_amount: %w", err))
	}
	// send_pay_date is optional in Alipay's answer: without it a payment is
	// still a payment (its time unknown). With it, a TRADE_CLOSED trade was
	// paid and then refunded in full (Gateway's stateOf).
	if resp.SendPayDate != "" {
		if t.PaidAt, err = beijing(resp.SendPayDate); err != nil {
			return Trade{}, unreadable(op, fmt.Errorf("send_pay_date: %w", err))
		}
	}
	return t, nil
}

// Close closes an unpaid trade (alipay.trade.close,
// https://opendocs.alipay.com/open/02o6e7) and says what the trade is now:
//   - TradeClosed: closed now, or before;
//   - NotExist: Alipay holds no trade (a QR code nobody scanned, a cashier
//     nobody opened): nothing can be paid under it at Alipay right now —
//     though a code or URL handed out earlier may still be used until the
//     order's time_expire, so the caller keeps the order's expiry;
//   - TradeSuccess or TradeFinished, with a CodeOrderPaid error: it was
//     paid, and the payment stands (the error, as on the WeChat channels;
//     the status, so the caller can record the payment after a Query).
//
// Alipay refuses to close a trade that is not waiting for payment
// (ACQ.TRADE_STATUS_ERROR, 交易状态不合法) without saying which state it is
// in, so Close asks Query then. A trade closed after a full refund also
// reads TRADE_CLOSED.
func (c *Client) Close(ctx context.Context, outTradeNo string) (TradeStatus, error) {
	op := "alipay close " + outTradeNo
	if !cloudpay.ValidOutTradeNo(outTradeNo) {
		return "", cloudpay.FieldError("out_trade_no", "out_trade_no must be 6 to 32 letters, digits or _-|*")
	}
	var resp struct {
		result
		OutTradeNo string `json:"out_trade_no"`
		TradeNo    string `json:"trade_no"`
	}
	err := c.call(ctx, op, "alipay.trade.close", map[string]any{"out_trade_no": outTradeNo}, false, &resp, &resp.result)
	switch {
	case err == nil:
		return TradeClosed, nil
	case refusedWith(err, "ACQ.TRADE_NOT_EXIST"):
		return NotExist, nil
	case !refusedWith(err, "ACQ.TRADE_STATUS_ERROR", "ACQ.TRADE_HAS_SUCCESS", "ACQ.TRADE_HAS_CLOSE", "ACQ.TRADE_HAS_FINISHED"):
		return "", domain(op, err)
	}
	t, qerr := c.Query(ctx, outTradeNo)
	if qerr != nil {
		return "", fmt.Errorf("%s: refused (%v), and the query to learn why failed: %w", op, err, qerr)
	}
	switch {
	case t.Status == TradeClosed, t.Status == NotExist:
		return t.Status, nil
	case t.Status.Paid():
		return t.Status, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeOrderPaid,
			Message: "Alipay holds a payment for the order", Err: err})
	}
	return "", domain(op, err)
}

// beijing reads one of Alipay's times.
func beijing(s string) (time.Time, error) {
	t, err := time.ParseInLocation(alipayTime, s, cloudpay.Beijing)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not yyyy-MM-dd HH:mm:ss", s)
	}
	return t.UTC(), nil
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
