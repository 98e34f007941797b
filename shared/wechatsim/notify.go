package wechatsim

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// API v3 notifications (facts §5.4, §5.5): a signed JSON envelope whose resource is the
// AES-256-GCM encrypted event content.

// v3 event types the simulator sends.
const (
	EventTransactionSuccess = "TRANSACTION.SUCCESS"
	EventRefundSuccess      = "REFUND.SUCCESS"
	EventRefundClosed       = "REFUND.CLOSED"
	EventRefundAbnormal     = "REFUND.ABNORMAL"
)

// ForgeV3 kinds: how a forged notification is wrong.
const (
	ForgeBadSignature  = "bad_signature"  // signed with an RSA key that is not the platform key
	ForgeSignTest      = "signtest"       // Wechatpay-Signature is a WECHATPAY/SIGNTEST/ probe
	ForgeStale         = "stale"          // correctly signed, but Wechatpay-Timestamp is over 300 s old
	ForgeTampered      = "tampered"       // correctly signed, then one byte of the body (in summary) changed
	ForgeUnknownSerial = "unknown_serial" // correctly signed, but Wechatpay-Serial names another key
	ForgeBadResource   = "bad_resource"   // correctly signed, but the resource is encrypted under another APIv3 key
)

var forgeKinds = []string{ForgeBadSignature, ForgeSignTest, ForgeStale, ForgeTampered, ForgeUnknownSerial, ForgeBadResource}

// ForgeV3Request asks for a forged v3 notification. Its content is a SUCCESS of the named
// refund (OutRefundNo, REFUND.SUCCESS), else transfer bill (OutBillNo,
// MCHTRANSFER.BILL.FINISHED with state SUCCESS), else order (OutTradeNo,
// TRANSACTION.SUCCESS), whatever their real state; EventType overrides the event_type and
// URL the target, which defaults to the refund's, bill's or order's notify_url.
type ForgeV3Request struct {
	Kind        string `json:"kind"`
	OutTradeNo  string `json:"out_trade_no,omitempty"`
	OutRefundNo string `json:"out_refund_no,omitempty"`
	OutBillNo   string `json:"out_bill_no,omitempty"`
	EventType   string `json:"event_type,omitempty"`
	URL         string `json:"url,omitempty"`
}

type v3Notification struct {
	ID           string     `json:"id"`
	CreateTime   string     `json:"create_time"`
	ResourceType string     `json:"resource_type"`
	EventType    string     `json:"event_type"`
	Summary      string     `json:"summary"`
	Resource     v3Resource `json:"resource"`
}

type v3Resource struct {
	OriginalType   string `json:"original_type"`
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
}

// v3RefundContent is the decrypted resource of a REFUND.* notification.
type v3RefundContent struct {
	Mchid               string               `json:"mchid"`
	TransactionID       string               `json:"transaction_id"`
	OutTradeNo          string               `json:"out_trade_no"`
	RefundID            string               `json:"refund_id"`
	OutRefundNo         string               `json:"out_refund_no"`
	RefundStatus        string               `json:"refund_status"`
	SuccessTime         string               `json:"success_time,omitempty"`
	UserReceivedAccount string               `json:"user_received_account"`
	Amount              v3RefundNotifyAmount `json:"amount"`
}

type v3RefundNotifyAmount struct {
	Total       int64 `json:"total"`
	Refund      int64 `json:"refund"`
	PayerTotal  int64 `json:"payer_total"`
	PayerRefund int64 `json:"payer_refund"`
}

func summaryOf(eventType string) string {
	switch eventType {
	case EventTransactionSuccess:
		return "支付成功"
	case EventRefundSuccess:
		return "退款成功"
	case EventRefundClosed:
		return "退款关闭"
	case EventRefundAbnormal:
		return "退款异常"
	case EventTransferFinished:
		return "商家转账单据终态通知"
	}
	return "通知"
}

// newEventID returns a UUID-shaped notification id.
func newEventID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// seal builds a notification envelope with content encrypted under key. It returns the
// body and the plaintext.
func (s *Simulator) seal(key []byte, eventType, originalType string, content any) (body, plaintext []byte) {
	plaintext, err := json.Marshal(content)
	if err != nil { // cannot happen: plain structs
		plaintext = []byte("{}")
	}
	nonce := randString(alnum, 12)
	var ciphertext []byte
	if block, err := aes.NewCipher(key); err == nil {
		if gcm, err := cipher.NewGCM(block); err == nil {
			ciphertext = gcm.Seal(nil, []byte(nonce), plaintext, []byte(originalType))
		}
	}
	n := v3Notification{
		ID: newEventID(), CreateTime: s.v3Time(s.now()), ResourceType: "encrypt-resource",
		EventType: eventType, Summary: summaryOf(eventType),
		Resource: v3Resource{
			OriginalType: originalType, Algorithm: "AEAD_AES_256_GCM",
			Ciphertext: base64.StdEncoding.EncodeToString(ciphertext), AssociatedData: originalType, Nonce: nonce,
		},
	}
	body, err = json.Marshal(n)
	if err != nil {
		body = []byte("{}")
	}
	return body, plaintext
}

// transactionNotifyLocked builds the genuine TRANSACTION.SUCCESS notification of a paid
// order.
func (s *Simulator) transactionNotifyLocked(o *order) callback {
	body, pt := s.seal([]byte(s.cfg.APIv3Key), EventTransactionSuccess, "transaction", s.transactionLocked(o, true))
	cb := callback{kind: KindV3Notify, outTradeNo: o.outTradeNo, eventType: EventTransactionSuccess,
		url: o.notifyURL, body: body, plaintext: pt}
	if o.notifyURL == "" {
		cb.urlErr = "order " + o.outTradeNo + " has no notify_url"
	}
	return cb
}

func refundEvent(state string) string { return "REFUND." + state }

// refundNotifyURL is where r's notifications go: its own notify_url (the refund
// request's; for a refund made in the merchant platform, its order's), else the one
// configured in the merchant platform (Config.OutsideNotifyURL).
func (s *Simulator) refundNotifyURL(r *refund) string {
	if r.notifyURL == "" {
		return s.cfg.OutsideNotifyURL
	}
	return r.notifyURL
}

// refundContentLocked is a REFUND.* notification's content: amount.payer_total is what
// the user paid and amount.payer_refund what this refund gives back in cash, less than
// total and refund after a coupon payment (see splitRefundLocked;
// https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_5_11.shtml).
func (s *Simulator) refundContentLocked(r *refund, state string) v3RefundContent {
	sp := s.refundSplitLocked(r)
	c := v3RefundContent{
		Mchid: r.subMchID, TransactionID: r.transactionID, OutTradeNo: r.outTradeNo,
		RefundID: r.refundID, OutRefundNo: r.outRefundNo, RefundStatus: state,
		UserReceivedAccount: v3RefundRecvAccount,
		Amount: v3RefundNotifyAmount{Total: r.totalFee, Refund: r.refundFee,
			PayerTotal: sp.orderCash, PayerRefund: sp.cash},
	}
	if state == RefundSuccess {
		c.SuccessTime = s.v3Time(s.successTimeLocked(r))
	}
	return c
}

// refundNotifyLocked builds the genuine REFUND.<state> notification of r.
func (s *Simulator) refundNotifyLocked(r *refund, state string) callback {
	ev := refundEvent(state)
	body, pt := s.seal([]byte(s.cfg.APIv3Key), ev, "refund", s.refundContentLocked(r, state))
	cb := callback{kind: KindV3Notify, outTradeNo: r.outTradeNo, outRefundNo: r.outRefundNo,
		eventType: ev, state: state, url: s.refundNotifyURL(r), body: body, plaintext: pt}
	if cb.url == "" {
		cb.urlErr = "refund " + r.outRefundNo + " has no notify_url (none in the request, and Config.OutsideNotifyURL is empty)"
		if r.source == RefundSourceVendorPlatform {
			cb.urlErr = "refund " + r.outRefundNo + " was made in the merchant platform, its order has no notify_url and Config.OutsideNotifyURL is empty"
		}
	}
	return cb
}

// ForgeV3 sends a forged v3 notification now (see ForgeV3Request and the Forge* kinds).
// Nothing changes at WeChat; faults do not apply.
func (s *Simulator) ForgeV3(ctx context.Context, req ForgeV3Request) (Delivery, error) {
	cb, err := s.forgeV3Callback(req)
	if err != nil {
		return Delivery{}, err
	}
	return s.deliver(ctx, cb, TriggerForge, 1, false), nil
}

// forgeV3FromFault sends the bad_signature notification a v3_notify forge fault asked
// for, if the order is still unpaid.
func (s *Simulator) forgeV3FromFault(outTradeNo string) {
	s.mu.Lock()
	o := s.orders[outTradeNo]
	unpaid := o != nil && o.state == stateNotPay
	s.mu.Unlock()
	if !unpaid {
		return
	}
	cb, err := s.forgeV3Callback(ForgeV3Request{Kind: ForgeBadSignature, OutTradeNo: outTradeNo})
	if err != nil {
		return
	}
	s.deliver(s.ctx, cb, TriggerForgeFault, 1, false)
}

func (s *Simulator) forgeV3Callback(req ForgeV3Request) (callback, error) {
	if !slices.Contains(forgeKinds, req.Kind) {
		return callback{}, badField("kind", fmt.Sprintf("kind %q is not one of %s", req.Kind, strings.Join(forgeKinds, ", ")))
	}
	var content any
	var eventType, originalType, url, outTradeNo, outBillNo string
	s.mu.Lock()
	switch {
	case req.OutRefundNo != "":
		r := s.refunds[req.OutRefundNo]
		if r == nil {
			s.mu.Unlock()
			return callback{}, refundNotFound(req.OutRefundNo)
		}
		content = s.refundContentLocked(r, RefundSuccess)
		eventType, originalType, url, outTradeNo = EventRefundSuccess, "refund", s.refundNotifyURL(r), r.outTradeNo
		if o := s.orders[r.outTradeNo]; url == "" && o != nil {
			url = o.notifyURL
		}
	case req.OutBillNo != "":
		t := s.transfers[req.OutBillNo]
		if t == nil {
			s.mu.Unlock()
			return callback{}, transferNotFound(req.OutBillNo)
		}
		content = s.transferContentLocked(t, true)
		eventType, originalType, url, outBillNo = EventTransferFinished, transferOriginalType, t.notifyURL, t.outBillNo
	case req.OutTradeNo != "":
		o := s.orders[req.OutTradeNo]
		if o == nil {
			s.mu.Unlock()
			return callback{}, orderNotFound(req.OutTradeNo)
		}
		content = s.transactionLocked(o, true)
		eventType, originalType, url, outTradeNo = EventTransactionSuccess, "transaction", o.notifyURL, o.outTradeNo
	default:
		s.mu.Unlock()
		return callback{}, badField("out_trade_no", "out_trade_no, out_refund_no or out_bill_no is required")
	}
	s.mu.Unlock()
	if req.EventType != "" {
		eventType = req.EventType
	}
	if req.URL != "" {
		url = req.URL
	}
	if url == "" {
		return callback{}, badField("url", "the order, refund or transfer bill has no notify_url; give url")
	}

	key := []byte(s.cfg.APIv3Key)
	if req.Kind == ForgeBadResource {
		key = []byte(randString(alnum, 32))
		for string(key) == s.cfg.APIv3Key {
			key = []byte(randString(alnum, 32))
		}
	}
	body, pt := s.seal(key, eventType, originalType, content)
	now := time.Now().Unix()
	var h http.Header
	signKey, serial := s.signer()
	switch req.Kind {
	case ForgeBadSignature:
		h = v3Headers(stranger(), serial, now, body)
	case ForgeSignTest:
		h = v3Headers(signKey, serial, now, body)
		probe := make([]byte, 256)
		_, _ = rand.Read(probe)
		h.Set("Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+base64.StdEncoding.EncodeToString(probe))
	case ForgeStale:
		h = v3Headers(signKey, serial, now-v3MaxClockSkew-30, body)
	case ForgeTampered:
		h = v3Headers(signKey, serial, now, body)
		body = tamper(body)
	case ForgeUnknownSerial:
		other := serial
		for other == s.cfg.PublicKeyID || other == s.cfg.PlatformCertSerial {
			other = "PUB_KEY_ID_" + randString(digits, 34)
		}
		h = v3Headers(signKey, other, now, body)
	case ForgeBadResource:
		h = v3Headers(signKey, serial, now, body)
	}
	return callback{kind: KindV3Notify, outTradeNo: outTradeNo, outRefundNo: req.OutRefundNo, outBillNo: outBillNo,
		eventType: eventType, url: url, body: body, plaintext: pt, headers: h,
		forged: true, forgeKind: req.Kind}, nil
}

// tamper changes one byte of the summary of a notification body, keeping it valid JSON
// and UTF-8: the lowest bit of the last byte of the summary's first character.
func tamper(body []byte) []byte {
	out := slices.Clone(body)
	const key = `"summary":"`
	i := strings.Index(string(out), key)
	if i < 0 {
		out[len(out)/2] ^= 1
		return out
	}
	i += len(key)
	_, size := utf8.DecodeRune(out[i:])
	last := i + size - 1
	if out[last] == '"' || out[last] == '\\' { // empty summary or an escape: change the id instead
		out[len(`{"id":"`)] ^= 1
		return out
	}
	out[last] ^= 1
	return out
}
