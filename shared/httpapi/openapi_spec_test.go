package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/checkout"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/openapi"
	"github.com/cloudpay/cloudpay/shared/outbox"
)

// This file describes every function's routes for the OpenAPI documents
// in openapi/ (go generate writes them from here; openapi_test.go fails
// when they are stale and when a route is served without being described
// or described without being served). Schemas are read from the request
// and view types themselves; error answers come from the code→status
// table (statuses); examples are sent to the real handlers by
// openapi_examples_test.go, against the fixtures it makes.

// authKind is who may call a route, and how it is checked.
type authKind int

const (
	authNone         authKind = iota
	authAdmin                 // the merchant's back end and operators: ADMIN_TOKENS
	authUser                  // a mini-program user: X-WX-OPENID from Cloud Hosting
	authJob                   // the scheduler: JOB_TOKEN
	authLink                  // the payer holding a signed checkout link
	authCloudHosting          // Cloud Hosting's unsigned callbacks, confirmed with WeChat
	authV3                    // API v3 notifications: WeChat Pay's signature
	authAlipay                // Alipay notifications: RSA2 over the form
)

// route is one route of one function, as the document describes it.
type route struct {
	method, path string // gin's path: /orders/:out_trade_no
	summary      string
	about        string
	auth         authKind
	pathDocs     map[string]string
	params       []param
	body         reflect.Type // a JSON request body (nil: none)
	bodyOptional bool         // the body may be left out (bindOptional)
	answers      []answer
	codes        []cloudpay.Code // error codes beyond those the auth, body and query imply
	store        bool            // reads or writes the store: STORE_BUSY, INTERNAL
	wechat       bool            // may call WeChat Pay or Alipay: WECHAT_ERROR, WECHAT_TIMEOUT
	examples     []example
}

type param struct {
	name, in, about string
	schema          *openapi.Obj
	required        bool
}

// answer is one successful (or protocol) answer of a route.
type answer struct {
	status      int
	about       string
	view        any          // the view type, for a JSON body
	schema      *openapi.Obj // or a schema written out
	contentType string       // default application/json
	headers     *openapi.Obj
}

// example is a request sent to the real handler by the example test, and
// what it answers. Path and query parameters by name; body is a JSON value
// (or, for a form, an object of strings); answer is an example answer
// body (shown, and checked against the schema); status the answer's
// status (a 2xx example may answer another documented 2xx: the same
// request again answers 200 instead of 201).
type example struct {
	name, summary string
	params        map[string]string
	body          any
	status        int
	answer        any
}

func op(method, path, summary string) *route {
	return &route{method: method, path: path, summary: summary, store: true}
}

func (r *route) doc(about string) *route         { r.about = about; return r }
func (r *route) by(a authKind) *route            { r.auth = a; return r }
func (r *route) calls() *route                   { r.wechat = true; return r }
func (r *route) static() *route                  { r.store = false; return r }
func (r *route) query(ps ...param) *route        { r.params = append(r.params, ps...); return r }
func (r *route) errs(cs ...cloudpay.Code) *route { r.codes = append(r.codes, cs...); return r }
func (r *route) ex(es ...example) *route         { r.examples = append(r.examples, es...); return r }

func (r *route) pathParam(name, about string) *route {
	if r.pathDocs == nil {
		r.pathDocs = map[string]string{}
	}
	r.pathDocs[name] = about
	return r
}

// takes sets the JSON request body's type.
func (r *route) takes(v any) *route { r.body = reflect.TypeOf(v); return r }

// takesOptional sets a request body that may be left out.
func (r *route) takesOptional(v any) *route { r.takes(v); r.bodyOptional = true; return r }

func (r *route) answer(status int, view any, about string) *route {
	r.answers = append(r.answers, answer{status: status, view: view, about: about})
	return r
}

func (r *route) answerRaw(a answer) *route { r.answers = append(r.answers, a); return r }

func q(name, about string, schema *openapi.Obj) param {
	return param{name: name, in: "query", about: about, schema: schema}
}

func str() *openapi.Obj { return openapi.O("type", "string") }

func limit(max, def int) *openapi.Obj {
	return openapi.O("type", "integer", "minimum", 1, "maximum", max, "default", def)
}

// function is one deployable function and its routes.
type function struct {
	name, about string
	routes      []*route
}

// The values examples use; openapi_examples_test.go makes the fixtures
// they name.
const (
	exampleUser   = "oAlice_0123456789abcdef" // testkit.Alice
	exampleDate   = "2025-06-30"
	exampleTxn    = "4200000000202612010000000001"
	exampleSubMch = "1900000109"
)

var (
	t0  = time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	t1  = t0.Add(time.Minute)
	t30 = t0.Add(30 * time.Minute)
)

func at(t time.Time) *time.Time { return &t }

func errAnswer(code cloudpay.Code, field, msg string) errorBody {
	return errorBody{Error: errorView{Code: code, Field: field, Message: msg}}
}

// Documented request and response fields: required ones, enums, ranges.
var fieldDocs = map[string]*openapi.Obj{
	"Order.status": openapi.O("enum", []any{"unpaid", "paying", "paid", "closed", "partially_refunded", "refunded"},
		"description", "unpaid → paying (a prepay exists) → paid | closed; later partially_refunded, refunded"),
	"Order.adopted":                     openapi.O("description", "paid outside cloudpay; recorded from WeChat's answer"),
	"Order.amount_fen":                  openapi.O("description", "fen (1/100 CNY)"),
	"CreateOrderRequest.out_trade_no":   openapi.O("pattern", `^[0-9A-Za-z_\-|*]{6,32}$`, "description", "6–32 of 0-9 A-Z a-z _ - | *; default: CP + Beijing time + 12 random characters"),
	"CreateOrderRequest.amount_fen":     openapi.O("minimum", 1, "maximum", 1_000_000_000),
	"CreateOrderRequest.description":    openapi.O("minLength", 1, "description", "1–128 bytes"),
	"CreateOrderRequest.attach":         openapi.O("description", "at most 127 bytes, given back as is"),
	"CreateOrderRequest.expire_minutes": openapi.O("minimum", 1, "description", "1…ORDER_MAX_EXPIRE_MINUTES; default ORDER_EXPIRE_MINUTES"),
	"AdoptOrderRequest.transaction_id":  openapi.O("description", "WeChat's number of the payment; or out_trade_no, not both"),
	"CreatePaymentRequest.method":       openapi.O("enum", []any{"jsapi", "balance"}, "default", "jsapi"),
	"PayRequest.method":                 openapi.O("enum", []any{"native", "h5", "alipay_qr", "alipay_wap"}),
	"PayRequest.client_ip":              openapi.O("description", "h5: the payer's real IP (required)"),
	"PayRequest.h5_type":                openapi.O("enum", []any{"iOS", "Android", "Wap"}, "default", "Wap"),
	"PayRequest.return_url":             openapi.O("description", "alipay_wap: where Alipay sends the payer back (proves nothing)"),
	"Prepared.method":                   openapi.O("enum", []any{"native", "h5", "alipay_qr", "alipay_wap"}),
	"Prepared.checkout_url":             openapi.O("description", "native: the hosted checkout page, signed and expiring; a path on create-payment"),
	"ShipRequest.logistics_type":        openapi.O("enum", []any{"express", "same_city", "virtual", "pickup"}),
	"ShipRequest.delivery_mode":         openapi.O("enum", []any{"unified", "split"}, "default", "unified"),
	"ShipRequest.shipping_list":         openapi.O("minItems", 1, "maxItems", 15),
	"Shipment.status":                   openapi.O("enum", []any{"pending", "uploaded", "refused"}),
	"Refund.status": openapi.O("enum", []any{"pending_review", "approved", "rejected", "processing", "succeeded", "failed", "closed", "abnormal"},
		"description", "pending_review → approved | rejected; approved → processing → succeeded | failed | closed | abnormal"),
	"Refund.source":                       openapi.O("enum", []any{"admin", "batch", "user", "outside"}),
	"CreateRefundRequest.out_trade_no":    openapi.O("description", "the order; or transaction_id (a payment made outside cloudpay, adopted first), not both"),
	"CreateRefundRequest.amount_fen":      openapi.O("minimum", 1),
	"CreateRefundRequest.idempotency_key": openapi.O("description", "the refund's identity: out_refund_no is derived from it"),
	"BatchRequest.items":                  openapi.O("minItems", 1, "maxItems", 1000),
	"BatchItemRequest.extra":              openapi.O("description", "the caller's own columns: ≤ 10, names ≤ 32 bytes without . or $, values ≤ 128 bytes", "maxProperties", 10),
	"UserRefundRequest.idempotency_key":   openapi.O("description", "optional: one per form; without it every call is a new request"),
	"Withdrawal.status":                   openapi.O("enum", []any{"created", "processing", "waiting_user", "succeeded", "failed", "cancelled"}),
	"Withdrawal.package_info":             openapi.O("description", "for wx.requestMerchantTransfer, while waiting_user"),
	"WalletEntry.kind":                    openapi.O("enum", []any{"credit", "freeze", "debit", "unfreeze", "payment", "reversal", "refund"}),
	"WithdrawRequest.amount_fen":          openapi.O("minimum", 1, "description", "within WITHDRAW_MIN_FEN…WITHDRAW_MAX_FEN and the daily limits"),
	"CreditRequest.amount_fen":            openapi.O("minimum", 1),
	"ProfileRequest.real_name":            openapi.O("description", "the name WeChat checks on transfers of 2000 CNY and more; never sent back"),
	"ReconReport.status":                  openapi.O("enum", []any{"done", "no_statement"}, "description", "WeChat's bill: done, or no_statement (WeChat has no bill for the day)"),
	"ReconReport.alipay":                  openapi.O("description", "the day against Alipay's trade bill, when Alipay is configured; the report's own totals are WeChat's"),
	"ReconTotals.status":                  openapi.O("enum", []any{"done", "no_statement", "not_ready", "failed"}, "description", "not_ready: Alipay has no bill yet for a day cloudpay moved money through it; failed: the bill could not be had or read (error says why); both are reconciled again by the job"),
	"ReconTotals.error":                   openapi.O("description", "why the part is not_ready or failed"),
	"ReconSummary.alipay_status":          openapi.O("enum", []any{"done", "no_statement", "not_ready", "failed"}, "description", "the day against Alipay's bill, when Alipay is configured"),
	"Difference.kind":                     openapi.O("enum", []any{"unknown_payment", "unknown_refund", "missing_payment", "missing_refund", "amount", "status"}),
	"Difference.channel":                  openapi.O("enum", []any{"wechat", "alipay"}, "description", "whose bill"),
	"Difference.bill_fen":                 openapi.O("description", "the amount in the channel's bill"),
	"Difference.bill_state":               openapi.O("description", "the state in the channel's bill"),
	"Difference.wechat_fen":               openapi.O("description", "bill_fen, under its name from when WeChat's was the only bill", "deprecated", true),
	"Difference.wechat_state":             openapi.O("description", "bill_state, under its name from when WeChat's was the only bill", "deprecated", true),
	"DeadLetter.status":                   openapi.O("description", "dead, or delivered after a redelivery"),
	"CloudHostingReply.errcode":           openapi.O("description", "0 stops WeChat's retries; anything else asks for the callback again"),
}

var requiredFields = map[string][]string{
	"CreateOrderRequest":   {"openid", "amount_fen", "description"},
	"CreatePaymentRequest": {"out_trade_no"},
	"PayRequest":           {"method"},
	"ShipRequest":          {"idempotency_key", "logistics_type", "shipping_list"},
	"ShippingItemRequest":  {"item_desc"},
	"CreateRefundRequest":  {"amount_fen", "idempotency_key"},
	"BatchRequest":         {"idempotency_key", "items"},
	"BatchItemRequest":     {"amount_fen", "key"},
	"UserRefundRequest":    {"amount_fen"},
	"CreditRequest":        {"credit_id", "amount_fen"},
	"ProfileRequest":       {"real_name"},
	"WithdrawRequest":      {"amount_fen", "idempotency_key"},
}

var componentNames = map[string]string{
	"errorBody":            "Error",
	"errorView":            "ErrorDetail",
	"healthView":           "Health",
	"paymentParamsView":    "RequestPaymentParams",
	"failureView":          "Failure",
	"liveView":             "WeChatRefund",
	"itemErrorView":        "ItemError",
	"reportView":           "ReconReport",
	"reconTotalsView":      "ReconTotals",
	"reconSummaryView":     "ReconSummary",
	"reconListView":        "ReconList",
	"refundRequestRequest": "UserRefundRequest",
}

var componentDocs = map[string]string{
	"Error":                "every error answer: the code decides, the message is for people, field names the bad input",
	"Order":                "an order as the merchant's back end and its user see it",
	"Payment":              "what the mini-program passes to wx.requestPayment, with the order's amount and deadline",
	"RequestPaymentParams": "wx.requestPayment's object, in its own camelCase names",
	"Prepared":             "a Native, H5 or Alipay payment ready for the payer",
	"Refund":               "a refund as the merchant's back end, the console and the user see it",
	"Withdrawal":           "a withdrawal; id is the transfer's out_bill_no, derived from the user and the key",
	"ConsoleOrder":         "an order as the console shows it: every stored field a person may want",
	"JobReport":            "what one pass of close-expired did",
	"DeadLetter":           "a business event whose delivery gave up",
	"CloudHostingReply":    "Cloud Hosting's callback reply",
	"V3Reply":              "API v3's failure body; success is a bare 204",
}

// Request bodies of the callbacks: what WeChat and Alipay send. Only the
// fields cloudpay reads are listed; others are allowed, since both add
// fields without notice.
var (
	cloudHostingPay = openapi.O("type", "object", "required", []any{"outTradeNo"}, "properties", openapi.O(
		"outTradeNo", str(), "transactionId", str(), "subMchId", str(), "subOpenid", str(),
		"totalFee", openapi.O("type", "integer", "description", "fen; without it WeChat's answer alone is checked")))
	cloudHostingRefund = openapi.O("type", "object", "required", []any{"outRefundNo"}, "properties", openapi.O(
		"outRefundNo", str(), "outTradeNo", str(), "subMchId", str(),
		"refundStatus", openapi.O("type", "string", "description", "SUCCESS, CHANGE, REFUNDCLOSE, …: only which refund to query")))
	v3Notification = openapi.O("type", "object", "required", []any{"id", "event_type", "resource"}, "properties", openapi.O(
		"id", str(), "create_time", str(), "event_type", openapi.O("type", "string",
			"description", "TRANSACTION.SUCCESS, REFUND.SUCCESS, REFUND.CLOSED, REFUND.ABNORMAL, MCHTRANSFER.BILL.FINISHED; others are acknowledged and ignored"),
		"resource_type", str(), "summary", str(),
		"resource", openapi.O("type", "object", "required", []any{"algorithm", "ciphertext", "nonce"}, "properties", openapi.O(
			"algorithm", openapi.O("const", "AEAD_AES_256_GCM"), "ciphertext", str(), "nonce", str(),
			"associated_data", str(), "original_type", str()))))
	alipayForm = openapi.O("type", "object", "required", []any{"app_id", "out_trade_no", "trade_status", "sign", "sign_type"},
		"additionalProperties", str(), "properties", openapi.O(
			"notify_id", str(), "notify_time", str(), "notify_type", str(), "app_id", str(), "seller_id", str(),
			"out_trade_no", str(), "trade_no", str(),
			"trade_status", openapi.O("type", "string", "enum", []any{"WAIT_BUYER_PAY", "TRADE_CLOSED", "TRADE_SUCCESS", "TRADE_FINISHED"}),
			"total_amount", openapi.O("type", "string", "description", "yuan with two decimals"),
			"sign_type", openapi.O("const", "RSA2"), "sign", openapi.O("type", "string", "description", "RSA2 over the other parameters, sorted")))
	verdictHeaderDoc = openapi.O(verdictHeader, openapi.O("description", "what became of this copy of the callback (for people and tests; WeChat reads the body)",
		"schema", str()))
)

// functions is every function's routes, in the order its router adds them.
func functions() []function {
	return []function{createPaymentSpec(), paymentCallbackSpec(), refundSpec(), withdrawSpec(), closeExpiredSpec()}
}

// everyFunction are the routes newEngine gives each function.
func everyFunction(name string) []*route {
	return []*route{
		op("GET", "/healthz", "Health check").static().answer(200, healthView{Function: name, Status: "ok"}, "the function is up").
			ex(example{name: "health", summary: "is it up", status: 200, answer: healthView{Function: name, Status: "ok"}}),
		op("GET", "/openapi.json", "This document").static().
			doc("This function's routes as OpenAPI 3.1 (compact JSON, embedded in the binary).").
			answerRaw(answer{status: 200, about: "the document", schema: openapi.O("type", "object", "required", []any{"openapi", "info", "paths"})}).
			ex(example{name: "document", summary: "the document", status: 200}),
	}
}

func sampleOrder() orderView {
	return orderView{OutTradeNo: "ORDER20260001", OpenID: exampleUser, AmountFen: 990, Description: "Go 入门课",
		Attach: "course=go101", Status: "unpaid", CreatedAt: t0, ExpiresAt: t30}
}

func createPaymentSpec() function {
	noDoc := "the merchant's order number"
	return function{name: "create-payment", about: "Orders from the merchant's back end, payments for the mini-program and for web pages, the hosted checkout page, and shipping uploads.",
		routes: []*route{
			op("POST", "/orders", "Create an order").by(authAdmin).takes(createOrderRequest{}).
				doc("The same out_trade_no with the same fields again answers 200 and the stored order; with other fields 409 ORDER_CONFLICT.").
				answer(201, orderView{}, "the order, created").answer(200, orderView{}, "the same request again: the stored order").
				errs(cloudpay.CodeOrderConflict).
				ex(example{name: "course", summary: "an order for a mini-program user", status: 201,
					body:   map[string]any{"out_trade_no": "ORDER20260001", "openid": exampleUser, "amount_fen": 990, "description": "Go 入门课", "attach": "course=go101"},
					answer: sampleOrder()},
					example{name: "zero_amount", summary: "an amount of 0 fen is refused, naming the field", status: 400,
						body:   map[string]any{"openid": exampleUser, "amount_fen": 0, "description": "Go 入门课"},
						answer: errAnswer(cloudpay.CodeInvalidField, "amount_fen", "amount_fen must be 1 to 1000000000 fen")}),
			op("POST", "/orders/adopt", "Adopt a payment made outside cloudpay").by(authAdmin).takes(adoptOrderRequest{}).calls().
				doc("By transaction_id or out_trade_no (not both): WeChat is asked and a paid order is recorded from its answer alone, with adopted: true and an order.paid event. The same payment again answers 200.").
				answer(201, orderView{}, "the order, adopted").answer(200, orderView{}, "adopted before: the same order").
				errs(cloudpay.CodeTransactionNotFound, cloudpay.CodeOrderNotPaid, cloudpay.CodeOtherMerchant).
				ex(example{name: "by_out_trade_no", summary: "a payment another system of the merchant took", status: 201,
					body: map[string]any{"out_trade_no": "OUTSIDE20260001"}}),
			op("GET", "/orders/:out_trade_no", "Read an order").by(authAdmin).pathParam("out_trade_no", noDoc).
				answer(200, orderView{}, "the order as stored").errs(cloudpay.CodeOrderNotFound).
				ex(example{name: "course", summary: "the order made above", params: map[string]string{"out_trade_no": "ORDER20260001"}, status: 200, answer: sampleOrder()},
					example{name: "unknown", summary: "no such order", params: map[string]string{"out_trade_no": "NOSUCHORDER1"}, status: 404,
						answer: errAnswer(cloudpay.CodeOrderNotFound, "", "order NOSUCHORDER1 not found")}),
			op("POST", "/orders/:out_trade_no/pay", "Prepare a web payment (Native, H5, Alipay)").by(authAdmin).pathParam("out_trade_no", noDoc).
				takes(payRequest{}).calls().
				doc("For a web page: native answers code_url (show it as a QR code) and checkout_url (the hosted checkout page); h5 answers h5_url (needs client_ip); alipay_qr answers qr_code; alipay_wap answers pay_url. Native and H5 need PAY_CHANNEL=v3, Alipay needs ALIPAY_*. Asked again for the same method: the live payment again; another method closes the previous one first.").
				answer(200, preparedView{}, "the payment, ready").
				errs(cloudpay.CodeOrderNotFound, cloudpay.CodeOrderPaid, cloudpay.CodeOrderClosed, cloudpay.CodeOrderExpired,
					cloudpay.CodeMethodNotSupported, cloudpay.CodePaymentSwitched).
				ex(example{name: "native", summary: "a WeChat QR code for a web page", params: map[string]string{"out_trade_no": "ORDER20260002"}, status: 200,
					body: map[string]any{"method": "native"},
					answer: preparedView{OutTradeNo: "ORDER20260002", AmountFen: 4990, Method: "native", CodeURL: "weixin://wxpay/bizpayurl?pr=AbCdEf1", ExpiresAt: t0.Add(2 * time.Hour),
						CheckoutURL: "/checkout/ORDER20260002?exp=1764561600&sig=3q2-7wAAAAA"}},
					example{name: "alipay_qr", summary: "an Alipay QR code", params: map[string]string{"out_trade_no": "ORDER20260010"}, status: 200,
						body:   map[string]any{"method": "alipay_qr"},
						answer: preparedView{OutTradeNo: "ORDER20260010", AmountFen: 2990, Method: "alipay_qr", QRCode: "https://qr.alipay.com/bax00000", ExpiresAt: t30}}),
			op("GET", "/orders/:out_trade_no/payment", "Read an order, asking WeChat while it awaits payment").by(authAdmin).pathParam("out_trade_no", noDoc).calls().
				doc("As GET /payments/{out_trade_no} gives it: while unpaid or paying, WeChat is asked once and a payment it reports is recorded; WeChat failing here is not an error.").
				answer(200, orderView{}, "the order").errs(cloudpay.CodeOrderNotFound).
				ex(example{name: "course", summary: "the order made above", params: map[string]string{"out_trade_no": "ORDER20260001"}, status: 200}),
			op("POST", "/payments", "Pay an order in the mini-program").by(authUser).takes(createPaymentRequest{}).calls().
				doc("jsapi (the default): the object for wx.requestPayment; again for the same unpaid order, a usable payment again. balance: paid from the user's wallet at once. Only the order's own user.").
				answer(200, paymentView{}, "jsapi: wx.requestPayment's parameters").
				answerRaw(answer{status: 200, view: balancePaymentView{}, about: "balance: the order, paid"}).
				errs(cloudpay.CodeOrderNotFound, cloudpay.CodeForbidden, cloudpay.CodeOrderPaid, cloudpay.CodeOrderClosed, cloudpay.CodeOrderExpired,
					cloudpay.CodeInsufficientBalance, cloudpay.CodePaymentSwitched).
				ex(example{name: "jsapi", summary: "the user pays with WeChat Pay", status: 200, body: map[string]any{"out_trade_no": "ORDER20260003"},
					answer: paymentView{OutTradeNo: "ORDER20260003", AmountFen: 990, ExpiresAt: t30, Payment: paymentParamsView{AppID: "wxd678efh567hg6787",
						TimeStamp: "1764554400", NonceStr: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", Package: "prepay_id=wx201410272009395522657a690389285100",
						SignType: "RSA", PaySign: "oR9d8PuhnIc+YZ8cBHFCwfgpaK9gd7vaRvkYD7rthRAZ/X+QBhcCYL21N7cHCTUxbQ+EAt6Uy+lwSN22f5YZvI45MLko8Pfso0jm46v5hqcVwrk6uddkGuT+Cdvu4WBqDzaDjnNa5UK3GfE1Wfl2gHxIIY5lLdUgWFts17D4WuolLLkiFZV+JSHMvH7eaLdT9N5GBovBwu5yYKUR7skR8Fu+LozcSqQixnlEZUfyE55feLOQTUYzLmR9pNtPbPsu6WVhbNHMS3Ss2+AehHvz+n64GDmXxbX++IOBvm2olHu3PsOUGRwhudhVf7UcGcunXt8cqNjKNqZLhLw4jq/xDg=="}}}),
			op("GET", "/payments/:out_trade_no", "Read one's own order, asking WeChat while it awaits payment").by(authUser).pathParam("out_trade_no", noDoc).calls().
				doc("While unpaid or paying, WeChat is asked once and a payment it reports is recorded (WeChat failing here is not an error: the stored state is returned). Only the order's own user.").
				answer(200, orderView{}, "the order").errs(cloudpay.CodeOrderNotFound, cloudpay.CodeForbidden).
				ex(example{name: "mine", summary: "the user's order", params: map[string]string{"out_trade_no": "ORDER20260003"}, status: 200}),
			op("GET", "/checkout/:out_trade_no", "The hosted checkout page").by(authLink).pathParam("out_trade_no", noDoc).calls().
				query(param{name: "method", in: "query", about: "the way to pay the payer picked (wechat or alipay), when the page offers more than one", schema: openapi.O("type", "string", "enum", []any{"wechat", "alipay"})}).
				doc("HTML: the amount, the description and the QR code while the order can be paid, else how it ended. A tampered, expired or unknown link answers the same 404 page, so order numbers cannot be probed.").
				answerRaw(answer{status: 200, about: "the page", contentType: "text/html", schema: str()}).
				answerRaw(answer{status: 404, about: "no such link, or it has expired (the same page whatever the reason)", contentType: "text/html", schema: str()}).
				answerRaw(answer{status: 502, about: "WeChat or Alipay failing: a page that asks the payer to try again", contentType: "text/html", schema: str()}).
				answerRaw(answer{status: 503, about: "the store busy: a page that asks the payer to try again", contentType: "text/html", schema: str()}).
				answerRaw(answer{status: 504, about: "WeChat or Alipay not answering: a page that asks the payer to try again", contentType: "text/html", schema: str()}).
				ex(example{name: "pay", summary: "the page of a link from POST /orders/{out_trade_no}/pay", params: map[string]string{"out_trade_no": "ORDER20260002", "exp": "1764561600", "sig": "3q2-7wAAAAA"}, status: 200}),
			op("GET", "/checkout/:out_trade_no/status", "The checkout page's status poll").by(authLink).pathParam("out_trade_no", noDoc).calls().
				doc("The order as stored and, at most every 10 seconds per order and instance, as WeChat says. Nothing about the payer.").
				answer(200, checkoutStatusView{}, "the order's state").errs(cloudpay.CodeNotFound).
				ex(example{name: "poll", summary: "the page polls", params: map[string]string{"out_trade_no": "ORDER20260002", "exp": "1764561600", "sig": "3q2-7wAAAAA"}, status: 200,
					answer: checkoutStatusView{Status: "paying", ExpiresAt: t30, AmountFen: 4990}}),
			op("GET", strings.TrimSuffix(checkout.AssetsPath, "/")+"/:file", "The checkout page's script and style").static().
				pathParam("file", "checkout.js or checkout.css").
				answerRaw(answer{status: 200, about: "the file", contentType: "text/javascript", schema: str()}).
				answerRaw(answer{status: 404, about: "no such file", contentType: "text/plain", schema: str()}).
				ex(example{name: "script", summary: "the page's script", params: map[string]string{"file": "checkout.js"}, status: 200}),
			op("POST", "/orders/:out_trade_no/shipping", "Upload a paid order's shipping to WeChat").by(authAdmin).pathParam("out_trade_no", noDoc).
				takes(shipRequest{}).calls().
				doc("To WeChat's trade management (发货信息管理; funds stay frozen without it). Express needs tracking_no and express_company; 1–15 items. The same key again answers 200, uploaded once.").
				answer(201, shipmentView{}, "uploaded").answer(202, shipmentView{}, "recorded; WeChat could not take it yet (close-expired retries)").
				answer(200, shipmentView{}, "the same key again").
				errs(cloudpay.CodeOrderNotFound, cloudpay.CodeOrderNotPaid, cloudpay.CodeShippingConflict, cloudpay.CodeShippingRefused, cloudpay.CodeShippingOff).
				ex(example{name: "virtual", summary: "a course delivered online", params: map[string]string{"out_trade_no": "ORDER20260004"}, status: 201,
					body: map[string]any{"idempotency_key": "ship-example-1", "logistics_type": "virtual", "shipping_list": []any{map[string]any{"item_desc": "Go 入门课 视频课程"}}},
					answer: shipmentView{OutTradeNo: "ORDER20260004", IdempotencyKey: "ship-example-1", LogisticsType: "virtual", DeliveryMode: "unified",
						ShippingList: []shippingItemRequest{{ItemDesc: "Go 入门课 视频课程"}}, Status: "uploaded", Attempts: 1, CreatedAt: t1, UploadedAt: at(t1)}}),
			op("GET", "/orders/:out_trade_no/shipping/:key", "Read a shipping upload").by(authAdmin).pathParam("out_trade_no", noDoc).
				pathParam("key", "the upload's idempotency_key").
				answer(200, shipmentView{}, "the upload").errs(cloudpay.CodeNotFound).
				ex(example{name: "virtual", summary: "the upload above", params: map[string]string{"out_trade_no": "ORDER20260004", "key": "ship-example-1"}, status: 200}),
			op("GET", "/shipping/trade-managed", "Is the mini-program under WeChat's trade management").by(authAdmin).static().calls().
				answerRaw(answer{status: 200, about: "WeChat's answer", schema: openapi.O("type", "object", "required", []any{"is_trade_managed"},
					"properties", openapi.O("is_trade_managed", openapi.O("type", "boolean")), "additionalProperties", false)}).
				errs(cloudpay.CodeShippingOff).
				ex(example{name: "ask", summary: "ask WeChat", status: 200, answer: map[string]any{"is_trade_managed": true}}),
		}}
}

func paymentCallbackSpec() function {
	chAnswers := func(r *route) *route {
		return r.answerRaw(answer{status: 200, view: cloudHostingReply{}, about: "errcode 0: recorded, or nothing to record (WeChat stops); errcode 1: not recorded (WeChat retries, for up to two days)", headers: verdictHeaderDoc}).
			answerRaw(answer{status: 400, view: cloudHostingReply{}, about: "the body is not a callback (errcode 1)"})
	}
	return function{name: "payment-callback", about: "What WeChat Pay and Alipay call back. Cloud Hosting's callbacks are unsigned hints, confirmed with WeChat before anything is recorded; API v3 notifications and Alipay's are verified before anything is read from them. Every reply comes after the outcome is stored.",
		routes: []*route{
			chAnswers(op("POST", "/callbacks/pay", "Cloud Hosting's pay callback").by(authCloudHosting).calls().
				doc("A hint naming an order: its amount and merchant are compared with ours, WeChat is asked (queryorder) and compared again, and only then is the payment recorded. Verdicts (X-Cloudpay-Verdict): recorded, already_recorded, unknown_order, other_merchant (errcode 0); not_paid, mismatch (errcode 1).")).
				ex(example{name: "paid", summary: "a payment's callback, once more", status: 200,
					body:   map[string]any{"outTradeNo": "ORDER20260004", "transactionId": exampleTxn, "subMchId": exampleSubMch, "subOpenid": exampleUser, "totalFee": 19900},
					answer: cloudHostingReply{ErrCode: 0, ErrMsg: "ok"}}),
			chAnswers(op("POST", "/callbacks/refund", "Cloud Hosting's refund callback").by(authCloudHosting).calls().
				doc("A hint naming a refund, confirmed by queryrefund before anything changes. Verdicts: recorded, already_recorded, unknown_refund, other_merchant (errcode 0); not_settled, mismatch (errcode 1). 404 without refunds configured.")).
				answer(404, nil, "").
				ex(example{name: "unknown", summary: "a refund cloudpay never heard of", status: 200,
					body:   map[string]any{"outRefundNo": "RFNOSUCHREFUND0001", "outTradeNo": "ORDER20260004", "subMchId": exampleSubMch, "refundStatus": "SUCCESS"},
					answer: cloudHostingReply{ErrCode: 0, ErrMsg: "ok"}}),
			op("POST", "/callbacks/v3", "API v3 notification").by(authV3).
				doc("Verified and decrypted with the WeChat Pay public key and the APIv3 key: a bad signature, a timestamp more than 300 s off, a body changed by one byte, another key's serial or an undecryptable resource answer 401 and nothing is read. A verified notification is recorded without a query (amount, merchant, order and payer still checked). Without the v3 channel configured: 404.").
				answerRaw(answer{status: 204, about: "recorded (or an event type cloudpay ignores): WeChat stops"}).
				answerRaw(answer{status: 400, view: v3Reply{}, about: "the body cannot be read"}).
				answerRaw(answer{status: 401, view: v3Reply{}, about: "verification failed: nothing read"}).
				answerRaw(answer{status: 404, view: v3Reply{}, about: "the v3 channel is not configured"}).
				answerRaw(answer{status: 500, view: v3Reply{}, about: "not recorded, or disagrees with ours: WeChat retries", headers: verdictHeaderDoc}).
				ex(example{name: "forged", summary: "a notification whose signature does not verify", status: 401,
					params: map[string]string{"Wechatpay-Timestamp": "1764554400", "Wechatpay-Nonce": "fdasflkja484w", "Wechatpay-Serial": "PUB_KEY_ID_0000000000000024101100397200000006"},
					body: map[string]any{"id": "EV-2018022511223320873", "create_time": "2026-12-01T10:00:00+08:00", "resource_type": "encrypt-resource",
						"event_type": "TRANSACTION.SUCCESS", "summary": "支付成功", "resource": map[string]any{"algorithm": "AEAD_AES_256_GCM",
							"ciphertext": "forged", "nonce": "fdasflkja484w", "associated_data": "transaction", "original_type": "transaction"}},
					answer: v3Reply{Code: "FAIL", Message: "notification refused: BAD_SIGNATURE"}}),
			op("POST", "/callbacks/alipay", "Alipay's asynchronous notification").by(authAlipay).calls().
				doc("Form-encoded, RSA2 over the sorted parameters, verified with Alipay's public key and checked against the application (app_id), the merchant (seller_id), the order and its amount; recorded once. The body is exactly success only after the outcome is stored (or when there is nothing to record); anything unverifiable or mismatching, or a store failure, is fail and Alipay sends it again. Without Alipay configured: 404.").
				answerRaw(answer{status: 200, about: "success (recorded: Alipay stops) or fail (Alipay sends it again)", contentType: "text/plain",
					schema: openapi.O("type", "string", "enum", []any{"success", "fail"}), headers: verdictHeaderDoc}).
				answer(404, nil, "").
				ex(example{name: "forged", summary: "a notification whose signature does not verify", status: 200,
					body: map[string]any{"notify_id": "2026120100222100001", "notify_time": "2026-12-01 10:00:00", "notify_type": "trade_status_sync",
						"app_id": "2021000000000001", "seller_id": "2088000000000001", "out_trade_no": "ORDER20260010", "trade_no": "2026120122001400000000000001",
						"trade_status": "TRADE_SUCCESS", "total_amount": "29.90", "sign_type": "RSA2", "sign": "forged"},
					answer: "fail"}),
		}}
}

func sampleRefund() refundView {
	return refundView{OutRefundNo: cloudpay.OutRefundNoForKey("refund-example-1"), OutTradeNo: "ORDER20260004", TransactionID: exampleTxn,
		OpenID: exampleUser, AmountFen: 100, TotalFen: 19900, Reason: "课程缺课补偿", Status: "processing", Source: "admin",
		IdempotencyKey: "refund-example-1", Attempts: 1, CreatedAt: t1, UpdatedAt: t1}
}

func refundSpec() function {
	refundNo := "the refund's number (out_refund_no)"
	requestNo := cloudpay.OutRefundNoForKey("user:" + exampleUser + "\x00" + "review-approve")
	rejectNo := cloudpay.OutRefundNoForKey("user:" + exampleUser + "\x00" + "review-reject")
	batchKey := "batch-example-1"
	batchID := batchIDForKey(batchKey)
	approved := sampleRefund()
	approved.OutRefundNo, approved.OutTradeNo, approved.Source, approved.Status, approved.IdempotencyKey, approved.Reason, approved.Note =
		requestNo, "ORDER20260005", "user", "approved", "review-approve", "不想学了", "同意"
	return function{name: "refund", about: "Refunds, batches and reviews for the merchant's back end, refund requests for users, and the operator's console (its page and read routes).",
		routes: []*route{
			op("GET", "/admin", "The console (redirect)").by(authNone).static().
				answerRaw(answer{status: 301, about: "to admin/", headers: openapi.O("Location", openapi.O("schema", openapi.O("const", "admin/")))}).
				ex(example{name: "open", summary: "open the console", status: 301}),
			op("GET", "/admin/", "The console page").static().doc("The single-page console (no token: the page asks for one), under a strict CSP.").
				answerRaw(answer{status: 200, about: "the page", contentType: "text/html", schema: str()}).
				ex(example{name: "page", summary: "the page", status: 200}),
			op("GET", "/admin/:file", "The console's script and style").static().pathParam("file", "app.js or app.css").
				answerRaw(answer{status: 200, about: "the file", contentType: "text/javascript", schema: str()}).
				answerRaw(answer{status: 404, about: "no such file", contentType: "text/plain", schema: str()}).
				ex(example{name: "script", summary: "the page's script", params: map[string]string{"file": "app.js"}, status: 200}),
			op("GET", "/admin/api/me", "Console: who is logged in").by(authAdmin).static().
				doc("The name and role of the token the console logged in with, so the console offers only the actions the role may take (the routes decide each on their own). A token of ADMIN_TOKENS has the role admin: every role. The back end's token (service) may not use the console: 403 FORBIDDEN_ROLE.").
				answerRaw(answer{status: 200, about: "the token's name and role", schema: openapi.O("type", "object", "required", []any{"name", "role"},
					"properties", openapi.O("name", openapi.O("type", "string", "description", "the token's name (OPERATORS); for a token of ADMIN_TOKENS, admin- and the first 8 hex digits of its SHA-256"),
						"role", openapi.O("type", "string", "enum", []any{"viewer", "operator", "approver", "admin"})),
					"additionalProperties", false)}).
				ex(example{name: "me", summary: "who the token is", status: 200}),
			op("GET", "/admin/api/orders", "Console: orders").by(authAdmin).query(queryParams(orderParams, map[string]param{
				"from":  q("from", "Beijing date YYYY-MM-DD, inclusive", openapi.O("type", "string", "format", "date")),
				"to":    q("to", "Beijing date YYYY-MM-DD, inclusive", openapi.O("type", "string", "format", "date")),
				"limit": q("limit", "", limit(200, 50)),
			})...).
				answer(200, ordersPageView{}, "a page of orders, newest first").
				ex(example{name: "paid", summary: "paid orders", params: map[string]string{"status": "paid"}, status: 200}),
			op("GET", "/admin/api/orders/:out_trade_no", "Console: an order and its refunds").by(authAdmin).pathParam("out_trade_no", "the merchant's order number").
				answer(200, orderDetailView{}, "the order, its refunds and the refund ledger's amounts").errs(cloudpay.CodeOrderNotFound).
				ex(example{name: "paid", summary: "a paid order", params: map[string]string{"out_trade_no": "ORDER20260004"}, status: 200}),
			op("GET", "/admin/api/withdrawals", "Console: withdrawals").by(authAdmin).
				query(q("openid", "", str()), q("status", "", str()), q("limit", "", limit(200, 50))).
				answer(200, withdrawalsView{}, "withdrawals, newest first").
				ex(example{name: "all", summary: "the latest withdrawals", status: 200}),
			op("GET", "/admin/api/reconciliations", "Console: reconciliation reports").by(authAdmin).
				answer(200, reconListView{}, "the latest 60 days reconciled, newest first").
				ex(example{name: "list", summary: "the latest days", status: 200}),
			op("GET", "/admin/api/reconciliations/:date", "Console: one day's reconciliation").by(authAdmin).pathParam("date", "a Beijing day, YYYY-MM-DD").
				query(q("format", "csv: the differences as CSV (UTF-8 with a BOM, amounts in yuan)", openapi.O("type", "string", "enum", []any{"csv"}))).
				answer(200, reportView{}, "the report").
				answerRaw(answer{status: 200, about: "?format=csv", contentType: "text/csv", schema: str()}).
				errs(cloudpay.CodeNotFound, cloudpay.CodeInvalidField).
				ex(example{name: "day", summary: "a day reconciled", params: map[string]string{"date": exampleDate}, status: 200}),
			op("POST", "/admin/api/reconciliations/:date", "Console: reconcile a day now").by(authAdmin).pathParam("date", "a Beijing day, YYYY-MM-DD").calls().
				doc("Downloads WeChat's trade bill — and Alipay's, when Alipay is configured — and compares each with the day's settlements and refunds through that channel; again is safe.").
				answer(200, reportView{}, "the report").
				errs(cloudpay.CodeInvalidField, cloudpay.CodeBillNotReady, cloudpay.CodeBillUnsupported).
				ex(example{name: "day", summary: "reconcile a day", params: map[string]string{"date": exampleDate}, status: 200,
					answer: reportView{Date: exampleDate, reconTotalsView: reconTotalsView{Status: "no_statement"}, Differences: []differenceView{}, CreatedAt: t0}}),
			op("POST", "/admin/api/orders/:out_trade_no/shipping", "Console: upload an order's shipping").by(authAdmin).pathParam("out_trade_no", "the merchant's order number").
				takes(shipRequest{}).calls().doc("As create-payment's POST /orders/{out_trade_no}/shipping.").
				answer(201, shipmentView{}, "uploaded").answer(202, shipmentView{}, "recorded; WeChat could not take it yet").answer(200, shipmentView{}, "the same key again").
				errs(cloudpay.CodeOrderNotFound, cloudpay.CodeOrderNotPaid, cloudpay.CodeShippingConflict, cloudpay.CodeShippingRefused, cloudpay.CodeShippingOff).
				ex(example{name: "express", summary: "a parcel by SF Express", params: map[string]string{"out_trade_no": "ORDER20260009"}, status: 201,
					body: map[string]any{"idempotency_key": "console-ship-1", "logistics_type": "express", "shipping_list": []any{map[string]any{
						"item_desc": "算法训练营 教材", "tracking_no": "SF1234567890123", "express_company": "SF", "receiver_contact": "189****1234"}}}}),
			op("GET", "/admin/api/shipping/trade-managed", "Console: is the mini-program under trade management").by(authAdmin).static().calls().
				answerRaw(answer{status: 200, about: "WeChat's answer", schema: openapi.O("type", "object", "required", []any{"is_trade_managed"},
					"properties", openapi.O("is_trade_managed", openapi.O("type", "boolean")), "additionalProperties", false)}).
				errs(cloudpay.CodeShippingOff).
				ex(example{name: "ask", summary: "ask WeChat", status: 200}),
			op("GET", "/admin/api/dead-letters", "Console: dead letters").by(authAdmin).
				query(q("limit", "", limit(maxDeadLetters, 50))).errs(cloudpay.CodeInvalidField).
				answer(200, deadLettersView{}, "business events whose delivery gave up, newest first").
				ex(example{name: "list", summary: "the dead letters", status: 200, answer: deadLettersView{DeadLetters: []deadLetterView{}}}),
			op("GET", "/admin/api/audit", "Console: the audit log (操作日志)").by(authAdmin).
				query(q("actor", "a token's name", str()), q("subject", "an order, refund, wallet, batch or day acted on", str()),
					q("from", "first day, yyyy-mm-dd (Beijing)", str()), q("to", "last day, yyyy-mm-dd (Beijing)", str()),
					q("before", "the last page's oldest entry's id: the page after it", str())).
				doc("Every state-changing admin call, allowed or refused, newest first, 50 a page: who (token name and role), what (function, route, subject, amount), when, the request id and the result.").
				errs(cloudpay.CodeInvalidField).
				answer(200, auditPageView{}, "entries, newest first").
				ex(example{name: "all", summary: "the newest entries", status: 200}),
			op("POST", "/admin/api/dead-letters/:id/redeliver", "Console: redeliver a dead letter").by(authAdmin).pathParam("id", "the event's id").
				takesOptional(struct{}{}).calls().doc("As close-expired's; needs BUSINESS_NOTIFY_URL and its secret on the refund function too.").
				answer(200, deadLetterView{}, "the event, delivered").
				errs(cloudpay.CodeNotFound, outbox.CodeDeliveryFailed, outbox.CodeDeliveryInProgress).
				ex(example{name: "unknown", summary: "no such event", params: map[string]string{"id": "ev-no-such-event"}, status: 404}),
			op("POST", "/refunds", "Refund an order").by(authAdmin).takes(createRefundRequest{}).calls().
				doc("Reserves the amount and sends the refund in its turn (at least a minute between two refunds of one order). The same key again answers 200 and the same refund, nothing sent twice. A transaction_id names a payment made outside cloudpay: it is adopted first.").
				answer(202, refundView{}, "the refund, accepted").answer(200, refundView{}, "the same key again: the same refund").
				errs(cloudpay.CodeOrderNotFound, cloudpay.CodeOrderNotPaid, cloudpay.CodeRefundConflict, cloudpay.CodeRefundExceeds, cloudpay.CodeRefundLimit,
					cloudpay.CodeRefundTooLate, cloudpay.CodeTransactionNotFound, cloudpay.CodeOtherMerchant).
				ex(example{name: "partial", summary: "refund 1 yuan of a paid order", status: 202,
					body:   map[string]any{"out_trade_no": "ORDER20260004", "amount_fen": 100, "reason": "课程缺课补偿", "idempotency_key": "refund-example-1"},
					answer: sampleRefund()},
					example{name: "too_much", summary: "more than the order can still refund", status: 422,
						body:   map[string]any{"out_trade_no": "ORDER20260004", "amount_fen": 1_000_000, "idempotency_key": "refund-example-too-much"},
						answer: errAnswer(cloudpay.CodeRefundExceeds, "amount_fen", "at most 19800 fen of order ORDER20260004 can still be refunded")}),
			op("GET", "/refunds", "List refunds").by(authAdmin).query(queryParams(listParams, map[string]param{
				"status": q("status", "", openapi.O("type", "string", "enum", []any{"pending_review", "approved", "rejected", "processing", "succeeded", "failed", "closed", "abnormal"})),
				"cursor": q("cursor", "next_cursor of the page before", str()),
				"limit":  q("limit", "", limit(200, 50)),
			})...).
				answer(200, refundPageView{}, "a page, newest first, and the totals of everything the filter selects").
				ex(example{name: "of_order", summary: "an order's refunds", params: map[string]string{"out_trade_no": "ORDER20260004"}, status: 200}),
			op("POST", "/refunds/batch", "Refund many orders at once").by(authAdmin).takes(batchRequest{}).
				doc("1–1000 items, at most 512 KiB. Each item is a refund keyed by its own key, so an item resubmitted in any batch refunds once. The same batch again answers 200 and the same batch_id.").
				answer(202, batchCreatedView{}, "the batch, accepted: its items run in the background").
				answer(200, batchCreatedView{}, "the same batch again").
				errs(cloudpay.CodeBatchConflict).
				ex(example{name: "camp", summary: "two refunds of a training camp", status: 202, answer: batchCreatedView{BatchID: batchID, Created: true},
					body: map[string]any{"idempotency_key": batchKey, "label": "夏令营退款", "items": []any{
						map[string]any{"out_trade_no": "ORDER20260006", "amount_fen": 500, "key": "camp-refund-6", "extra": map[string]any{"user_id": "1001", "nickname": "小明"}},
						map[string]any{"out_trade_no": "ORDER20260007", "amount_fen": 500, "key": "camp-refund-7"},
					}}}),
			op("GET", "/refunds/batches/:batch_id", "A batch's progress").by(authAdmin).pathParam("batch_id", "from POST /refunds/batch").
				answer(200, batchProgressView{}, "a progress bar's data: done = succeeded + failed only grows").errs(cloudpay.CodeBatchNotFound).
				ex(example{name: "camp", summary: "the batch above", params: map[string]string{"batch_id": batchID}, status: 200}),
			op("GET", "/refunds/:out_refund_no", "A refund, with WeChat's live word").by(authAdmin).pathParam("out_refund_no", refundNo).calls().
				doc("WeChat is asked live (wechat, or wechat.error if it did not answer); a final state it reports is recorded.").
				answer(200, refundDetailView{}, "the refund").errs(cloudpay.CodeRefundNotFound).
				ex(example{name: "partial", summary: "the refund above", params: map[string]string{"out_refund_no": cloudpay.OutRefundNoForKey("refund-example-1")}, status: 200}),
			op("POST", "/refunds/:out_refund_no/retry", "Retry a refund").by(authAdmin).pathParam("out_refund_no", refundNo).takesOptional(struct{}{}).calls().
				doc("Under the same out_refund_no, never a new one: processing or abnormal are looked up first and sent again only if WeChat does not know them; failed ones are sent again (reserving again if they had been released). Final states answer 409 REFUND_STATE.").
				answer(200, refundView{}, "the refund").errs(cloudpay.CodeRefundNotFound, cloudpay.CodeRefundState, cloudpay.CodeRefundExceeds, cloudpay.CodeRefundLimit, cloudpay.CodeRefundTooLate).
				ex(example{name: "succeeded", summary: "a refund that already succeeded", params: map[string]string{"out_refund_no": cloudpay.OutRefundNoForKey("refund-retry-example")}, status: 409}),
			op("POST", "/refunds/:out_refund_no/approve", "Approve a refund request").by(authAdmin).pathParam("out_refund_no", refundNo).takesOptional(reviewRequest{}).
				doc("One review per request: a second, different one answers 409 REFUND_STATE. An approved request is sent in its turn.").
				answer(200, refundView{}, "the refund, approved").errs(cloudpay.CodeRefundNotFound, cloudpay.CodeRefundState).
				ex(example{name: "approve", summary: "approve a user's request", params: map[string]string{"out_refund_no": requestNo}, body: map[string]any{"note": "同意"}, status: 200, answer: approved}),
			op("POST", "/refunds/:out_refund_no/reject", "Reject a refund request").by(authAdmin).pathParam("out_refund_no", refundNo).takesOptional(reviewRequest{}).
				doc("The reserved amount is released.").
				answer(200, refundView{}, "the refund, rejected").errs(cloudpay.CodeRefundNotFound, cloudpay.CodeRefundState).
				ex(example{name: "reject", summary: "reject a user's request", params: map[string]string{"out_refund_no": rejectNo}, body: map[string]any{"note": "已超过退款期限"}, status: 200}),
			op("POST", "/refund-requests", "Ask for a refund (the user)").by(authUser).takes(refundRequestRequest{}).calls().
				doc("A refund in pending_review, its amount reserved at once, for an operator to approve or reject. Only the order's own user.").
				answer(201, refundView{}, "the request").answer(200, refundView{}, "the same idempotency_key again").
				errs(cloudpay.CodeOrderNotFound, cloudpay.CodeForbidden, cloudpay.CodeOrderNotPaid, cloudpay.CodeRefundConflict, cloudpay.CodeRefundExceeds,
					cloudpay.CodeRefundLimit, cloudpay.CodeRefundTooLate, cloudpay.CodeTransactionNotFound, cloudpay.CodeOtherMerchant).
				ex(example{name: "request", summary: "the user asks for 2 yuan back", status: 201,
					body: map[string]any{"out_trade_no": "ORDER20260005", "amount_fen": 200, "reason": "课程时间冲突", "idempotency_key": "request-example-1"}}),
		}}
}

// batchIDForKey is refund.Service.CreateBatch's batch id of a key.
func batchIDForKey(key string) string {
	sum := sha256.Sum256([]byte("batch-key:" + key))
	return "RB" + hex.EncodeToString(sum[:12])
}

func withdrawSpec() function {
	wdID := cloudpay.WithdrawalID(exampleUser, "withdraw-example-1")
	wallet := walletView{OpenID: exampleUser, AvailableFen: 10000, CreditedFen: 10000}
	return function{name: "withdraw", about: "Wallet credits and profiles for the merchant's back end; the wallet, its history and withdrawals (WeChat Pay transfers, API v3) for users.",
		routes: []*route{
			op("POST", "/wallets/:openid/credits", "Credit a user's wallet").by(authAdmin).pathParam("openid", "the user").takes(creditRequest{}).
				doc("The same credit_id again answers 200, credited once; reused for another user or amount: 409 CREDIT_CONFLICT.").
				answer(201, creditView{}, "credited").answer(200, creditView{}, "the same credit_id again").errs(cloudpay.CodeCreditConflict).
				ex(example{name: "reward", summary: "a referral reward of 100 yuan", params: map[string]string{"openid": exampleUser}, status: 201,
					body:   map[string]any{"credit_id": "credit-example-1", "amount_fen": 10000, "memo": "推荐奖励"},
					answer: creditView{AmountFen: 10000, Created: true, CreditID: "credit-example-1", Wallet: wallet}}),
			op("PUT", "/wallets/:openid/profile", "Set a user's real name").by(authAdmin).pathParam("openid", "the user").takes(profileRequest{}).
				doc("The name WeChat checks on transfers of 2000 CNY and more (sent encrypted with the WeChat Pay public key); never sent back.").
				answer(200, profileView{}, "on file").
				ex(example{name: "name", summary: "the user's name", params: map[string]string{"openid": exampleUser}, body: map[string]any{"real_name": "张三"}, status: 200,
					answer: profileView{OpenID: exampleUser, RealNameOnFile: true}}),
			op("GET", "/wallets/:openid", "A user's wallet").by(authAdmin).pathParam("openid", "the user").
				answer(200, walletView{}, "the wallet").
				ex(example{name: "wallet", summary: "the wallet", params: map[string]string{"openid": exampleUser}, status: 200}),
			op("GET", "/wallets/:openid/entries", "A user's wallet history").by(authAdmin).pathParam("openid", "the user").
				query(q("before", "next_before of the page before", openapi.O("type", "integer", "minimum", 1)), q("limit", "", limit(100, 20))).
				answer(200, walletEntriesView{}, "entries, newest first").
				ex(example{name: "history", summary: "the latest entries", params: map[string]string{"openid": exampleUser, "limit": "20"}, status: 200}),
			op("GET", "/wallet", "One's own wallet").by(authUser).answer(200, walletView{}, "the wallet").
				ex(example{name: "mine", summary: "the user's wallet", status: 200}),
			op("GET", "/wallet/entries", "One's own wallet history").by(authUser).
				query(q("before", "next_before of the page before", openapi.O("type", "integer", "minimum", 1)), q("limit", "", limit(100, 20))).
				answer(200, walletEntriesView{}, "entries, newest first").
				ex(example{name: "mine", summary: "the user's history", status: 200}),
			op("POST", "/withdrawals", "Withdraw to one's WeChat balance").by(authUser).takes(withdrawRequest{}).calls().
				doc("Freezes the amount and asks WeChat for a transfer; package_info (while waiting_user) is for wx.requestMerchantTransfer. The same key again answers 200; another amount 409 WITHDRAWAL_CONFLICT. Each limit refused is 422 with its own code and changes nothing.").
				answer(201, withdrawalView{}, "the withdrawal").answer(200, withdrawalView{}, "the same key again").
				errs(cloudpay.CodeWithdrawalConflict, cloudpay.CodeInsufficientBalance, cloudpay.CodeBelowMinimum, cloudpay.CodeAboveMaximum,
					cloudpay.CodeDailyCountExceeded, cloudpay.CodeDailyAmountExceeded, cloudpay.CodeRealNameRequired).
				ex(example{name: "thirty", summary: "withdraw 30 yuan", status: 201, body: map[string]any{"amount_fen": 3000, "idempotency_key": "withdraw-example-1"},
					answer: withdrawalView{ID: wdID, OpenID: exampleUser, AmountFen: 3000, IdempotencyKey: "withdraw-example-1", Status: "waiting_user",
						PackageInfo: "ABBQO+oYAAABAAAAAAAk+yPZGrAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", MchID: "1900000100",
						TransferBillNo: "1330000071100999991182020050700019480001", Attempts: 1, CreatedAt: t1, UpdatedAt: t1}}),
			op("GET", "/withdrawals", "One's own withdrawals").by(authUser).calls().answer(200, withdrawalsView{}, "newest first").
				ex(example{name: "mine", summary: "the user's withdrawals", status: 200}),
			op("GET", "/withdrawals/:id", "One's own withdrawal").by(authUser).pathParam("id", "the withdrawal's id").calls().
				doc("One in flight is checked with WeChat.").
				answer(200, withdrawalView{}, "the withdrawal").errs(cloudpay.CodeWithdrawalNotFound, cloudpay.CodeForbidden).
				ex(example{name: "thirty", summary: "the withdrawal above", params: map[string]string{"id": wdID}, status: 200}),
			op("POST", "/withdrawals/:id/cancel", "Cancel one's withdrawal").by(authUser).pathParam("id", "the withdrawal's id").takesOptional(struct{}{}).calls().
				doc("Only while waiting_user; the money is unfrozen when WeChat reports CANCELLED.").
				answer(200, withdrawalView{}, "the withdrawal").errs(cloudpay.CodeWithdrawalNotFound, cloudpay.CodeForbidden, cloudpay.CodeWithdrawalState).
				ex(example{name: "thirty", summary: "cancel the withdrawal above", params: map[string]string{"id": wdID}, status: 200}),
		}}
}

func closeExpiredSpec() function {
	return function{name: "close-expired", about: "The job: one pass closes expired orders, sends queued refunds, resumes batches, settles withdrawals, reconciles and delivers business notifications. The scheduler calls POST /run; admins read and redeliver dead letters.",
		routes: []*route{
			op("POST", "/run", "Run one pass").by(authJob).takesOptional(struct{}{}).calls().
				doc("Each step within a fair share of JOB_BUDGET, each item on its own: one bad item is an entry in errors, the rest go on.").
				answer(200, jobReportView{}, "what the pass did").
				ex(example{name: "pass", summary: "a pass", status: 200, answer: jobReportView{Pass: "p-20261201T020000Z", StartedAt: t0, FinishedAt: t0.Add(1500 * time.Millisecond),
					Closed: 2, PaidLate: 1, RefundsSynced: 3, NotificationsSent: 4, Errors: []itemErrorView{}}}),
			op("GET", "/dead-letters", "Dead letters").by(authAdmin).query(q("limit", "", limit(maxDeadLetters, 50))).errs(cloudpay.CodeInvalidField).
				answer(200, deadLettersView{}, "business events whose delivery gave up, newest first").
				ex(example{name: "list", summary: "the dead letters", status: 200}),
			op("POST", "/dead-letters/:id/redeliver", "Redeliver a dead letter").by(authAdmin).pathParam("id", "the event's id").takesOptional(struct{}{}).calls().
				answer(200, deadLetterView{}, "the event, delivered").
				errs(cloudpay.CodeNotFound, outbox.CodeDeliveryFailed, outbox.CodeDeliveryInProgress).
				ex(example{name: "unknown", summary: "no such event", params: map[string]string{"id": "ev-no-such-event"}, status: 404}),
		}}
}

// queryParams documents a route's allowed query parameters (the list its
// handler checks), each plain unless docs says more.
func queryParams(allowed []string, docs map[string]param) []param {
	out := make([]param, 0, len(allowed))
	for _, name := range allowed {
		p, ok := docs[name]
		if !ok {
			p = q(name, "", str())
		}
		out = append(out, p)
	}
	return out
}

// --- the document ---

var securitySchemes = map[authKind][2]any{
	authAdmin: {"adminBearer", openapi.O("type", "http", "scheme", "bearer",
		"description", "Authorization: Bearer <token>: the merchant's back end and operators. A named token (OPERATORS: name:role:sha256 of the token, never the token itself) has one role: viewer (reads), operator (refunds, batches, credits, shipping), approver (approves, rejects, retries, redelivers) or service (the merchant's back end: orders, refunds, credits; no console). Each route lists the roles it admits; another role answers 403 FORBIDDEN_ROLE naming them. A token of ADMIN_TOKENS has every role. Several tokens may be valid at once, for rotation; state-changing calls are appended to the audit log before they are answered.")},
	authUser: {"wxOpenID", openapi.O("type", "apiKey", "in", "header", "name", "X-WX-OPENID",
		"description", "The mini-program user, as WeChat Cloud Hosting injects it into wx.cloud.callContainer calls (never set it yourself). With REQUIRE_WX_SOURCE (the default) a call without X-WX-SOURCE, which Cloud Hosting also sets, is refused: on a public domain every X-WX-* header can be forged.")},
	authJob: {"jobBearer", openapi.O("type", "http", "scheme", "bearer",
		"description", "Authorization: Bearer <JOB_TOKEN>: the scheduler. Not an admin token: it can run passes only.")},
	authLink: {"checkoutLink", openapi.O("type", "apiKey", "in", "query", "name", "sig",
		"description", "A signed, expiring checkout link: ?exp=<unix seconds>&sig=<HMAC of the order and exp under CHECKOUT_KEY>, as checkout_url carries it. Checked before the order is looked up.")},
	authV3: {"wechatpaySignature", openapi.O("type", "apiKey", "in", "header", "name", "Wechatpay-Signature",
		"description", "WeChat Pay API v3's signature: RSA-SHA256 over \"timestamp\\nnonce\\nbody\\n\" (Wechatpay-Timestamp, Wechatpay-Nonce), verified with the WeChat Pay public key named by Wechatpay-Serial (or a platform certificate); the resource is then decrypted with the APIv3 key.")},
}

// verifications are the callbacks' own checks that are no security
// scheme: an unsigned hint and a signature inside the form.
var verifications = map[authKind][2]string{
	authCloudHosting: {"cloudHostingHint", "Unsigned: Cloud Hosting delivers it inside the environment. Only a hint: the order or refund is looked up and WeChat is asked before anything is recorded, so a forged callback changes nothing."},
	authAlipay:       {"alipayRSA2", "Alipay's form carries sign (RSA2 over the other parameters, sorted) and sign_type; verified with Alipay's public key, then app_id and seller_id are checked. Nothing is read from a form that does not verify."},
}

var tags = map[authKind]string{
	authNone: "every function", authAdmin: "merchant back end", authUser: "mini-program", authJob: "scheduler",
	authLink: "checkout page", authCloudHosting: "callbacks", authV3: "callbacks", authAlipay: "callbacks",
}

// document builds one function's OpenAPI document; its Schemas tell which
// field docs it used.
// roles are the roles each admin route admits ("function METHOD path").
func document(fn function, roles map[string][]string) (*openapi.Obj, *openapi.Schemas) {
	s := &openapi.Schemas{Names: componentNames, Required: requiredFields, Fields: fieldDocs, Describe: componentDocs}
	errRef := s.Ref(reflect.TypeFor[errorBody](), openapi.Response)
	paths := openapi.O()
	schemes := openapi.O()
	verifs := openapi.O()
	for _, r := range append(everyFunction(fn.name), fn.routes...) {
		item := paths.Child(oasPath(r.path))
		item.Set(strings.ToLower(r.method), operation(r, roles[fn.name+" "+r.method+" "+r.path], s, errRef, schemes, verifs))
	}
	info := openapi.O("title", "cloudpay "+fn.name, "version", "1",
		"description", fn.about+" JSON in and out; money is an integer number of fen in fields ending _fen; times are RFC 3339 UTC; "+
			"every answer carries X-Request-Id (a well-formed incoming one is kept). Request bodies are decoded strictly: unknown or repeated fields, "+
			"malformed JSON and bodies over 64 KiB are 400 with the field named. An unknown path is 404 NOT_FOUND, a known path with another method 405 METHOD_NOT_ALLOWED.")
	doc := openapi.O("openapi", "3.1.0", "info", info,
		"servers", []any{openapi.O("url", ".", "description", "the function's base URL: where this document was fetched from")},
		"paths", paths)
	comps := openapi.O("schemas", s.Components)
	if schemes.Len() > 0 {
		comps.Set("securitySchemes", schemes)
	}
	doc.Set("components", comps)
	if verifs.Len() > 0 {
		doc.Set("x-cloudpay-verifications", verifs)
	}
	return doc, s
}

// oasPath is gin's path in OpenAPI's form: /orders/{out_trade_no}.
func oasPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, w := range strings.FieldsFunc(path, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') }) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	if len(path) > 1 && strings.HasSuffix(path, "/") {
		b.WriteString("Index")
	}
	return b.String()
}

func operation(r *route, roles []string, s *openapi.Schemas, errRef, schemes, verifs *openapi.Obj) *openapi.Obj {
	tag := tags[r.auth]
	if strings.HasPrefix(r.path, "/admin") {
		tag = "operator's console"
	}
	o := openapi.O("operationId", operationID(r.method, r.path), "summary", r.summary)
	if r.about != "" {
		o.Set("description", r.about)
	}
	o.Set("tags", []any{tag})

	// Who may call it.
	if sc, ok := securitySchemes[r.auth]; ok {
		name := sc[0].(string)
		schemes.Set(name, sc[1])
		scopes := []any{}
		for _, role := range roles {
			scopes = append(scopes, role) // OpenAPI 3.1: the role names a bearer token needs
		}
		req := openapi.O(name, scopes)
		if r.auth == authUser {
			schemes.Set("wxSource", openapi.O("type", "apiKey", "in", "header", "name", "X-WX-SOURCE",
				"description", "Set by Cloud Hosting on calls that came through WeChat; required unless REQUIRE_WX_SOURCE=false."))
			req.Set("wxSource", []any{})
		}
		o.Set("security", []any{req})
	} else {
		o.Set("security", []any{})
	}
	if v, ok := verifications[r.auth]; ok {
		verifs.Set(v[0], openapi.O("description", v[1]))
		o.Set("x-cloudpay-verification", v[0])
	}

	// Parameters: the path's, then the query's and headers.
	var params []any
	for _, seg := range strings.Split(r.path, "/") {
		if !strings.HasPrefix(seg, ":") {
			continue
		}
		name := seg[1:]
		p := openapi.O("name", name, "in", "path", "required", true, "schema", pathSchema(name))
		if d := r.pathDocs[name]; d != "" {
			p.Set("description", d)
		}
		params = append(params, exampled(p, name, r.examples))
	}
	ps := r.params
	if r.auth == authLink {
		ps = append([]param{{name: "exp", in: "query", about: "the link's expiry, unix seconds", schema: openapi.O("type", "string", "pattern", "^[0-9]+$"), required: true},
			{name: "sig", in: "query", about: "the link's signature", schema: str(), required: true}}, ps...)
	}
	if r.auth == authV3 {
		for _, h := range []string{"Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial"} {
			ps = append(ps, param{name: h, in: "header", schema: str(), required: true})
		}
	}
	for _, pp := range ps {
		p := openapi.O("name", pp.name, "in", pp.in)
		if pp.about != "" {
			p.Set("description", pp.about)
		}
		if pp.required {
			p.Set("required", true)
		}
		p.Set("schema", pp.schema)
		params = append(params, exampled(p, pp.name, r.examples))
	}
	if len(params) > 0 {
		o.Set("parameters", params)
	}

	// The request body.
	switch {
	case r.body != nil && r.body.NumField() == 0:
		o.Set("requestBody", openapi.O("description", "none, or an empty JSON object", "required", false,
			"content", openapi.O("application/json", openapi.O("schema", openapi.O("type", "object", "maxProperties", 0)))))
	case r.body != nil:
		media := openapi.O("schema", s.Ref(r.body, openapi.Request))
		if exs := bodyExamples(r.examples); exs.Len() > 0 {
			media.Set("examples", exs)
		}
		o.Set("requestBody", openapi.O("required", !r.bodyOptional, "content", openapi.O("application/json", media)))
	case r.auth == authCloudHosting || r.auth == authV3 || r.auth == authAlipay:
		ct, schema := "application/json", cloudHostingPay
		switch {
		case r.path == "/callbacks/refund":
			schema = cloudHostingRefund
		case r.auth == authV3:
			schema = v3Notification
		case r.auth == authAlipay:
			ct, schema = "application/x-www-form-urlencoded", alipayForm
		}
		media := openapi.O("schema", schema)
		if exs := bodyExamples(r.examples); exs.Len() > 0 {
			media.Set("examples", exs)
		}
		o.Set("requestBody", openapi.O("required", true, "content", openapi.O(ct, media)))
	}

	// Answers: the route's own, then its errors by status.
	responses := openapi.O()
	for _, a := range r.answers {
		key := strconv.Itoa(a.status)
		resp := responses.Child(key)
		if a.view == nil && a.schema == nil && a.status >= 400 {
			continue // an error status: filled from the codes below
		}
		if d, _ := resp.Get("description"); d != nil {
			resp.Set("description", d.(string)+"; or "+a.about)
		} else {
			resp.Set("description", a.about)
		}
		if a.headers != nil {
			resp.Set("headers", a.headers)
		}
		if a.view == nil && a.schema == nil {
			continue
		}
		ct := a.contentType
		if ct == "" {
			ct = "application/json"
		}
		schema := a.schema
		if schema == nil {
			schema = s.Of(reflect.TypeOf(a.view), openapi.Response, false)
		}
		content := resp.Child("content")
		if prev, ok := content.Get(ct); ok {
			// Two bodies under one status: either.
			prevSchema, _ := prev.(*openapi.Obj).Get("schema")
			prev.(*openapi.Obj).Set("schema", openapi.O("oneOf", []any{prevSchema, schema}))
		} else {
			content.Set(ct, openapi.O("schema", schema))
		}
		addAnswerExamples(content.Child(ct), a.status, r.examples)
	}
	for _, status := range sortedStatuses(errorCodes(r)) {
		codes := errorCodes(r)[status]
		key := strconv.Itoa(status)
		resp := responses.Child(key)
		list := make([]any, len(codes))
		names := make([]string, len(codes))
		for i, c := range codes {
			list[i], names[i] = string(c), string(c)
		}
		desc := strings.Join(names, ", ")
		if d, ok := resp.Get("description"); ok && d != "" {
			desc = d.(string) + "; or " + desc
		}
		resp.Set("description", desc)
		if status == http.StatusServiceUnavailable {
			resp.Set("headers", openapi.O("Retry-After", openapi.O("description", "seconds to wait before sending the same request again", "schema", openapi.O("type", "integer"))))
		}
		schema := openapi.O("allOf", []any{errRef, openapi.O("properties", openapi.O("error", openapi.O("properties", openapi.O("code", openapi.O("enum", list)))))})
		content := resp.Child("content")
		if prev, ok := content.Get("application/json"); ok {
			prevSchema, _ := prev.(*openapi.Obj).Get("schema")
			prev.(*openapi.Obj).Set("schema", openapi.O("oneOf", []any{prevSchema, schema}))
		} else {
			content.Set("application/json", openapi.O("schema", schema))
		}
		addAnswerExamples(content.Child("application/json"), status, r.examples)
	}
	o.Set("responses", sortResponses(responses))

	// The examples: which request answers which status.
	if len(r.examples) > 0 {
		var list []any
		for _, e := range r.examples {
			list = append(list, openapi.O("name", e.name, "summary", e.summary, "status", e.status))
		}
		o.Set("x-cloudpay-examples", list)
	}
	return o
}

func pathSchema(name string) *openapi.Obj {
	switch name {
	case "out_trade_no":
		return openapi.O("type", "string", "pattern", `^[0-9A-Za-z_\-|*]{6,32}$`)
	case "out_refund_no":
		return openapi.O("type", "string", "pattern", `^[0-9A-Za-z_\-|*@]{1,64}$`)
	case "openid":
		return openapi.O("type", "string", "pattern", `^[0-9A-Za-z_\-]{1,128}$`)
	case "date":
		return openapi.O("type", "string", "format", "date")
	}
	return str()
}

// exampled adds the examples that set a parameter to it.
func exampled(p *openapi.Obj, name string, exs []example) *openapi.Obj {
	out := openapi.O()
	for _, e := range exs {
		if v, ok := e.params[name]; ok {
			out.Set(e.name, openapi.O("value", v))
		}
	}
	if out.Len() > 0 {
		p.Set("examples", out)
	}
	return p
}

func bodyExamples(exs []example) *openapi.Obj {
	out := openapi.O()
	for _, e := range exs {
		if e.body != nil {
			out.Set(e.name, openapi.O("summary", e.summary, "value", e.body))
		}
	}
	return out
}

func addAnswerExamples(media *openapi.Obj, status int, exs []example) {
	out := openapi.O()
	for _, e := range exs {
		if e.status == status && e.answer != nil {
			out.Set(e.name, openapi.O("summary", e.summary, "value", e.answer))
		}
	}
	if out.Len() > 0 {
		media.Set("examples", out)
	}
}

// errorCodes are the codes a route can answer, by status (the one
// table): its own, and those its auth, body and query imply.
func errorCodes(r *route) map[int][]cloudpay.Code {
	var codes []cloudpay.Code
	switch r.auth {
	case authAdmin:
		codes = append(codes, cloudpay.CodeUnauthorized, cloudpay.CodeForbiddenRole)
	case authJob:
		codes = append(codes, cloudpay.CodeUnauthorized)
	case authUser:
		codes = append(codes, cloudpay.CodeOpenIDRequired, cloudpay.CodeUnauthorized)
	case authCloudHosting, authV3, authAlipay, authLink:
		// Their own answers (a callback protocol, a page) say it all,
		// but for the routes' own codes below.
		codes = append(codes, r.codes...)
		if r.auth == authLink && len(r.codes) > 0 {
			codes = append(codes, cloudpay.CodeStoreBusy, cloudpay.CodeWeChatError, cloudpay.CodeWeChatTimeout, cloudpay.CodeInternal)
		}
		if (r.auth == authCloudHosting || r.auth == authAlipay) && r.answerAt(http.StatusNotFound) {
			codes = append(codes, cloudpay.CodeNotFound)
		}
		return byStatus(codes)
	}
	if r.body != nil {
		codes = append(codes, cloudpay.CodeInvalidJSON, cloudpay.CodeUnknownField, cloudpay.CodeBodyTooLarge)
		if r.body.NumField() > 0 {
			codes = append(codes, cloudpay.CodeInvalidField)
		}
	}
	for _, p := range r.params {
		if p.in == "query" {
			codes = append(codes, cloudpay.CodeUnknownField, cloudpay.CodeInvalidField)
			break
		}
	}
	if len(r.pathDocs) > 0 && r.store {
		codes = append(codes, cloudpay.CodeInvalidField)
	}
	codes = append(codes, r.codes...)
	if r.wechat {
		codes = append(codes, cloudpay.CodeWeChatError, cloudpay.CodeWeChatTimeout)
	}
	if r.store || r.wechat {
		codes = append(codes, cloudpay.CodeStoreBusy, cloudpay.CodeInternal)
	}
	return byStatus(codes)
}

func (r *route) answerAt(status int) bool {
	return slices.ContainsFunc(r.answers, func(a answer) bool { return a.status == status })
}

func byStatus(codes []cloudpay.Code) map[int][]cloudpay.Code {
	out := map[int][]cloudpay.Code{}
	for _, c := range codes {
		st := Status(c)
		if _, known := statuses[c]; !known {
			panic(fmt.Sprintf("openapi: code %s is not in the code→status table", c))
		}
		if !slices.Contains(out[st], c) {
			out[st] = append(out[st], c)
		}
	}
	return out
}

func sortedStatuses(m map[int][]cloudpay.Code) []int {
	out := make([]int, 0, len(m))
	for st := range m {
		out = append(out, st)
	}
	sort.Ints(out)
	return out
}

// sortResponses puts the statuses in numeric order.
func sortResponses(r *openapi.Obj) *openapi.Obj {
	keys := r.Keys()
	sort.Strings(keys)
	out := openapi.O()
	for _, k := range keys {
		v, _ := r.Get(k)
		out.Set(k, v)
	}
	return out
}
