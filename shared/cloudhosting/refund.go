package cloudhosting

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

type refundRequest struct {
	SubMchID     string    `json:"sub_mch_id"`
	OutTradeNo   string    `json:"out_trade_no"`
	OutRefundNo  string    `json:"out_refund_no"`
	TotalFee     int64     `json:"total_fee"`
	RefundFee    int64     `json:"refund_fee"`
	RefundDesc   string    `json:"refund_desc,omitempty"`
	EnvID        string    `json:"env_id"`
	CallbackType int       `json:"callback_type"`
	Container    container `json:"container"`
}

// Refund asks WeChat to refund part or all of a paid order. Acceptance is
// not the refund: the result stays PROCESSING until the refund callback or
// QueryRefund says otherwise. Retry a failed or unanswered refund with the
// same OutRefundNo: WeChat refunds a number only once.
func (c *Client) Refund(ctx context.Context, req wechat.RefundRequest) (wechat.RefundResult, error) {
	envID, err := c.envID(req.EnvID, "refund")
	if err != nil {
		return wechat.RefundResult{}, err
	}
	body := refundRequest{
		SubMchID: c.cfg.SubMchID, OutTradeNo: req.OutTradeNo, OutRefundNo: req.OutRefundNo,
		TotalFee: int64(req.TotalFen), RefundFee: int64(req.RefundFen), RefundDesc: req.Reason,
		EnvID: envID, CallbackType: 2,
		Container: container{Service: c.cfg.CallbackService, Path: c.cfg.RefundCallbackPath},
	}
	var resp struct {
		result
		SubMchID      string `json:"sub_mch_id"`
		OutTradeNo    string `json:"out_trade_no"`
		TransactionID string `json:"transaction_id"`
		OutRefundNo   string `json:"out_refund_no"`
		RefundID      string `json:"refund_id"`
		RefundFee     fen    `json:"refund_fee"`
		TotalFee      fen    `json:"total_fee"`
	}
	if err := c.call(ctx, "refund", body, &resp, &resp.result); err != nil {
		return wechat.RefundResult{}, fmt.Errorf("refund %s: %w", req.OutRefundNo, domain(err))
	}
	res := wechat.RefundResult{
		OutRefundNo: req.OutRefundNo, OutTradeNo: req.OutTradeNo, TransactionID: resp.TransactionID,
		RefundID: resp.RefundID, State: wechat.RefundProcessing, RefundFen: req.RefundFen, TotalFen: req.TotalFen,
		MchID: c.cfg.SubMchID,
	}
	// WeChat's echo wins where it has one: it is what WeChat recorded.
	if resp.OutTradeNo != "" {
		res.OutTradeNo = resp.OutTradeNo
	}
	if resp.RefundFee != 0 {
		res.RefundFen = cloudpay.Fen(resp.RefundFee)
	}
	if resp.TotalFee != 0 {
		res.TotalFen = cloudpay.Fen(resp.TotalFee)
	}
	if resp.SubMchID != "" {
		res.MchID = resp.SubMchID
	}
	return res, nil
}

// refundStates maps v2 refund_status (queryrefund) and refundStatus
// (refund callback) to the domain's v3 names.
var refundStates = map[string]wechat.RefundState{
	"SUCCESS":     wechat.RefundSuccess,
	"REFUNDCLOSE": wechat.RefundClosed,
	"PROCESSING":  wechat.RefundProcessing,
	"CHANGE":      wechat.RefundAbnormal,
}

// refundTime is v2's format of refund times, in Beijing time.
const refundTime = "2006-01-02 15:04:05"

// QueryRefund asks WeChat about one refund. A refund WeChat does not know
// comes back with state NOTEXIST, not as an error.
func (c *Client) QueryRefund(ctx context.Context, outRefundNo string) (wechat.RefundResult, error) {
	var resp queryRefundResponse
	req := map[string]string{"sub_mch_id": c.cfg.SubMchID, "out_refund_no": outRefundNo}
	err := c.call(ctx, "queryrefund", req, &resp, &resp.result)
	if refusedWith(err, "REFUNDNOTEXIST") {
		return wechat.RefundResult{OutRefundNo: outRefundNo, State: wechat.RefundNotExist}, nil
	}
	if err != nil {
		return wechat.RefundResult{}, fmt.Errorf("queryrefund %s: %w", outRefundNo, domain(err))
	}
	res, err := refundEntry(resp.fields, outRefundNo)
	if err != nil {
		return wechat.RefundResult{}, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
			Message: "queryrefund " + outRefundNo + ": WeChat answered an unreadable refund", Err: err}
	}
	return res, nil
}

// queryRefundResponse is queryrefund's respdata. v2 lists the order's
// refunds in indexed fields (out_refund_no_0, refund_status_0, …), so every
// field is also kept by name.
type queryRefundResponse struct {
	result
	fields map[string]json.RawMessage
}

func (q *queryRefundResponse) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &q.result); err != nil {
		return err
	}
	return json.Unmarshal(b, &q.fields)
}

// refundEntry picks, among the refunds of a queryrefund answer, the one
// numbered outRefundNo. v2 lists them in indexed fields (out_refund_no_0, …);
// Cloud Hosting's own example lists them in arrays (out_refund_no_list,
// refund_status_list, …: https://developers.weixin.qq.com/miniprogram/dev/wxcloudrun/src/development/pay/order/refund.html),
// so an answer in that shape is first spread into indexed fields. Either
// way, an entry without its status or amount is unreadable, never zero.
func refundEntry(f map[string]json.RawMessage, outRefundNo string) (wechat.RefundResult, error) {
	if err := spreadRefundLists(f); err != nil {
		return wechat.RefundResult{}, err
	}
	str := func(key string) (string, error) {
		raw, ok := f[key]
		if !ok || string(raw) == "null" {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			return s, nil
		}
		// v2 values are text, but the conversion to JSON may give numbers.
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", fmt.Errorf("%s is neither text nor a number", key)
		}
		return n.String(), nil
	}
	amount := func(key string) (cloudpay.Fen, error) {
		raw, ok := f[key]
		if !ok {
			return 0, nil
		}
		var v fen
		if err := json.Unmarshal(raw, &v); err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		return cloudpay.Fen(v), nil
	}
	// refund_count bounds the scan; without it, entries are read until the
	// first missing index. WeChat lists at most 50 refunds per order.
	limit := 100
	if s, err := str("refund_count"); err == nil && s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < limit {
			limit = n
		}
	}
	for i := range limit {
		n := strconv.Itoa(i)
		no, err := str("out_refund_no_" + n)
		if err != nil {
			return wechat.RefundResult{}, err
		}
		if no == "" {
			break
		}
		if no != outRefundNo {
			continue
		}
		res := wechat.RefundResult{OutRefundNo: no}
		status, err := str("refund_status_" + n)
		if err != nil {
			return res, err
		}
		state, ok := refundStates[status]
		if !ok {
			return res, fmt.Errorf("unknown refund_status_%s %q", n, status)
		}
		res.State = state
		if res.RefundID, err = str("refund_id_" + n); err != nil {
			return res, err
		}
		if _, ok := f["refund_fee_"+n]; !ok {
			return res, fmt.Errorf("refund_fee_%s is missing", n)
		}
		if res.RefundFen, err = amount("refund_fee_" + n); err != nil {
			return res, err
		}
		if res.TotalFen, err = amount("total_fee"); err != nil {
			return res, err
		}
		if res.OutTradeNo, err = str("out_trade_no"); err != nil {
			return res, err
		}
		if res.TransactionID, err = str("transaction_id"); err != nil {
			return res, err
		}
		if res.MchID, err = str("sub_mch_id"); err != nil {
			return res, err
		}
		if res.Account, err = str("refund_recv_accout_" + n); err != nil { // sic: v2's spelling
			return res, err
		}
		at, err := str("refund_success_time_" + n)
		if err != nil {
			return res, err
		}
		if at != "" {
			t, err := time.ParseInLocation(refundTime, at, cloudpay.Beijing)
			if err != nil {
				return res, fmt.Errorf("refund_success_time_%s %q is not %s", n, at, refundTime)
			}
			res.SucceededAt = t.UTC()
		}
		return res, nil
	}
	return wechat.RefundResult{}, fmt.Errorf("no entry for out_refund_no %s", outRefundNo)
}

// refundListFields are the per-refund fields cloudpay reads, as Cloud
// Hosting's arrays name them (name_list) and v2 indexes them (name_$n).
var refundListFields = []string{"refund_status", "refund_id", "refund_fee", "refund_recv_accout", "refund_success_time"}

// spreadRefundLists turns an answer in Cloud Hosting's array shape into v2's
// indexed fields. One shape per answer: an answer with any indexed entry is
// read as v2's alone. The arrays are paired by position, so every one given
// must be as long as out_refund_no_list, and that as refund_count says.
func spreadRefundLists(f map[string]json.RawMessage) error {
	if _, indexed := f["out_refund_no_0"]; indexed {
		return nil
	}
	list := func(name string) ([]json.RawMessage, bool, error) {
		raw, ok := f[name+"_list"]
		if !ok || string(raw) == "null" {
			return nil, false, nil
		}
		var l []json.RawMessage
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, false, fmt.Errorf("%s_list is not a list", name)
		}
		return l, true, nil
	}
	nos, ok, err := list("out_refund_no")
	if err != nil || !ok {
		return err
	}
	if raw, ok := f["refund_count"]; ok {
		var count fen
		if err := json.Unmarshal(raw, &count); err != nil || int(count) != len(nos) {
			return fmt.Errorf("refund_count %s does not match the %d refunds of out_refund_no_list", raw, len(nos))
		}
	}
	for _, name := range append([]string{"out_refund_no"}, refundListFields...) {
		l, ok, err := list(name)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if len(l) != len(nos) {
			return fmt.Errorf("%s_list has %d entries, out_refund_no_list %d", name, len(l), len(nos))
		}
		for i, v := range l {
			if string(v) != "null" {
				f[name+"_"+strconv.Itoa(i)] = v
			}
		}
	}
	return nil
}
