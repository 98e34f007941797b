// Package alipaysim plays Alipay (支付宝开放平台), statefully, for local development and for
// tests that call it over real HTTP: the Alipay twin of wechatsim. It serves the OpenAPI
// gateway (GatewayPath, form POST or GET query, public-key mode, RSA2) closely enough that
// the unmodified github.com/smartwalle/alipay/v3 SDK (v3.2.31) verifies every answer:
//
//   - alipay.trade.precreate (当面付 扫码: a qr_code https://qr.alipay.com/bax…),
//     alipay.trade.query, alipay.trade.close, alipay.trade.refund and
//     alipay.trade.fastpay.refund.query answer {"<method>_response":{…},"sign":"…"}, the
//     sign over the exact bytes of the inner object, as Alipay answers (gateway.go);
//   - alipay.trade.wap.pay (手机网站支付), which the SDK turns into a URL to the gateway, is a
//     small cashier page (no external assets) whose 付款 button pays the trade and
//     redirects to return_url with Alipay's signed synchronous-return parameters
//     (cashier.go);
//   - a paid trade's asynchronous notification (异步通知, trade_status_sync) is a signed
//     form POST to notify_url, acknowledged only by the reply body "success" and otherwise
//     redelivered on Alipay's ladder (notify.go);
//   - alipay.data.dataservice.bill.downloadurl.query answers a link, valid 30 seconds, to
//     the day's trade bill (业务明细 ZIP) made of the simulator's own trades and refunds,
//     which plants can make disagree with them for reconciliation tests (bill.go).
//
// The gateway checks what Alipay checks before any business rule: the app_id, the
// request signature (RSA2 over the sorted parameters), the public parameters and
// biz_content; those refusals are Alipay's unsigned 4000x answers. The business rules
// (trade.go, refund.go) answer the documented ACQ.* codes, signed. Every rule cites the
// page it comes from; docs/alipay-simulator.md lists what is simulated, what was chosen
// where the documentation is silent, and the known differences.
//
// A precreated or WAP trade does not exist at Alipay until the user scans the code (or
// opens the cashier and logs in): query, close and refund answer ACQ.TRADE_NOT_EXIST
// until Scan or Pay. Money is kept in fen (int64); the yuan strings of the protocol are
// parsed and formatted exactly, never through a float (money.go).
//
// Control routes (see Handler) under ControlPrefix act as the user (scan, pay), replay
// and forge notifications, inject faults and show what reached "Alipay": its trades,
// refunds, received calls and notification attempts.
//
// The simulator keeps its state in memory only.
package alipaysim

import (
	"context"
	"crypto/rsa"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// GatewayPath is where the OpenAPI gateway is served, at the root of the simulator, as
// https://openapi.alipay.com/gateway.do serves it. Give the SDK srv.URL+GatewayPath
// (alipay.WithProductionGateway, or WithSandboxGateway for a sandbox client).
const GatewayPath = "/gateway.do"

// ControlPrefix is where the simulator's own routes live.
const ControlPrefix = "/sim/alipay"

// The gateway methods the simulator serves.
const (
	MethodPrecreate   = "alipay.trade.precreate"
	MethodWapPay      = "alipay.trade.wap.pay"
	MethodQuery       = "alipay.trade.query"
	MethodClose       = "alipay.trade.close"
	MethodRefund      = "alipay.trade.refund"
	MethodRefundQuery = "alipay.trade.fastpay.refund.query"
	// MethodBillDownloadURL is 查询对账单下载地址 (bill.go).
	MethodBillDownloadURL = "alipay.data.dataservice.bill.downloadurl.query"
)

// Trade statuses (trade_status), https://opendocs.alipay.com/open/02ekfh: WAIT_BUYER_PAY
// 交易创建，等待买家付款; TRADE_CLOSED 未付款交易超时关闭，或支付完成后全额退款; TRADE_SUCCESS
// 交易支付成功; TRADE_FINISHED 交易结束，不可退款 (never reached here: see the doc file).
const (
	StatusWaitBuyerPay = "WAIT_BUYER_PAY"
	StatusClosed       = "TRADE_CLOSED"
	StatusSuccess      = "TRADE_SUCCESS"
	StatusFinished     = "TRADE_FINISHED"
)

// How a trade was created (Trade.Method).
const (
	TradeMethodPrecreate = "precreate"
	TradeMethodWap       = "wap"
)

// Config configures a Simulator. Zero values get the defaults.
type Config struct {
	// AppID is the only application the gateway knows (default DevAppID); SellerID is
	// its merchant's Alipay user id, every trade's seller_id (default DevSellerID).
	AppID, SellerID string
	// AppPublicKey verifies the merchant's request signatures; default DevAppPublicKeyPEM.
	AppPublicKey *rsa.PublicKey
	// AlipayKey signs responses, notifications and return URLs; default
	// DevAlipayPrivateKeyPEM.
	AlipayKey *rsa.PrivateKey
	// RetryDelays is the notification redelivery schedule after a failed attempt. nil
	// means Alipay's 4m,10m,10m,1h,2h,6h,15h ("25小时以内完成8次通知（通知的间隔频率一般是：
	// 4m,10m,10m,1h,2h,6h,15h）", https://opendocs.alipay.com/open/203/105286); an empty
	// non-nil slice means no redelivery.
	RetryDelays []time.Duration
	// HTTPClient delivers notifications; default a client with a 5 s timeout.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Simulator is a stateful Alipay simulator. It is safe for concurrent use.
type Simulator struct {
	cfg     Config
	loc     *time.Location
	handler http.Handler
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu         sync.Mutex
	closed     bool
	trades     map[string]*trade // by out_trade_no
	byTradeNo  map[string]*trade // by trade_no, once scanned
	calls      []Call
	deliveries []Delivery
	faults     []*Fault
	bills      billState
}

// Error is what the Go control methods return; the control routes render it as
// {"error":{"code":…, "message":…}} with Status.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New returns a Simulator. Call Close when done to stop background redeliveries.
func New(cfg Config) *Simulator {
	if cfg.AppID == "" {
		cfg.AppID = DevAppID
	}
	if cfg.SellerID == "" {
		cfg.SellerID = DevSellerID
	}
	if cfg.AppPublicKey == nil || cfg.AlipayKey == nil {
		keys := loadDevKeys()
		if cfg.AppPublicKey == nil {
			cfg.AppPublicKey = keys.appPub
		}
		if cfg.AlipayKey == nil {
			cfg.AlipayKey = keys.alipay
		}
	}
	if cfg.RetryDelays == nil {
		cfg.RetryDelays = []time.Duration{4 * time.Minute, 10 * time.Minute, 10 * time.Minute,
			time.Hour, 2 * time.Hour, 6 * time.Hour, 15 * time.Hour}
	} else {
		cfg.RetryDelays = append([]time.Duration{}, cfg.RetryDelays...)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Simulator{
		cfg:       cfg,
		loc:       time.FixedZone("CST", 8*3600), // Beijing time; Asia/Shanghai has no DST
		ctx:       ctx,
		cancel:    cancel,
		trades:    map[string]*trade{},
		byTradeNo: map[string]*trade{},
	}
	s.handler = s.routes()
	return s
}

// Handler serves, rooted at "/":
//
// Alipay: GatewayPath, POST (form) or GET (query), for the methods Method*; GET
// BillFilePath, at the root or under any prefix (the bill links the gateway hands out
// point under the prefix the gateway was reached at), serves a bill's ZIP.
//
// Control (JSON unless told): POST ControlPrefix+"/scan" and "/pay" {"out_trade_no"} act
// as the user DevBuyerID; GET "/trades/{out_trade_no}"; GET "/refunds?out_trade_no=";
// POST "/notify" {"out_trade_no"} sends the trade's notification again; POST "/forge"
// (ForgeRequest) sends a forged one; POST, GET, DELETE "/faults"; GET "/calls?method=";
// GET "/notifications?out_trade_no="; POST "/cashier/pay" (form out_trade_no: the
// cashier page's 付款 button; 302 to return_url); POST "/bills/plant" (BillPlant), GET
// and DELETE "/bills/plants"; GET "/bills/{yyyy-MM-dd}" (the day's bill detail as
// UTF-8 text, whatever the hour).
func (s *Simulator) Handler() http.Handler { return s.handler }

// Close stops background redeliveries and forged sends and waits for them. Replies held
// by a timeout fault are released. Close is idempotent.
func (s *Simulator) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// spawn runs f in a goroutine that Close waits for; after Close it does nothing.
func (s *Simulator) spawn(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

func (s *Simulator) now() time.Time { return s.cfg.Now() }

// alipayTime formats t as Alipay's "yyyy-MM-dd HH:mm:ss" in Beijing time (gmt_payment,
// notify_time, timestamp, gmt_refund_pay…).
func (s *Simulator) alipayTime(t time.Time) string {
	return t.In(s.loc).Format(time.DateTime)
}

// sleep waits d or until ctx ends; it reports whether the full delay passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

const (
	digits   = "0123456789"
	lowerNum = "abcdefghijklmnopqrstuvwxyz0123456789"
	hexLow   = "0123456789abcdef"
)

func randString(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// newTradeNoLocked returns a 28-digit trade_no shaped like Alipay's
// (2016071921001003030200089909: the Beijing date, then digits), unique here.
func (s *Simulator) newTradeNoLocked(now time.Time) string {
	for {
		no := now.In(s.loc).Format("20060102") + "22001" + randString(digits, 15)
		if _, used := s.byTradeNo[no]; !used {
			return no
		}
	}
}

// newQRCode returns a qr_code shaped like Alipay's
// (https://qr.alipay.com/bax00022tldi82dwzbvp6013).
func newQRCode() string { return "https://qr.alipay.com/bax0" + randString(lowerNum, 20) }

// newNotifyID returns a notify_id shaped like Alipay's (34 characters,
// ac05099524730693a8b330c45cf72da943).
func newNotifyID() string { return randString(hexLow, 32) + randString(lowerNum, 2) }

func notFound(what, id string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: fmt.Sprintf("%s %s does not exist at Alipay", what, id)}
}

func badField(field, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "INVALID_FIELD", Message: field + ": " + msg}
}
