// Package cloudhosting is the WeChat Pay channel of WeChat Cloud Hosting's
// open interface (http://api.weixin.qq.com/_/pay/*): JSON with v2 semantics,
// no keys or certificates; the sidecar authenticates the container.
package cloudhosting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Config is the channel's settings. The callback container is where WeChat
// delivers pay results; the environment may also come from X-WX-ENV.
//
// Nothing is required at load time: a function loads both channels'
// settings and only the chosen one must be complete, which Validate checks.
type Config struct {
	APIURL          string `env:"CLOUDHOSTING_API_URL, default=http://api.weixin.qq.com"`
	SubMchID        string `env:"WECHAT_SUB_MCH_ID"` // required on this channel: see Validate
	SubAppID        string `env:"WECHAT_SUB_APPID"`
	EnvID           string `env:"CLOUDHOSTING_ENV_ID"`
	CBREnvID        string `env:"CBR_ENV_ID"` // injected by Cloud Hosting into every container
	CallbackService string `env:"PAY_CALLBACK_SERVICE, default=payment-callback"`
	CallbackPath    string `env:"PAY_CALLBACK_PATH, default=/callbacks/pay"`
	// RefundCallbackPath is where, in CallbackService, WeChat delivers refund results.
	RefundCallbackPath string        `env:"REFUND_CALLBACK_PATH, default=/callbacks/refund"`
	Timeout            time.Duration `env:"WECHAT_TIMEOUT, default=5s"`
}

// Validate says what is missing for this channel to carry payments, by
// setting name and never by value.
func (c Config) Validate() error {
	if strings.TrimSpace(c.SubMchID) == "" {
		return errors.New("WECHAT_SUB_MCH_ID is required when PAY_CHANNEL=cloudhosting")
	}
	return nil
}

// Client calls the open interface. Build one per process.
type Client struct {
	cfg  Config
	http *http.Client
}

// New returns a client; hc may be nil for a default one. Every call is also
// bounded by cfg.Timeout, whatever the client's own timeout.
func New(cfg Config, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	return &Client{cfg: cfg, http: hc}
}

// envID is the environment that receives a callback: configuration first,
// then the request's X-WX-ENV, then Cloud Hosting's CBR_ENV_ID.
func (c *Client) envID(fromRequest, callback string) (string, error) {
	for _, id := range []string{c.cfg.EnvID, fromRequest, c.cfg.CBREnvID} {
		if id != "" {
			return id, nil
		}
	}
	return "", cloudpay.Errorf(cloudpay.CodeInternal,
		"no Cloud Hosting environment for the %s callback: set CLOUDHOSTING_ENV_ID or call through Cloud Hosting (X-WX-ENV)", callback)
}

// MerchantID is the merchant whose orders this channel handles.
func (c *Client) MerchantID() string { return c.cfg.SubMchID }

type container struct {
	Service string `json:"service"`
	Path    string `json:"path"`
}

type unifiedOrderRequest struct {
	Body           string    `json:"body"`
	OpenID         string    `json:"openid"`
	OutTradeNo     string    `json:"out_trade_no"`
	SpbillCreateIP string    `json:"spbill_create_ip"`
	EnvID          string    `json:"env_id"`
	SubMchID       string    `json:"sub_mch_id"`
	SubAppID       string    `json:"sub_appid,omitempty"`
	TotalFee       int64     `json:"total_fee"`
	CallbackType   int       `json:"callback_type"`
	Container      container `json:"container"`
	TradeType      string    `json:"trade_type"`
	Attach         string    `json:"attach,omitempty"`
	TimeExpire     string    `json:"time_expire,omitempty"`
}

// result is the part of every respdata that says whether the call worked.
type result struct {
	ReturnCode string `json:"return_code"`
	ReturnMsg  string `json:"return_msg"`
	ResultCode string `json:"result_code"`
	ErrCode    string `json:"err_code"`
	ErrCodeDes string `json:"err_code_des"`
}

// Prepay creates WeChat's side of the order and returns what
// wx.requestPayment needs. The amount is the stored order's.
func (c *Client) Prepay(ctx context.Context, req wechat.PrepayRequest) (string, wechat.PaymentParams, error) {
	envID, err := c.envID(req.EnvID, "pay")
	if err != nil {
		return "", wechat.PaymentParams{}, err
	}
	o := req.Order
	body := unifiedOrderRequest{
		Body: o.Description, OpenID: o.OpenID, OutTradeNo: o.OutTradeNo,
		SpbillCreateIP: req.ClientIP, EnvID: envID, SubMchID: c.cfg.SubMchID, SubAppID: c.cfg.SubAppID,
		TotalFee: int64(o.AmountFen), CallbackType: 2,
		Container: container{Service: c.cfg.CallbackService, Path: c.cfg.CallbackPath},
		TradeType: "JSAPI", Attach: o.Attach,
		TimeExpire: o.ExpiresAt.In(cloudpay.Beijing).Format(wechatTime),
	}
	var resp struct {
		result
		PrepayID string               `json:"prepay_id"`
		Payment  wechat.PaymentParams `json:"payment"`
	}
	if err := c.call(ctx, "unifiedOrder", body, &resp, &resp.result); err != nil {
		return "", wechat.PaymentParams{}, fmt.Errorf("unifiedorder %s: %w", o.OutTradeNo, domain(err))
	}
	// errcode 0 with an empty prepay_id has been seen in the wild: not usable.
	if resp.PrepayID == "" || resp.Payment.Package == "" || resp.Payment.Package == "prepay_id=" {
		return "", wechat.PaymentParams{}, cloudpay.Errorf(cloudpay.CodeWeChatError, "unifiedorder %s: WeChat returned no prepay_id", o.OutTradeNo)
	}
	return resp.PrepayID, resp.Payment, nil
}

// QueryOrder asks WeChat what happened to an order. An order WeChat does not
// know comes back with state NOTEXIST, not as an error.
func (c *Client) QueryOrder(ctx context.Context, outTradeNo string) (wechat.Transaction, error) {
	var resp queryOrderResponse
	req := map[string]string{"out_trade_no": outTradeNo, "sub_mch_id": c.cfg.SubMchID}
	err := c.call(ctx, "queryorder", req, &resp, &resp.result)
	if refusedWith(err, "ORDERNOTEXIST") {
		return wechat.Transaction{OutTradeNo: outTradeNo, State: wechat.TradeNotExist}, nil
	}
	if err != nil {
		return wechat.Transaction{}, fmt.Errorf("queryorder %s: %w", outTradeNo, domain(err))
	}
	return resp.transaction(), nil
}

// queryOrderResponse is queryorder's respdata.
type queryOrderResponse struct {
	result
	TradeState    string `json:"trade_state"`
	TotalFee      fen    `json:"total_fee"`
	TransactionID string `json:"transaction_id"`
	OutTradeNo    string `json:"out_trade_no"`
	SubMchID      string `json:"sub_mch_id"`
	SubOpenID     string `json:"sub_openid"`
	TimeEnd       string `json:"time_end"`
	TradeType     string `json:"trade_type"`
}

func (resp *queryOrderResponse) transaction() wechat.Transaction {
	tx := wechat.Transaction{
		OutTradeNo: resp.OutTradeNo, TransactionID: resp.TransactionID,
		State: wechat.TradeState(resp.TradeState), TotalFen: cloudpay.Fen(resp.TotalFee),
		MchID: resp.SubMchID, OpenID: resp.SubOpenID, TradeType: resp.TradeType,
	}
	if resp.TimeEnd != "" {
		if t, err := time.ParseInLocation(wechatTime, resp.TimeEnd, cloudpay.Beijing); err == nil {
			tx.PaidAt = t.UTC()
		}
	}
	return tx
}

// CloseOrder closes an unpaid order at WeChat. An order already closed is
// success; one already paid is CodeOrderPaid.
func (c *Client) CloseOrder(ctx context.Context, outTradeNo string) error {
	var resp result
	req := map[string]string{"out_trade_no": outTradeNo, "sub_mch_id": c.cfg.SubMchID}
	err := c.call(ctx, "closeorder", req, &resp, &resp)
	if refusedWith(err, "ORDERCLOSED") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("closeorder %s: %w", outTradeNo, domain(err))
	}
	return nil
}

// wechatTime is WeChat v2's time format, in Beijing time.
const wechatTime = "20060102150405"

// refusedWith reports whether err is WeChat's refusal (result_code FAIL)
// with the given err_code, before domain has wrapped it.
func refusedWith(err error, code string) bool {
	we, ok := wechat.ErrorOf(err)
	return ok && we.Code == code
}

// domain maps a refusal by WeChat (a bare *wechat.Error from call)
// to the error clients see, keeping the refusal as its cause; other errors
// are already domain errors. Callers first handle the refusals that mean
// something else to them (ORDERNOTEXIST to a query, ORDERCLOSED to a close).
func domain(err error) error {
	var de *cloudpay.Error
	if errors.As(err, &de) {
		return err
	}
	we, ok := wechat.ErrorOf(err)
	if !ok {
		return err
	}
	code := cloudpay.CodeWeChatError
	switch we.Code {
	case "ORDERPAID":
		code = cloudpay.CodeOrderPaid
	case "ORDERCLOSED":
		code = cloudpay.CodeOrderClosed
	}
	return &cloudpay.Error{Code: code, Message: "WeChat Pay refused the request: " + we.Code, Err: we}
}

// unboundMsg is the open interface's return_msg when the merchant is not bound
// to the environment, or not yet authorised there: a configuration error, never
// cured by retrying
// (https://developers.weixin.qq.com/miniprogram/dev/wxcloudservice/wxcloudrun/src/development/pay/index.md).
const unboundMsg = "受理关系不存在"

// maxResponse bounds what is read from WeChat; real replies are a few KiB.
const maxResponse = 1 << 20

// call posts body to the API and decodes respdata into out. res must point
// into out; it is checked for return_code and result_code.
func (c *Client) call(ctx context.Context, api string, body, out any, res *result) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.APIURL+"/_/pay/"+api, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return transportError(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return transportError(err)
	}
	if resp.StatusCode != http.StatusOK {
		return cloudpay.Errorf(cloudpay.CodeWeChatError, "WeChat answered HTTP %d", resp.StatusCode)
	}
	var env struct {
		ErrCode  *int            `json:"errcode"`
		ErrMsg   string          `json:"errmsg"`
		RespData json.RawMessage `json:"respdata"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.ErrCode == nil {
		return &cloudpay.Error{Code: cloudpay.CodeWeChatError, Message: "WeChat answered something that is not the open-interface envelope", Err: err}
	}
	if *env.ErrCode != 0 {
		return cloudpay.Errorf(cloudpay.CodeWeChatError, "WeChat open interface error %d: %s", *env.ErrCode, env.ErrMsg)
	}
	if err := json.Unmarshal(env.RespData, out); err != nil {
		return &cloudpay.Error{Code: cloudpay.CodeWeChatError, Message: "WeChat answered malformed respdata", Err: err}
	}
	if res.ReturnCode != "SUCCESS" {
		if strings.Contains(res.ReturnMsg, unboundMsg) {
			return cloudpay.Errorf(cloudpay.CodeWeChatError, "WeChat return_code %q: %s: a configuration error, "+
				"WECHAT_SUB_MCH_ID is not bound to this Cloud Hosting environment or not authorised: "+
				"bind it in 微信云托管控制台 → 设置 → 其他设置 → 微信支付配置", res.ReturnCode, res.ReturnMsg)
		}
		return cloudpay.Errorf(cloudpay.CodeWeChatError, "WeChat return_code %q: %s", res.ReturnCode, res.ReturnMsg)
	}
	if res.ResultCode != "SUCCESS" {
		return &wechat.Error{Code: res.ErrCode, Message: res.ErrCodeDes}
	}
	return nil
}

// transportError classifies a failure to get an answer: a timeout means the
// call may or may not have taken effect.
func transportError(err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || (errors.As(err, &ne) && ne.Timeout()) {
		return &cloudpay.Error{Code: cloudpay.CodeWeChatTimeout, Message: "WeChat Pay did not answer in time", Err: err}
	}
	return &cloudpay.Error{Code: cloudpay.CodeWeChatError, Message: "WeChat Pay could not be reached", Err: err}
}

// QueryTransaction asks WeChat about a payment by its transaction_id
// (queryorder, where transaction_id takes priority over out_trade_no): a
// payment made outside cloudpay. A malformed number is a field error, sent
// nowhere; one WeChat does not know (ORDERNOTEXIST) is
// CodeTransactionNotFound.
func (c *Client) QueryTransaction(ctx context.Context, transactionID string) (wechat.Transaction, error) {
	if !wechat.ValidTransactionID(transactionID) {
		return wechat.Transaction{}, cloudpay.FieldError("transaction_id", "transaction_id must be 1 to %d digits", wechat.MaxTransactionIDLen)
	}
	var resp queryOrderResponse
	req := map[string]string{"transaction_id": transactionID, "sub_mch_id": c.cfg.SubMchID}
	err := c.call(ctx, "queryorder", req, &resp, &resp.result)
	if refusedWith(err, "ORDERNOTEXIST") {
		we, _ := wechat.ErrorOf(err)
		return wechat.Transaction{}, &cloudpay.Error{Code: cloudpay.CodeTransactionNotFound,
			Message: "WeChat holds no payment with transaction_id " + transactionID, Err: we}
	}
	if err != nil {
		return wechat.Transaction{}, fmt.Errorf("queryorder transaction_id %s: %w", transactionID, domain(err))
	}
	tx := resp.transaction()
	if tx.TransactionID != "" && tx.TransactionID != transactionID {
		return wechat.Transaction{}, cloudpay.Errorf(cloudpay.CodeWeChatError,
			"queryorder transaction_id %s: WeChat answered for another payment, %s", transactionID, tx.TransactionID)
	}
	return tx, nil
}
