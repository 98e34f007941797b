package wechatpay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/wechatpay-apiv3/wechatpay-go/core"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Transfer bills (商家转账, user-confirmation mode). wechatpay-go v0.2.21 has
// no service for them, so they go through the SDK's core client, which
// signs the request and verifies the answer as for every other call.

// transferBillsPath is where the transfer-bill endpoints live, under the
// API host; the host-rewriting transport re-points it like the SDK's calls.
const transferBillsPath = DefaultAPIURL + "/v3/fund-app/mch-transfer/transfer-bills"

// transferSettings is the channel's fixed part of every new bill.
type transferSettings struct {
	sceneID     string
	reportInfos []reportInfo
	perception  string
}

// outBillNoPattern is WeChat Pay's rule for out_bill_no.
var outBillNoPattern = regexp.MustCompile(`^[0-9A-Za-z]{1,32}$`)

// transferBillRequest is the body of a new bill. UserName is encrypted in
// place by the SDK (RSA-OAEP with the WeChat Pay public key) before sending.
type transferBillRequest struct {
	AppID              string       `json:"appid"`
	OutBillNo          string       `json:"out_bill_no"`
	TransferSceneID    string       `json:"transfer_scene_id"`
	OpenID             string       `json:"openid"`
	UserName           *string      `json:"user_name,omitempty" encryption:"EM_APIV3"`
	TransferAmount     int64        `json:"transfer_amount"`
	TransferRemark     string       `json:"transfer_remark"`
	NotifyURL          string       `json:"notify_url,omitempty"`
	UserRecvPerception string       `json:"user_recv_perception,omitempty"`
	ReportInfos        []reportInfo `json:"transfer_scene_report_infos,omitempty"`
}

// transferBill is what WeChat Pay says about a bill: the answer to create,
// query and cancel (each a subset) and the MCHTRANSFER.BILL.FINISHED
// resource. Queries name the merchant mch_id, notifications mchid.
type transferBill struct {
	MchID          string `json:"mchid"`
	MchIDQuery     string `json:"mch_id"`
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	State          string `json:"state"`
	TransferAmount *int64 `json:"transfer_amount"`
	FailReason     string `json:"fail_reason"`
	OpenID         string `json:"openid"`
	PackageInfo    string `json:"package_info"`
	CreateTime     string `json:"create_time"`
	UpdateTime     string `json:"update_time"`
}

// transferStates are the states WeChat Pay gives a bill.
var transferStates = map[string]wechat.TransferState{
	"ACCEPTED": wechat.TransferAccepted, "PROCESSING": wechat.TransferProcessing,
	"WAIT_USER_CONFIRM": wechat.TransferWaitUserConfirm, "TRANSFERING": wechat.TransferTransfering,
	"SUCCESS": wechat.TransferSuccess, "FAIL": wechat.TransferFail,
	"CANCELING": wechat.TransferCanceling, "CANCELLED": wechat.TransferCancelled,
}

var errUnknownTransferState = errors.New("unknown transfer state")

// transferResult maps a bill; a bill that names no merchant is this
// client's.
func (c *Client) transferResult(b transferBill) (wechat.TransferResult, error) {
	res := wechat.TransferResult{
		OutBillNo: b.OutBillNo, TransferBillNo: b.TransferBillNo, OpenID: b.OpenID,
		MchID: b.MchID, FailReason: b.FailReason, PackageInfo: b.PackageInfo,
	}
	if res.MchID == "" {
		res.MchID = b.MchIDQuery
	}
	if res.MchID == "" {
		res.MchID = c.mchID
	}
	if !outBillNoPattern.MatchString(res.OutBillNo) {
		return res, errors.New("no valid out_bill_no")
	}
	var err error
	if res.AmountFen, err = fen("transfer_amount", b.TransferAmount); err != nil {
		return res, err
	}
	if res.CreatedAt, err = beijingTime("create_time", b.CreateTime); err != nil {
		return res, err
	}
	if res.UpdatedAt, err = beijingTime("update_time", b.UpdateTime); err != nil {
		return res, err
	}
	state, ok := transferStates[b.State]
	if !ok {
		return res, fmt.Errorf("%w %q", errUnknownTransferState, b.State)
	}
	res.State = state
	return res, nil
}

// beijingTime reads an optional RFC 3339 time (WeChat writes +08:00) as UTC.
func beijingTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not RFC 3339", field, s)
	}
	return at.UTC(), nil
}

// CreateTransfer asks WeChat Pay to pay req.AmountFen to the user's WeChat
// balance. A bill that is accepted waits for the user (WAIT_USER_CONFIRM,
// with the PackageInfo for wx.requestMerchantTransfer); its outcome comes
// from the MCHTRANSFER.BILL.FINISHED notification or QueryTransfer. After
// an error or no answer, query the same OutBillNo before anything else:
// only a bill known to be FAIL may be retried under a new number.
//
// Every call names the configured scene, report infos and perception.
// UserName, when set, is sent encrypted with the WeChat Pay public key.
func (c *Client) CreateTransfer(ctx context.Context, req wechat.TransferRequest) (wechat.TransferResult, error) {
	if err := checkTransfer(req); err != nil {
		return wechat.TransferResult{}, err
	}
	op := "transfer " + req.OutBillNo
	body := transferBillRequest{
		AppID: c.appID, OutBillNo: req.OutBillNo, TransferSceneID: c.transfer.sceneID, OpenID: req.OpenID,
		TransferAmount: int64(req.AmountFen), TransferRemark: req.Remark, NotifyURL: c.notifyURL,
		UserRecvPerception: c.transfer.perception, ReportInfos: c.transfer.reportInfos,
	}
	ctx, cancel := c.begin(ctx)
	defer cancel()
	var header http.Header
	if req.UserName != "" {
		body.UserName = core.String(req.UserName)
		serial, err := c.core.EncryptRequest(ctx, &body)
		if err != nil {
			// The SDK's message would not quote the name, but the cause
			// is for logs only anyway.
			return wechat.TransferResult{}, &cloudpay.Error{Code: cloudpay.CodeInternal,
				Message: op + ": cannot encrypt user_name", Err: err}
		}
		header = http.Header{"Wechatpay-Serial": {serial}}
	}
	result, err := c.core.Request(ctx, http.MethodPost, transferBillsPath, header, nil, body, "application/json")
	res, err := c.readTransfer(ctx, op, req.OutBillNo, result, err)
	if errors.Is(err, errUnknownTransferState) {
		// Accepted with a state this code does not know: the bill exists
		// and its outcome is not known yet, which is what ACCEPTED means.
		res.State, err = wechat.TransferAccepted, nil
	}
	if err != nil {
		return wechat.TransferResult{}, err
	}
	return res, nil
}

// checkTransfer refuses what WeChat Pay would refuse for its form alone.
func checkTransfer(req wechat.TransferRequest) error {
	switch {
	case !outBillNoPattern.MatchString(req.OutBillNo):
		return cloudpay.FieldError("out_bill_no", "out_bill_no must be 1-32 digits and letters")
	case req.OpenID == "":
		return cloudpay.FieldError("openid", "openid is required")
	case req.AmountFen <= 0 || req.AmountFen > cloudpay.MaxFen:
		return cloudpay.FieldError("amount_fen", "amount_fen must be a whole number of fen between 1 and %d", cloudpay.MaxFen)
	case req.Remark == "" || utf8.RuneCountInString(req.Remark) > maxTransferText:
		return cloudpay.FieldError("remark", "remark must be 1-%d characters", maxTransferText)
	}
	return nil
}

// QueryTransfer asks WeChat Pay about one bill. A bill WeChat does not know
// comes back with state NOTEXIST, not as an error.
func (c *Client) QueryTransfer(ctx context.Context, outBillNo string) (wechat.TransferResult, error) {
	if !outBillNoPattern.MatchString(outBillNo) {
		return wechat.TransferResult{}, cloudpay.FieldError("out_bill_no", "out_bill_no must be 1-32 digits and letters")
	}
	ctx, cancel := c.begin(ctx)
	defer cancel()
	result, err := c.core.Request(ctx, http.MethodGet, billURL(outBillNo, ""), nil, nil, nil, "application/json")
	if core.IsAPIError(err, "NOT_FOUND") {
		return wechat.TransferResult{OutBillNo: outBillNo, State: wechat.TransferNotExist}, nil
	}
	return c.readTransfer(ctx, "query transfer "+outBillNo, outBillNo, result, err)
}

// CancelTransfer asks WeChat Pay to cancel a bill the user has not yet
// confirmed. Cancelling is asynchronous: the answer is usually CANCELING,
// and the outcome (CANCELLED, or SUCCESS if the user confirmed first)
// comes from the notification or QueryTransfer.
func (c *Client) CancelTransfer(ctx context.Context, outBillNo string) (wechat.TransferResult, error) {
	if !outBillNoPattern.MatchString(outBillNo) {
		return wechat.TransferResult{}, cloudpay.FieldError("out_bill_no", "out_bill_no must be 1-32 digits and letters")
	}
	ctx, cancel := c.begin(ctx)
	defer cancel()
	result, err := c.core.Request(ctx, http.MethodPost, billURL(outBillNo, "/cancel"), nil, nil, nil, "application/json")
	return c.readTransfer(ctx, "cancel transfer "+outBillNo, outBillNo, result, err)
}

func billURL(outBillNo, suffix string) string {
	return transferBillsPath + "/out-bill-no/" + url.PathEscape(outBillNo) + suffix
}

// readTransfer turns the SDK's answer into a bill, or the call's error
// into the domain's. An answer with an unknown state is returned with
// errUnknownTransferState still in its error chain.
func (c *Client) readTransfer(ctx context.Context, op, outBillNo string, result *core.APIResult, err error) (wechat.TransferResult, error) {
	if err != nil {
		return wechat.TransferResult{}, c.fail(ctx, op, result, err)
	}
	var b transferBill
	if err := core.UnMarshalResponse(result.Response, &b); err != nil {
		return wechat.TransferResult{}, c.fail(ctx, op, result, err)
	}
	switch b.OutBillNo {
	case "": // the answer names the bill by the URL or request only
		b.OutBillNo = outBillNo
	case outBillNo:
	default:
		return wechat.TransferResult{}, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
			Message: "WeChat Pay answered about another transfer bill"})
	}
	res, err := c.transferResult(b)
	if err != nil {
		return res, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeWeChatError,
			Message: "WeChat Pay answered an unreadable transfer bill", Err: err})
	}
	return res, nil
}

// transferNotice reads the resource of MCHTRANSFER.BILL.FINISHED.
func (c *Client) transferNotice(plaintext []byte) (wechat.TransferResult, error) {
	var b transferBill
	if err := json.Unmarshal(plaintext, &b); err != nil {
		return wechat.TransferResult{}, err
	}
	return c.transferResult(b)
}
