package wechatsim

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// The mini-program platform's trade management (发货信息管理), as
// api.weixin.qq.com serves it: stable_token for access tokens, and
// upload_shipping_info and is_trade_managed, reached with a token (AWS
// Lambda) or without one (the Cloud Hosting open interface, whose
// container calls the platform authenticates). A payment must exist
// (10060001 otherwise) and may have its shipping uploaded once and
// updated once (10060003 after that).
// https://developers.weixin.qq.com/miniprogram/dev/server/API/order_shipping/api_uploadshippinginfo

// DevAppSecret is the development mini-program's AppSecret for stable_token.
const DevAppSecret = "cloudpaysimulatorappsecret000001"

// Shipment is what the platform holds for a paid order's shipping.
type Shipment struct {
	OrderKey       map[string]any   `json:"order_key"`
	LogisticsType  int              `json:"logistics_type"`
	DeliveryMode   int              `json:"delivery_mode"`
	IsAllDelivered *bool            `json:"is_all_delivered,omitempty"`
	ShippingList   []map[string]any `json:"shipping_list"`
	UploadTime     string           `json:"upload_time"`
	Payer          map[string]any   `json:"payer"`
	Uploads        int              `json:"uploads"` // 1, then 2 after its one update
	ViaToken       bool             `json:"via_token"`
}

type miniProgram struct {
	mu          sync.Mutex
	tokens      map[string]time.Time // access token → expiry
	shipments   map[string]*Shipment // transaction_id → shipment
	notManaged  bool
	failNext    []int // errcodes to answer next, in turn
	tokenIssued int
}

func (m *miniProgram) init() {
	if m.tokens == nil {
		m.tokens, m.shipments = map[string]time.Time{}, map[string]*Shipment{}
	}
}

func mpReply(w http.ResponseWriter, code int, msg string, extra map[string]any) {
	body := map[string]any{"errcode": code, "errmsg": msg}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, http.StatusOK, body)
}

// mpCall checks a call's token, if it carries one (none: the open
// interface), and an injected failure; ok false means answered.
func (s *Simulator) mpCall(w http.ResponseWriter, r *http.Request, api string) ([]byte, bool, bool) {
	raw, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
	s.logCall(api, r.URL.RequestURI(), raw)
	m := &s.mp
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	tok := r.URL.Query().Get("access_token")
	if tok != "" {
		if exp, ok := m.tokens[tok]; !ok || !time.Now().Before(exp) {
			mpReply(w, 40001, "invalid credential, access_token is invalid or not latest", nil)
			return nil, false, false
		}
	}
	if len(m.failNext) > 0 {
		code := m.failNext[0]
		m.failNext = m.failNext[1:]
		mpReply(w, code, "injected by the simulator", nil)
		return nil, false, false
	}
	return raw, tok != "", true
}

// handleStableToken is POST /cgi-bin/stable_token.
// https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-access-token/getStableAccessToken.html
func (s *Simulator) handleStableToken(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<12))
	s.logCall("stable_token", r.URL.RequestURI(), []byte(`{"redacted":true}`))
	var req struct {
		GrantType string `json:"grant_type"`
		AppID     string `json:"appid"`
		Secret    string `json:"secret"`
	}
	if json.Unmarshal(raw, &req) != nil || req.GrantType != "client_credential" {
		mpReply(w, 40002, "invalid grant_type", nil)
		return
	}
	if req.AppID != s.cfg.AppID || req.Secret != DevAppSecret {
		mpReply(w, 40125, "invalid appsecret", nil)
		return
	}
	m := &s.mp
	m.mu.Lock()
	m.init()
	tok := "SIMTOKEN_" + randString(alnum, 40)
	m.tokens[tok] = time.Now().Add(2 * time.Hour)
	m.tokenIssued++
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": 7200})
}

// handleUploadShipping is POST /wxa/sec/order/upload_shipping_info.
func (s *Simulator) handleUploadShipping(w http.ResponseWriter, r *http.Request) {
	raw, viaToken, ok := s.mpCall(w, r, "upload_shipping_info")
	if !ok {
		return
	}
	var req Shipment
	if err := json.Unmarshal(raw, &req); err != nil || req.OrderKey == nil || req.Payer == nil || len(req.ShippingList) == 0 ||
		req.LogisticsType < 1 || req.LogisticsType > 4 || req.DeliveryMode < 1 || req.DeliveryMode > 2 || req.UploadTime == "" {
		mpReply(w, 47001, "data format error", nil)
		return
	}
	txn := s.paymentOf(req.OrderKey)
	m := &s.mp
	m.mu.Lock()
	defer m.mu.Unlock()
	if txn == "" {
		mpReply(w, 10060001, "支付单不存在", nil)
		return
	}
	held := m.shipments[txn]
	if held != nil && held.Uploads >= 2 {
		mpReply(w, 10060003, "支付单已使用重新发货机会", nil)
		return
	}
	req.Uploads, req.ViaToken = 1, viaToken
	if held != nil {
		req.Uploads = held.Uploads + 1
	}
	m.shipments[txn] = &req
	mpReply(w, 0, "ok", nil)
}

// paymentOf finds the paid order an order_key names: its transaction_id.
func (s *Simulator) paymentOf(key map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var o *order
	switch key["order_number_type"] {
	case 2.0:
		id, _ := key["transaction_id"].(string)
		o = s.byTxn[id]
	case 1.0:
		no, _ := key["out_trade_no"].(string)
		if mch, _ := key["mchid"].(string); mch != "" {
			o = s.orders[no]
		}
	}
	if o == nil || (o.state != stateSuccess && o.state != stateRefund) {
		return ""
	}
	return o.transactionID
}

// handleTradeManaged is POST /wxa/sec/order/is_trade_managed.
func (s *Simulator) handleTradeManaged(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.mpCall(w, r, "is_trade_managed"); !ok {
		return
	}
	s.mp.mu.Lock()
	managed := !s.mp.notManaged
	s.mp.mu.Unlock()
	mpReply(w, 0, "ok", map[string]any{"is_trade_managed": managed})
}

// MiniProgramShipment returns what the platform holds for a payment.
func (s *Simulator) MiniProgramShipment(transactionID string) (Shipment, bool) {
	s.mp.mu.Lock()
	defer s.mp.mu.Unlock()
	s.mp.init()
	sh, ok := s.mp.shipments[transactionID]
	if !ok {
		return Shipment{}, false
	}
	return *sh, true
}

// MiniProgramFail makes the next calls of upload_shipping_info or
// is_trade_managed answer the errcodes given, in turn.
func (s *Simulator) MiniProgramFail(codes ...int) {
	s.mp.mu.Lock()
	s.mp.failNext = append(s.mp.failNext, codes...)
	s.mp.mu.Unlock()
}

// SetTradeManaged sets what is_trade_managed answers (default true).
func (s *Simulator) SetTradeManaged(managed bool) {
	s.mp.mu.Lock()
	s.mp.notManaged = !managed
	s.mp.mu.Unlock()
}

// TokensIssued counts the access tokens stable_token gave out.
func (s *Simulator) TokensIssued() int {
	s.mp.mu.Lock()
	defer s.mp.mu.Unlock()
	return s.mp.tokenIssued
}

// handleShipmentControl is GET /shipping/{transaction_id}.
func (s *Simulator) handleShipmentControl(w http.ResponseWriter, r *http.Request) {
	sh, ok := s.MiniProgramShipment(r.PathValue("transaction_id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no shipping uploaded for this payment"})
		return
	}
	writeJSON(w, http.StatusOK, sh)
}
