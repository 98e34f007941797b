package cloudhosting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Daily bills (docs/bills.md). The open interface has only the trade bill:
// POST /_/pay/downloadbill {"sub_mch_id","bill_date":"yyyyMMdd","bill_type"}
// answers the bill text itself as respdata, a string; a refusal is a
// respdata object with return_code FAIL ("No Bill Exist", error_code 20002;
// "Bill Creating"). It gives no hash: what arrives cannot be checked beyond
// what the bill's own totals row checks when it is parsed.

// maxBill bounds the answer: far above a day of a busy merchant.
const maxBill = 256 << 20

// billTimeout bounds the download, which may be much larger than any other
// answer.
const billTimeout = 2 * time.Minute

// DownloadBill returns WeChat Pay's trade bill (bill_type ALL) of one Beijing
// day as WeChat writes it. The fund-flow bill is CodeBillUnsupported: the
// open interface has none.
func (c *Client) DownloadBill(ctx context.Context, kind wechat.BillKind, day string) ([]byte, error) {
	switch kind {
	case wechat.TradeBill:
	case wechat.FundFlowBill:
		return nil, cloudpay.Errorf(cloudpay.CodeBillUnsupported,
			"the Cloud Hosting open interface has no fund-flow bill (资金账单): only API v3 has")
	default:
		return nil, cloudpay.FieldError("kind", "kind %q is not %s or %s", kind, wechat.TradeBill, wechat.FundFlowBill)
	}
	d, err := wechat.CheckBillDay(day, time.Now())
	if err != nil {
		return nil, err
	}
	op := "downloadbill " + day
	payload, err := json.Marshal(map[string]string{
		"sub_mch_id": c.cfg.SubMchID, "bill_date": d.Format("20060102"), "bill_type": "ALL",
	})
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, billTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.APIURL+"/_/pay/downloadbill", bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("%s: build request: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, transportError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBill+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, transportError(err))
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		return nil, cloudpay.Errorf(cloudpay.CodeWeChatError, "%s: WeChat answered HTTP %d", op, resp.StatusCode)
	case len(raw) > maxBill:
		return nil, cloudpay.Errorf(cloudpay.CodeWeChatError, "%s: the answer is larger than %d bytes", op, maxBill)
	}
	var env struct {
		ErrCode  *int            `json:"errcode"`
		ErrMsg   string          `json:"errmsg"`
		RespData json.RawMessage `json:"respdata"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.ErrCode == nil {
		return nil, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
			Message: "WeChat answered something that is not the open-interface envelope", Err: err})
	}
	if *env.ErrCode != 0 {
		return nil, cloudpay.Errorf(cloudpay.CodeWeChatError, "%s: WeChat open interface error %d: %s", op, *env.ErrCode, env.ErrMsg)
	}
	data := bytes.TrimSpace(env.RespData)
	if len(data) > 0 && data[0] == '"' {
		var text string
		if err := json.Unmarshal(data, &text); err != nil {
			return nil, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
				Message: "WeChat answered a malformed bill", Err: err})
		}
		if strings.TrimSpace(text) == "" {
			return nil, cloudpay.Errorf(cloudpay.CodeWeChatError, "%s: WeChat answered an empty bill", op)
		}
		return []byte(text), nil
	}
	var refusal struct {
		ReturnCode string `json:"return_code"`
		ReturnMsg  string `json:"return_msg"`
		ErrorCode  string `json:"error_code"`
		ErrCode    string `json:"err_code"`
		ErrCodeDes string `json:"err_code_des"`
	}
	if err := json.Unmarshal(data, &refusal); err != nil || refusal.ReturnCode == "" {
		return nil, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
			Message: "WeChat answered neither a bill nor a refusal", Err: err})
	}
	code := refusal.ErrorCode
	if code == "" {
		code = refusal.ErrCode
	}
	if code == "" {
		code = refusal.ReturnMsg
	}
	msg := refusal.ReturnMsg
	if msg == "" {
		msg = refusal.ErrCodeDes
	}
	we := &wechat.Error{Code: code, Message: msg}
	switch {
	case strings.EqualFold(refusal.ReturnMsg, "No Bill Exist") || refusal.ErrorCode == "20002":
		return nil, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeNoStatement,
			Message: "WeChat Pay has no bill for the day: nothing happened", Err: we})
	case strings.EqualFold(refusal.ReturnMsg, "Bill Creating"):
		return nil, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeBillNotReady,
			Message: "WeChat Pay is still making the bill (it is served from 10:00 Beijing the next day)", Err: we})
	}
	return nil, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
		Message: "WeChat Pay refused the bill download: " + msg, Err: we})
}
