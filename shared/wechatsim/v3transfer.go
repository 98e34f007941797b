package wechatsim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"
)

// The API v3 side of 商家转账 (facts §6.2): create, query, cancel, and the
// MCHTRANSFER.BILL.FINISHED notification.

// API names of the transfer endpoints, as used in the call log and in faults.
const (
	apiTransfer       = "transfer"       // POST /v3/fund-app/mch-transfer/transfer-bills
	apiQueryTransfer  = "querytransfer"  // GET  .../transfer-bills/out-bill-no/{no} (and transfer-bill-no/{id})
	apiCancelTransfer = "canceltransfer" // POST .../transfer-bills/out-bill-no/{no}/cancel
)

// EventTransferFinished is the event_type of a transfer bill's notification.
const EventTransferFinished = "MCHTRANSFER.BILL.FINISHED"

// transferOriginalType is the resource original_type (and associated_data) of transfer
// notifications.
const transferOriginalType = "mch_payment"

// Messages WeChat answers (facts §6.2).
const (
	msgSceneReportInfos = "需传入转账场景报备信息，请检查"
	msgAmountLimits     = "超过单笔转账上下限，核实产品设置是否准确"
)

type transferRequest struct {
	appID, outBillNo, sceneID, openID, userName, remark, notifyURL, perception string
	amount                                                                     int64
	reportInfos                                                                []reportInfo
}

func validOutBillNo(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// chars reads a string field limited to max characters (not bytes).
func (p params) chars(name string, required bool, max int) (string, error) {
	v, err := p.str(name, required, 0)
	if err != nil {
		return "", err
	}
	if utf8.RuneCountInString(v) > max {
		return "", invalidParam(name, fmt.Sprintf("longer than %d characters", max))
	}
	return v, nil
}

func (p params) reportInfos() ([]reportInfo, error) {
	const name = "transfer_scene_report_infos"
	raw, ok := p.raw(name)
	if !ok {
		return nil, nil
	}
	var items []params
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalidParam(name, "must be an array of objects")
	}
	out := make([]reportInfo, 0, len(items))
	for i, item := range items {
		if item == nil {
			return nil, invalidParam(name, "must be an array of objects")
		}
		prefix := fmt.Sprintf("%s[%d].", name, i)
		var ri reportInfo
		var err error
		if ri.InfoType, err = item.chars("info_type", true, 15); err != nil {
			return nil, &paramError{prefix + err.Error()}
		}
		if ri.InfoContent, err = item.chars("info_content", true, 32); err != nil {
			return nil, &paramError{prefix + err.Error()}
		}
		out = append(out, ri)
	}
	return out, nil
}

// checkSceneReportInfos applies the report-info rule of scene 1000 (现金营销): exactly
// two items, 活动名称 and 奖励说明.
func checkSceneReportInfos(scene string, infos []reportInfo) error {
	if scene != "1000" {
		return nil
	}
	if len(infos) != 2 {
		return &paramError{msgSceneReportInfos}
	}
	seen := map[string]bool{}
	for _, ri := range infos {
		seen[ri.InfoType] = true
	}
	if !seen["活动名称"] || !seen["奖励说明"] {
		return &paramError{msgSceneReportInfos}
	}
	return nil
}

// decryptUserName undoes the RSA-OAEP (SHA-1) encryption with the key serial names: the
// WeChat Pay public key or the platform certificate.
func (s *Simulator) decryptUserName(b64, serial string) (string, error) {
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", invalidParam("user_name", "is not base64 (it must be encrypted with the WeChat Pay public key)")
	}
	key := s.cfg.PlatformKey
	if serial == s.cfg.PlatformCertSerial {
		key = s.cfg.PlatformCertKey
	}
	pt, err := rsa.DecryptOAEP(sha1.New(), nil, key, ct, nil)
	if err != nil {
		return "", invalidParam("user_name", "解密失败: not RSA-OAEP encrypted with the key "+serial)
	}
	if !utf8.Valid(pt) || len(pt) == 0 {
		return "", invalidParam("user_name", "decrypts to no valid UTF-8 name")
	}
	return string(pt), nil
}

func (s *Simulator) parseTransfer(r *http.Request, raw []byte) (transferRequest, error) {
	var q transferRequest
	p, err := parseParams(raw)
	if err != nil {
		return q, err
	}
	if q.appID, err = p.str("appid", true, 32); err != nil {
		return q, err
	}
	if q.outBillNo, err = p.str("out_bill_no", true, 0); err != nil {
		return q, err
	}
	if !validOutBillNo(q.outBillNo) {
		return q, invalidParam("out_bill_no", "must be 1 to 32 digits and letters")
	}
	if q.sceneID, err = p.str("transfer_scene_id", true, 36); err != nil {
		return q, err
	}
	if q.openID, err = p.str("openid", true, 64); err != nil {
		return q, err
	}
	if q.amount, err = p.integer("transfer_amount", true); err != nil {
		return q, err
	}
	if q.amount <= 0 {
		return q, invalidParam("transfer_amount", "must be an integer greater than 0")
	}
	if q.remark, err = p.chars("transfer_remark", true, 32); err != nil {
		return q, err
	}
	if q.notifyURL, err = p.notifyURL(false); err != nil {
		return q, err
	}
	if q.perception, err = p.str("user_recv_perception", false, 64); err != nil {
		return q, err
	}
	if q.reportInfos, err = p.reportInfos(); err != nil {
		return q, err
	}
	if err = checkSceneReportInfos(q.sceneID, q.reportInfos); err != nil {
		return q, err
	}
	name, err := p.str("user_name", false, 2048)
	if err != nil {
		return q, err
	}
	if name != "" {
		serial := r.Header.Get("Wechatpay-Serial")
		if serial != s.cfg.PublicKeyID && serial != s.cfg.PlatformCertSerial {
			return q, &paramError{fmt.Sprintf("user_name is encrypted, so the Wechatpay-Serial header must name the WeChat Pay public key %s or the platform certificate %s, not %q",
				s.cfg.PublicKeyID, s.cfg.PlatformCertSerial, serial)}
		}
		if q.userName, err = s.decryptUserName(name, serial); err != nil {
			return q, err
		}
	}
	if q.userName == "" && q.amount >= transferNameRequiredFen {
		return q, missingParam("user_name: 转账金额 >= 2000 元时必须传入收款用户姓名")
	}
	return q, nil
}

// v3TransferCreated is the reply of the create call.
type v3TransferCreated struct {
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	CreateTime     string `json:"create_time"`
	State          string `json:"state"`
	FailReason     string `json:"fail_reason,omitempty"`
	PackageInfo    string `json:"package_info,omitempty"`
}

func (s *Simulator) transferCreatedLocked(t *transfer) v3TransferCreated {
	v := v3TransferCreated{OutBillNo: t.outBillNo, TransferBillNo: t.transferBillNo,
		CreateTime: s.v3Time(t.createdAt), State: t.state, FailReason: t.failReason}
	if t.state == TransferWaitUserConfirm {
		v.PackageInfo = t.packageInfo
	}
	return v
}

// v3CreateTransfer is POST /v3/fund-app/mch-transfer/transfer-bills (发起转账,
// https://pay.weixin.qq.com/doc/v3/merchant/4012716434). The same out_bill_no again with the
// same openid and amount answers the bill as it is; with others, 400 INVALID_REQUEST
// ("商户单号重复"); an amount outside the scene's limits, 400 INVALID_REQUEST
// msgAmountLimits (facts §6.2). NOT_ENOUGH, NO_AUTH and the like are faults (api transfer).
func (s *Simulator) v3CreateTransfer(r *http.Request, raw []byte) (v3Reply, func()) {
	q, err := s.parseTransfer(r, raw)
	if err != nil {
		return v3ParamError(err)
	}
	if q.appID != s.cfg.AppID {
		return v3Err(http.StatusBadRequest, "INVALID_REQUEST", "appid与商户号不匹配: appid "+q.appID).reply(), nil
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, overdue := s.lookTransferLocked(q.outBillNo); t != nil {
		t.requests++
		s.saveTransferLocked(t)
		var after func()
		if overdue != nil {
			after = func() { s.sendLater(TriggerOverdue, overdue) }
		}
		if t.openID != q.openID || t.amount != q.amount {
			return v3Err(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf(
				"商户单号重复: out_bill_no %s was requested with openid %s and transfer_amount %d", t.outBillNo, t.openID, t.amount)).reply(), after
		}
		return v3OK(s.transferCreatedLocked(t)), after
	}
	if lo, hi := s.cfg.TransferMinFen, s.cfg.TransferMaxFen; lo > 0 && q.amount < lo || hi > 0 && q.amount > hi {
		return v3Err(http.StatusBadRequest, "INVALID_REQUEST", msgAmountLimits).reply(), nil
	}
	t := &transfer{
		seq: len(s.transfers) + 1, outBillNo: q.outBillNo, transferBillNo: s.newTransferBillNoLocked(now),
		appID: q.appID, openID: q.openID, sceneID: q.sceneID, userName: q.userName, amount: q.amount,
		remark: q.remark, notifyURL: q.notifyURL, perception: q.perception, reportInfos: q.reportInfos,
		state: TransferAccepted, createdAt: now, updatedAt: now, requests: 1,
	}
	var after func()
	if s.cfg.TransferNoConfirm {
		t.state = TransferProcessing
		no := t.outBillNo
		after = func() {
			s.spawn(func() { _, _ = s.settleTransfer(s.ctx, no, TransferSuccess, "", TriggerSettle, TransferProcessing) })
		}
	} else {
		t.state = TransferWaitUserConfirm
		t.packageInfo = newPackageInfo()
	}
	s.transfers[t.outBillNo] = t
	s.transfersByID[t.transferBillNo] = t
	s.saveTransferLocked(t)
	return v3OK(s.transferCreatedLocked(t)), after
}

// newTransferBillNoLocked returns a 40-digit transfer_bill_no shaped like WeChat's
// (1330000071100999991182020050700019480001), unique.
func (s *Simulator) newTransferBillNoLocked(now time.Time) string {
	for {
		id := "1330000" + randString(digits, 12) + now.In(s.loc).Format("20060102") + randString(digits, 13)
		if _, used := s.transfersByID[id]; !used {
			return id
		}
	}
}

// newPackageInfo returns an opaque package_info for wx.requestMerchantTransfer.
func newPackageInfo() string {
	b := make([]byte, 72)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// v3TransferBill is the query reply.
type v3TransferBill struct {
	MchID          string `json:"mch_id"`
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	Appid          string `json:"appid"`
	State          string `json:"state"`
	TransferAmount int64  `json:"transfer_amount"`
	TransferRemark string `json:"transfer_remark"`
	FailReason     string `json:"fail_reason,omitempty"`
	Openid         string `json:"openid"`
	CreateTime     string `json:"create_time"`
	UpdateTime     string `json:"update_time"`
}

// msgTransferNotFound is the message of 404 NOT_FOUND for a transfer bill.
const msgTransferNotFound = "记录不存在"

// transferBillNotFound is the answer to a query (by out_bill_no or transfer_bill_no) or a
// cancel of a bill WeChat does not know: 404 NOT_FOUND "记录不存在". The code is 商家转账's
// (商户单号查询转账单, https://pay.weixin.qq.com/docs/merchant/apis/mch-trans/transfer-bill/get-transfer-bill-by-out-no.html;
// 微信单号查询转账单, https://pay.weixin.qq.com/docs/merchant/apis/mch-trans/transfer-bill/get-transfer-bill-by-no.html;
// 撤销转账, https://pay.weixin.qq.com/doc/v3/merchant/4012716458), whose error tables were not
// retrieved whole; NOT_FOUND and "记录不存在" are what the older 商家转账到零钱 queries answer
// (https://developers.weixin.qq.com/community/pay/doc/000a04eda085708f5bce038f051800,
// https://developers.weixin.qq.com/community/develop/doc/0000e2551e0ec8d39d2e7b33152000), and
// what cloudpay's adapter expects (core.IsAPIError(err, "NOT_FOUND")).
func transferBillNotFound() v3Reply {
	return v3Err(http.StatusNotFound, "NOT_FOUND", msgTransferNotFound).reply()
}

// v3QueryTransfer is GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}
// and .../transfer-bill-no/{transfer_bill_no}.
func (s *Simulator) v3QueryTransfer(r *http.Request, _ []byte) (v3Reply, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	no := r.PathValue("out_bill_no")
	if id := r.PathValue("transfer_bill_no"); id != "" {
		if t := s.transfersByID[id]; t != nil {
			no = t.outBillNo
		}
	}
	t, overdue := s.lookTransferLocked(no)
	if t == nil {
		return transferBillNotFound(), nil
	}
	var after func()
	if overdue != nil {
		after = func() { s.sendLater(TriggerOverdue, overdue) }
	}
	return v3OK(v3TransferBill{
		MchID: s.cfg.MchID, OutBillNo: t.outBillNo, TransferBillNo: t.transferBillNo, Appid: t.appID,
		State: t.state, TransferAmount: t.amount, TransferRemark: t.remark, FailReason: t.failReason,
		Openid: t.openID, CreateTime: s.v3Time(t.createdAt), UpdateTime: s.v3Time(t.updatedAt),
	}), after
}

// v3CancelTransfer is POST /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel.
// The body is not read (WeChat's has none; the SDK's Post sends "null" or "{}").
func (s *Simulator) v3CancelTransfer(r *http.Request, _ []byte) (v3Reply, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, overdue := s.lookTransferLocked(r.PathValue("out_bill_no"))
	if t == nil {
		return transferBillNotFound(), nil
	}
	var after func()
	switch t.state {
	case TransferAccepted, TransferProcessing, TransferWaitUserConfirm:
		t.state, t.updatedAt = TransferCanceling, s.now()
		s.saveTransferLocked(t)
		no := t.outBillNo
		after = func() {
			s.spawn(func() { _, _ = s.settleTransfer(s.ctx, no, TransferCancelled, "", TriggerCancel, TransferCanceling) })
		}
	case TransferCanceling: // a repeated cancel: still under way
	default:
		if overdue != nil {
			after = func() { s.sendLater(TriggerOverdue, overdue) }
		}
		msg := fmt.Sprintf("转账单据状态不允许撤销: the bill is %s", t.state)
		if t.failReason != "" {
			msg += " (" + t.failReason + ")"
		}
		return v3Err(http.StatusBadRequest, "INVALID_REQUEST", msg).reply(), after
	}
	return v3OK(map[string]any{
		"out_bill_no": t.outBillNo, "transfer_bill_no": t.transferBillNo, "state": t.state,
		"update_time": s.v3Time(t.updatedAt),
	}), after
}

// v3TransferContent is the decrypted resource of MCHTRANSFER.BILL.FINISHED.
type v3TransferContent struct {
	Mchid          string `json:"mchid"`
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	State          string `json:"state"`
	TransferAmount int64  `json:"transfer_amount"`
	FailReason     string `json:"fail_reason,omitempty"`
	Openid         string `json:"openid"`
	CreateTime     string `json:"create_time"`
	UpdateTime     string `json:"update_time"`
}

// transferContentLocked is t's notification content; claimSuccess claims SUCCESS whatever
// its state (forged notifications).
func (s *Simulator) transferContentLocked(t *transfer, claimSuccess bool) v3TransferContent {
	c := v3TransferContent{
		Mchid: s.cfg.MchID, OutBillNo: t.outBillNo, TransferBillNo: t.transferBillNo, State: t.state,
		TransferAmount: t.amount, FailReason: t.failReason, Openid: t.openID,
		CreateTime: s.v3Time(t.createdAt), UpdateTime: s.v3Time(t.updatedAt),
	}
	if claimSuccess && t.state != TransferSuccess {
		c.State, c.FailReason, c.UpdateTime = TransferSuccess, "", s.v3Time(s.now())
	}
	return c
}

// transferNotifyLocked builds t's genuine MCHTRANSFER.BILL.FINISHED notification.
func (s *Simulator) transferNotifyLocked(t *transfer, claimSuccess bool) callback {
	body, pt := s.seal([]byte(s.cfg.APIv3Key), EventTransferFinished, transferOriginalType, s.transferContentLocked(t, claimSuccess))
	cb := callback{kind: KindV3Notify, outBillNo: t.outBillNo, eventType: EventTransferFinished,
		state: t.state, url: t.notifyURL, body: body, plaintext: pt}
	if t.notifyURL == "" {
		cb.urlErr = "transfer bill " + t.outBillNo + " has no notify_url"
	}
	return cb
}
