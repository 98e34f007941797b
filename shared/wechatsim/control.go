package wechatsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const maxControlBody = 64 << 10

// Call is one request the simulator received on the open interface or API v3.
type Call struct {
	API  string          `json:"api"`
	Path string          `json:"path"` // for API v3, with the query string
	At   time.Time       `json:"at"`
	Body json.RawMessage `json:"body"` // the raw JSON; a body that is not JSON is kept as a JSON string
}

// OrderView is WeChat's side of the truth about an order. openid/sub_openid follow
// queryorder: sub_openid is the openid the order was placed with.
type OrderView struct {
	Channel        string     `json:"channel"` // ChannelCloudHosting or ChannelV3: how it was created
	OutTradeNo     string     `json:"out_trade_no"`
	TradeState     string     `json:"trade_state"`
	PrepayID       string     `json:"prepay_id"`
	TransactionID  string     `json:"transaction_id,omitempty"`
	SubMchID       string     `json:"sub_mch_id"`
	SubAppID       string     `json:"sub_appid"`
	Body           string     `json:"body"`
	Attach         string     `json:"attach,omitempty"`
	TotalFee       int64      `json:"total_fee"`
	CashFee        int64      `json:"cash_fee"`
	OpenID         string     `json:"openid"`
	SubOpenID      string     `json:"sub_openid"`
	TradeType      string     `json:"trade_type"`
	SpbillCreateIP string     `json:"spbill_create_ip"`
	EnvID          string     `json:"env_id"`
	CallbackType   int64      `json:"callback_type"`
	NotifyURL      string     `json:"notify_url,omitempty"` // API v3 orders
	Container      *Container `json:"container,omitempty"`
	FunctionName   string     `json:"function_name,omitempty"`
	TimeExpire     *time.Time `json:"time_expire,omitempty"`
	TimeEnd        string     `json:"time_end,omitempty"` // yyyyMMddHHmmss, Beijing time
	CreatedAt      time.Time  `json:"created_at"`
	PaidAt         *time.Time `json:"paid_at,omitempty"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`
	CallbackAcked  bool       `json:"callback_acked"`
	Outside        bool       `json:"outside,omitempty"`  // made by OutsidePayment
	CodeURL        string     `json:"code_url,omitempty"` // API v3 Native orders
	H5URL          string     `json:"h5_url,omitempty"`   // API v3 H5 orders
	H5Type         string     `json:"h5_type,omitempty"`  // API v3 H5 orders: scene_info.h5_info.type
}

// Order returns WeChat's view of an order.
func (s *Simulator) Order(outTradeNo string) (OrderView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[outTradeNo]
	if o == nil {
		return OrderView{}, false
	}
	v := OrderView{
		Channel: o.channel, NotifyURL: o.notifyURL, OutTradeNo: o.outTradeNo, TradeState: o.state, PrepayID: o.prepayID,
		TransactionID: o.transactionID, SubMchID: o.subMchID, SubAppID: o.subAppID, Body: o.body,
		Attach: o.attach, TotalFee: o.totalFee, OpenID: spOpenID(o.openID), SubOpenID: o.openID,
		TradeType: o.tradeType, SpbillCreateIP: o.spbillIP, EnvID: o.envID,
		CallbackType: o.callbackType, FunctionName: o.functionName,
		CreatedAt: o.createdAt.UTC(), CallbackAcked: o.acked, Outside: o.outside,
	}
	switch o.tradeType {
	case tradeNative:
		v.CodeURL = o.payURL
	case tradeMWEB:
		v.H5URL, v.H5Type = o.payURL, o.h5Type
	}
	if o.callbackType == 2 {
		c := o.container
		v.Container = &c
	}
	if !o.timeExpire.IsZero() {
		t := o.timeExpire.UTC()
		v.TimeExpire = &t
	}
	if o.paid() {
		v.CashFee = o.cashFee()
		v.TimeEnd = s.wechatTime(o.timeEnd)
		t := o.timeEnd.UTC()
		v.PaidAt = &t
	}
	if !o.closedAt.IsZero() {
		t := o.closedAt.UTC()
		v.ClosedAt = &t
	}
	return v, true
}

// Calls returns the open-interface calls for api ("" for all) in arrival order.
func (s *Simulator) Calls(api string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Call{}
	for _, c := range s.calls {
		if api == "" || c.API == api {
			c.Body = slices.Clone(c.Body)
			out = append(out, c)
		}
	}
	return out
}

// Deliveries returns every logged delivery attempt concerning the order outTradeNo ("" for
// all), its refunds' included, in the order the attempts finished.
func (s *Simulator) Deliveries(outTradeNo string) []Delivery {
	return s.deliveriesWhere(func(d *Delivery) bool { return outTradeNo == "" || d.OutTradeNo == outTradeNo })
}

// RefundDeliveries returns every logged delivery attempt of the callbacks and
// notifications of the refund outRefundNo, in the order the attempts finished.
func (s *Simulator) RefundDeliveries(outRefundNo string) []Delivery {
	return s.deliveriesWhere(func(d *Delivery) bool { return d.OutRefundNo == outRefundNo })
}

func (s *Simulator) deliveriesWhere(keep func(*Delivery) bool) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Delivery{}
	for _, d := range s.deliveries {
		if keep(&d) {
			d.Body = slices.Clone(d.Body)
			d.Plaintext = slices.Clone(d.Plaintext)
			d.Headers = maps.Clone(d.Headers)
			out = append(out, d)
		}
	}
	return out
}

func (s *Simulator) logCall(api, path string, raw []byte) {
	body := json.RawMessage(slices.Clone(raw))
	if !json.Valid(raw) {
		quoted, err := json.Marshal(string(raw))
		if err != nil {
			quoted = []byte(`""`)
		}
		body = quoted
	}
	c := Call{API: api, Path: path, At: s.now(), Body: body}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

// ControlPrefix is where the simulator's own routes live (acting as the user,
// faults, WeChat's side of the truth); WeChat's paths are at the root.
const ControlPrefix = "/sim"

// routes serves WeChat's paths at the root exactly as WeChat serves them (API v3
// as on api.mch.weixin.qq.com, the Cloud Hosting open interface under /_/pay/, the
// mini-program platform's /cgi-bin/ and /wxa/) and the control routes under
// ControlPrefix. WeChat's paths answer under ControlPrefix too, so a client given
// http://host/sim as its base URL (make run's older layout) keeps working; a v3
// request's signature is checked over the path the client sent (requestedURIs).
func (s *Simulator) routes() http.Handler {
	api := s.apiRoutes()
	mux := http.NewServeMux()
	mux.Handle(ControlPrefix+"/", http.StripPrefix(ControlPrefix, s.controlRoutes(api)))
	mux.Handle("/", api)
	return mux
}

// Route is where the simulator serves path: WeChat's paths as they are, a
// control route ("/pay") under ControlPrefix.
func Route(path string) string {
	if isWeChatPath(path) {
		return path
	}
	return ControlPrefix + path
}

// isWeChatPath tells WeChat's paths from the control routes.
func isWeChatPath(path string) bool {
	for _, p := range []string{"/v3/", "/_/", "/cgi-bin/", "/wxa/"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// apiRoutes are WeChat's own paths.
func (s *Simulator) apiRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	unified := s.openAPI(apiUnifiedOrder, s.unifiedOrder)
	mux.HandleFunc("POST /_/pay/unifiedOrder", unified)
	mux.HandleFunc("POST /_/pay/unifiedorder", unified)
	mux.HandleFunc("POST /_/pay/queryorder", s.openAPI(apiQueryOrder, s.queryOrder))
	mux.HandleFunc("POST /_/pay/closeorder", s.openAPI(apiCloseOrder, s.closeOrder))
	mux.HandleFunc("POST /_/pay/refund", s.openAPI(apiRefund, s.chRefund))
	mux.HandleFunc("POST /_/pay/queryrefund", s.openAPI(apiQueryRefund, s.chQueryRefund))

	mux.HandleFunc("GET /v3/certificates", s.v3API("certificates", s.v3Certificates))
	mux.HandleFunc("POST /cgi-bin/stable_token", s.handleStableToken)
	mux.HandleFunc("POST /wxa/sec/order/upload_shipping_info", s.handleUploadShipping)
	mux.HandleFunc("POST /wxa/sec/order/is_trade_managed", s.handleTradeManaged)
	mux.HandleFunc("POST /v3/pay/transactions/jsapi", s.v3API(apiUnifiedOrder, s.v3Jsapi))
	mux.HandleFunc("POST /v3/pay/transactions/native", s.v3API(apiUnifiedOrder, s.v3Native))
	mux.HandleFunc("POST /v3/pay/transactions/h5", s.v3API(apiUnifiedOrder, s.v3H5))
	mux.HandleFunc("GET /v3/pay/transactions/out-trade-no/{out_trade_no}", s.v3API(apiQueryOrder, s.v3QueryOrder))
	mux.HandleFunc("GET /v3/pay/transactions/id/{transaction_id}", s.v3API(apiQueryOrder, s.v3QueryOrder))
	mux.HandleFunc("POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close", s.v3API(apiCloseOrder, s.v3CloseOrder))
	mux.HandleFunc("POST /v3/refund/domestic/refunds", s.v3API(apiRefund, s.v3CreateRefund))
	mux.HandleFunc("GET /v3/refund/domestic/refunds/{out_refund_no}", s.v3API(apiQueryRefund, s.v3QueryRefund))
	mux.HandleFunc("POST /v3/fund-app/mch-transfer/transfer-bills", s.v3API(apiTransfer, s.v3CreateTransfer))
	mux.HandleFunc("GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}", s.v3API(apiQueryTransfer, s.v3QueryTransfer))
	mux.HandleFunc("GET /v3/fund-app/mch-transfer/transfer-bills/transfer-bill-no/{transfer_bill_no}", s.v3API(apiQueryTransfer, s.v3QueryTransfer))
	mux.HandleFunc("POST /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel", s.v3API(apiCancelTransfer, s.v3CancelTransfer))
	// The pre-2025 商家转账到零钱 API: 403 NO_AUTH for a merchant on the new product (v3batches.go).
	batches := s.v3API(apiTransferBatches, s.v3TransferBatches)
	mux.HandleFunc("POST /v3/transfer/batches", batches)
	mux.HandleFunc("GET /v3/transfer/batches/out-batch-no/{out_batch_no}", batches)
	mux.HandleFunc("GET /v3/transfer/batches/batch-id/{batch_id}", batches)
	mux.HandleFunc("GET /v3/transfer/batches/out-batch-no/{out_batch_no}/details/out-detail-no/{out_detail_no}", batches)
	mux.HandleFunc("GET /v3/transfer/batches/batch-id/{batch_id}/details/detail-id/{detail_id}", batches)
	s.billAPIRoutes(mux) // daily bills: v3 tradebill, fundflowbill, billdownload; /_/pay/downloadbill
	mux.HandleFunc("/v3/", s.v3NotFound)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "NOT_FOUND",
			Message: "no route " + r.URL.Path + " (the simulator's own routes are under " + ControlPrefix + "/)"})
	})
	return mux
}

// controlRoutes are the simulator's own routes, seen without ControlPrefix;
// WeChat's paths under the prefix go to api.
func (s *Simulator) controlRoutes(api http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	// Transfer bills: WeChat's view, and the user's side.
	mux.HandleFunc("GET /transfers", s.handleTransfers)
	mux.HandleFunc("GET /transfers/{out_bill_no}", s.handleTransfer)
	mux.HandleFunc("POST /transfers/{out_bill_no}/confirm", s.handleTransferAction(s.ConfirmTransfer))
	mux.HandleFunc("POST /transfers/{out_bill_no}/decline", s.handleTransferAction(s.DeclineTransfer))
	mux.HandleFunc("POST /transfers/{out_bill_no}/settle", s.handleSettleTransfer)
	mux.HandleFunc("POST /transfers/{out_bill_no}/notify", s.handleNotifyTransfer)

	mux.HandleFunc("GET /refunds", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"refunds": s.Refunds(r.URL.Query().Get("out_trade_no"))})
	})
	mux.HandleFunc("GET /refunds/{out_refund_no}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := s.Refund(r.PathValue("out_refund_no"))
		if !ok {
			writeError(w, refundNotFound(r.PathValue("out_refund_no")))
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("POST /refunds/{out_refund_no}/settle", s.handleSettleRefund)
	mux.HandleFunc("POST /refunds/{out_refund_no}/notify", s.handleNotifyRefund)

	mux.HandleFunc("POST /outside/payments", s.handleOutsidePayment)
	mux.HandleFunc("POST /outside/refunds", s.handleOutsideRefund)
	mux.HandleFunc("POST /pay", s.handlePay)
	mux.HandleFunc("POST /notify", s.handleNotify)
	mux.HandleFunc("POST /forge", s.handleForge)
	mux.HandleFunc("POST /faults", s.handleAddFault)
	mux.HandleFunc("GET /signing", s.handleSigning)
	mux.HandleFunc("GET /shipping/{transaction_id}", s.handleShipmentControl)
	mux.HandleFunc("POST /signing", s.handleSigning)
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"faults": s.Faults()})
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /calls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"calls": s.Calls(r.URL.Query().Get("api"))})
	})
	mux.HandleFunc("GET /callbacks", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		tradeNo, refundNo, billNo := q.Get("out_trade_no"), q.Get("out_refund_no"), q.Get("out_bill_no")
		writeJSON(w, http.StatusOK, map[string]any{"deliveries": s.deliveriesWhere(func(d *Delivery) bool {
			return (tradeNo == "" || d.OutTradeNo == tradeNo) && (refundNo == "" || d.OutRefundNo == refundNo) &&
				(billNo == "" || d.OutBillNo == billNo)
		})})
	})
	mux.HandleFunc("GET /orders/{out_trade_no}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := s.Order(r.PathValue("out_trade_no"))
		if !ok {
			writeError(w, orderNotFound(r.PathValue("out_trade_no")))
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("GET /devkeys", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.DevKeys())
	})
	s.billControlRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if isWeChatPath(r.URL.Path) {
			api.ServeHTTP(w, r)
			return
		}
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			if m == r.Method {
				continue
			}
			other := r.Clone(r.Context())
			other.Method = m
			if _, pattern := mux.Handler(other); pattern != "/" && pattern != "" {
				writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: "METHOD_NOT_ALLOWED",
					Message: r.Method + " is not allowed on " + ControlPrefix + r.URL.Path})
				return
			}
		}
		writeError(w, &Error{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "no route " + ControlPrefix + r.URL.Path})
	})
	return mux
}

type outTradeNoRequest struct {
	OutTradeNo string `json:"out_trade_no"`
}

// handlePay is POST /pay {"out_trade_no", "coupon_fen"?, "coupon_type"?}: the user pays,
// part of it with a coupon when coupon_fen is given (see PayWithCoupon).
func (s *Simulator) handlePay(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OutTradeNo string `json:"out_trade_no"`
		Coupon
	}
	if err := decodeControl(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.OutTradeNo == "" {
		writeError(w, badField("out_trade_no", "out_trade_no is required"))
		return
	}
	res, err := s.PayWithCoupon(r.Context(), req.OutTradeNo, req.Coupon)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Simulator) handleNotify(w http.ResponseWriter, r *http.Request) {
	var req outTradeNoRequest
	if err := decodeControl(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.OutTradeNo == "" {
		writeError(w, badField("out_trade_no", "out_trade_no is required"))
		return
	}
	d, err := s.Notify(r.Context(), req.OutTradeNo)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Simulator) handleForge(w http.ResponseWriter, r *http.Request) {
	raw, err := readControl(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var probe map[string]json.RawMessage
	var d Delivery
	if json.Unmarshal(raw, &probe) == nil && probe["kind"] != nil {
		var req ForgeV3Request
		if err := decodeStrict(raw, &req); err != nil {
			writeError(w, err)
			return
		}
		d, err = s.ForgeV3(r.Context(), req)
	} else {
		var req ForgeRequest
		if err := decodeStrict(raw, &req); err != nil {
			writeError(w, err)
			return
		}
		d, err = s.Forge(r.Context(), req)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

type refundStatusRequest struct {
	Status string `json:"status"`
}

func (s *Simulator) handleSettleRefund(w http.ResponseWriter, r *http.Request) {
	var req refundStatusRequest
	if err := decodeControl(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	v, err := s.SettleRefund(r.Context(), r.PathValue("out_refund_no"), req.Status)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// handleNotifyRefund accepts an empty body as {}.
func (s *Simulator) handleNotifyRefund(w http.ResponseWriter, r *http.Request) {
	raw, err := readControl(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req refundStatusRequest
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := decodeStrict(raw, &req); err != nil {
			writeError(w, err)
			return
		}
	}
	d, err := s.NotifyRefund(r.Context(), r.PathValue("out_refund_no"), req.Status)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Simulator) handleAddFault(w http.ResponseWriter, r *http.Request) {
	var req struct {
		API     string          `json:"api"`
		Mode    string          `json:"mode"`
		Count   int             `json:"count"`
		Code    json.RawMessage `json:"code"`
		DelayMS int             `json:"delay_ms"`
	}
	if err := decodeControl(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	f := Fault{API: req.API, Mode: req.Mode, Count: req.Count, DelayMS: req.DelayMS}
	if len(req.Code) > 0 && string(req.Code) != "null" {
		if err := json.Unmarshal(req.Code, &f.Code); err != nil {
			if _, perr := strconv.ParseInt(string(req.Code), 10, 64); perr != nil {
				writeError(w, badField("code", "code must be an integer or a string"))
				return
			}
			f.Code = string(req.Code)
		}
	}
	if err := s.AddFault(f); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, f)
}

// decodeControl decodes a control request strictly: one JSON object, known fields, ≤ 64 KiB.
func decodeControl(w http.ResponseWriter, r *http.Request, v any) error {
	raw, err := readControl(w, r)
	if err != nil {
		return err
	}
	return decodeStrict(raw, v)
}

// readControl reads a control request body of at most 64 KiB.
func readControl(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, badRequest("INVALID_JSON", "body is larger than 64 KiB")
	case err != nil:
		return nil, badRequest("INVALID_JSON", "cannot read body: "+err.Error())
	}
	return raw, nil
}

// decodeStrict decodes raw strictly into v: one JSON object, known fields.
func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		return badRequest("INVALID_JSON", "body must be a single JSON object")
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return badRequest("INVALID_JSON", "body is empty, want a JSON object")
	case errors.As(err, &typeErr):
		return badField(typeErr.Field, "wrong type, want "+typeErr.Type.String())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badField(field, "unknown field")
	}
	return badRequest("INVALID_JSON", "body is not valid JSON: "+err.Error())
}

func badRequest(code, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: msg}
}

func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Code: "INTERNAL", Message: err.Error()}
	}
	writeJSON(w, e.Status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		raw = []byte(`{"error":{"code":"INTERNAL","message":"cannot encode response"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(raw, '\n'))
}
